"""One `function` tool of the assistant: the model calls it, the backend answers over HTTP.

What happens when the model calls it (the caller is on the line the whole time):

    arguments checked against the JSON Schema --(bad)--> model told what is wrong, nothing sent
    `request_start` spoken (if set)
    signed `tool-calls` event POSTed to server.url (else the assistant's webhook_url)
      after request_delayed_after_seconds (3 s): `request_delayed` spoken (if set)
      after server.timeout_seconds (20 s): request abandoned   --> failure
      non-2xx, refused target, answer over 256 KB, not JSON,
      a key given twice, nested too deeply, no result for this call --> failure
      the caller interrupts / the call ends: request cancelled --> cancelled, nothing spoken
    failure: the model is told why, the caller hears `request_failed` (or FAILED_MESSAGE)
    answer: ``{"results": [{"toolCallId", "result" | "error"}]}`` -> the model reads it

A result carrying ``error`` is the backend's own answer ("no table free on Friday"): the model
is told and words it for the caller; nothing canned is spoken. Both timers run on the injected
:class:`agent.clock.Clock`, so tests drive them on a virtual clock. ``tool_ms`` is measured on
the call's :class:`~agent.clock.TimeBase` (the real clock in production, call time in a sped-up
simulation), from the arguments check to the outcome, and ``server_ms`` (the POST alone) next
to it, so the worker's own overhead is the difference.

This module knows no livekit types: the session glue is :mod:`agent.call.tools.function_tools`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import structlog

from agent.call.tools.schema_check import argument_problems
from agent.call.tools.tool_server import ToolServerClient, ToolServerError
from agent.clock import REAL_TIME, Clock, RealClock, TimeBase
from agent.contracts.encodable import clean_data, clean_text
from agent.contracts.event_body import UnsendableEvent
from agent.contracts.events import ToolCall
from agent.contracts.tool_answer import InvalidToolAnswer, parse_tool_response
from agent.contracts.tool_definitions import FunctionTool
from agent.delivery.call_events import CallEvents

log = structlog.get_logger(__name__)

FAILED_MESSAGE = "Sorry, I couldn't complete that just now."
"""Spoken on a failed tool call when the tool sets no `messages.request_failed`."""

Say = Callable[[str], None]
"""Queue a line for the caller (returns at once; the line plays when the agent may speak)."""

Status = Literal["ok", "error", "invalid_arguments", "failed", "timeout", "cancelled"]
"""``error``: the server answered with an error for this call; ``failed``: the exchange
itself failed (refused target, connection, non-2xx, bad shape)."""


@dataclass(frozen=True, slots=True)
class ToolOutcome:
    """How one tool call ended: what the record keeps and what the model is shown."""

    call_id: str
    name: str
    arguments: dict[str, Any] | str
    status: Status
    result: Any = None
    error: str | None = None
    called_at: float = 0.0
    """Wall-clock epoch seconds when the call started (the call record's time base)."""
    finished_at: float = 0.0
    tool_ms: float = 0.0
    """From the arguments check to the outcome, real time."""
    server_ms: float | None = None
    """The HTTP exchange alone (None when no request went out)."""
    http_status: int | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def for_llm(self) -> str:
        """The tool output the model reads: the result as text, or the error."""
        if self.error is not None:
            return self.error
        if isinstance(self.result, str):
            return self.result
        return json.dumps(self.result, ensure_ascii=False)


class _Stopped(Exception):
    """Why the request was abandoned before its answer (timeout, interruption, call over)."""

    def __init__(self, status: Status, error: str) -> None:
        super().__init__(error)
        self.status: Status = status
        self.error = error


class HttpFunction:
    """A configured `function` tool bound to one call's events, client and clock."""

    def __init__(
        self,
        tool: FunctionTool,
        *,
        events: CallEvents,
        client: ToolServerClient,
        webhook_url: str | None,
        clock: Clock | None = None,
        time_base: TimeBase = REAL_TIME,
        log_arguments: bool = True,
    ) -> None:
        self.tool = tool
        self.name = tool.function.name
        self._events = events
        self._client = client
        server = tool.server
        self._url = str(server.url) if server is not None else webhook_url
        self._secret = (
            server.secret.get_secret_value() if server is not None and server.secret else None
        )
        self._headers = (
            {name: value.get_secret_value() for name, value in server.headers.items()}
            if server is not None
            else {}
        )
        self._timeout = server.timeout_seconds if server is not None else 20.0
        self._clock = clock or RealClock()
        self.time_base = time_base
        """What the outcome's times and ``tool_ms`` are read on (the call record's base)."""
        self._log_arguments = log_arguments

    @property
    def raw_schema(self) -> dict[str, Any]:
        """What the model is offered: OpenAI's function description, parameters as given."""
        function = self.tool.function
        return {
            "name": function.name,
            "description": function.description,
            "parameters": dict(function.parameters),
        }

    async def invoke(
        self,
        call_id: str,
        arguments: dict[str, Any] | str,
        *,
        say: Say,
        stops: Sequence[asyncio.Future[Any]] = (),
    ) -> ToolOutcome:
        """Run the call to its outcome. Any of ``stops`` resolving (the caller interrupted,
        the call ended) abandons the request at once; cancelling this coroutine does the same
        and re-raises. ``stops`` are only watched, never cancelled (they may be shared).
        Never raises for the server's or the network's failures."""
        stamps = self.time_base
        called_at, started = stamps.wall(), stamps.monotonic()
        # The model's arguments are vendor text: a lone surrogate becomes U+FFFD before they
        # are checked, sent or recorded (agent/contracts/encodable.py).
        arguments = clean_data(arguments) if isinstance(arguments, dict) else clean_text(arguments)
        bound = log.bind(tool=self.name, call_id=call_id)
        if self._log_arguments:
            bound.debug("tool_call_started", arguments=arguments)

        def outcome(status: Status, **fields: Any) -> ToolOutcome:
            return ToolOutcome(
                call_id=call_id,
                name=self.name,
                arguments=arguments,
                status=status,
                called_at=called_at,
                finished_at=stamps.wall(),
                tool_ms=round((stamps.monotonic() - started) * 1000, 2),
                **fields,
            )

        problems = argument_problems(arguments, self.tool.function.parameters)
        if problems:
            bound.info("tool_call_refused", problems=len(problems))
            return outcome(
                "invalid_arguments",
                error="invalid arguments, nothing was sent: " + "; ".join(problems),
            )
        messages = self.tool.messages
        if messages.request_start:
            say(messages.request_start)
        delayed = (
            # e.g. request at t=0, "Still checking." at t=3 s if no answer by then
            self._clock.call_later(
                messages.request_delayed_after_seconds,
                lambda: say(messages.request_delayed or ""),
            )
            if messages.request_delayed
            else None
        )
        server_started = stamps.monotonic()
        try:
            status, result, error, http_status = await self._exchange(call_id, arguments, stops)
        except _Stopped as stopped:
            result_outcome = outcome(stopped.status, error=stopped.error)
        else:
            server_ms = round((stamps.monotonic() - server_started) * 1000, 2)
            result_outcome = outcome(
                status, result=result, error=error, server_ms=server_ms, http_status=http_status
            )
        finally:
            if delayed is not None:
                delayed.cancel()
        if result_outcome.status in ("failed", "timeout"):
            say(messages.request_failed or FAILED_MESSAGE)
        bound.info(
            "tool_call_finished",
            status=result_outcome.status,
            http_status=result_outcome.http_status,
            tool_ms=result_outcome.tool_ms,
            server_ms=result_outcome.server_ms,
            reason=result_outcome.error if result_outcome.status != "error" else None,
        )
        return result_outcome

    async def _exchange(
        self, call_id: str, arguments: dict[str, Any] | str, stops: Sequence[asyncio.Future[Any]]
    ) -> tuple[Status, Any, str | None, int | None]:
        """POST the call and read its answer, racing the timeout and ``stops``."""
        event = self._events.tool_calls([ToolCall(id=call_id, name=self.name, arguments=arguments)])
        try:
            delivery = self._events.delivery_for(
                event,
                url=self._url,
                secret=self._secret,
                requires_signature=self._secret is not None,
            )
        except UnsendableEvent as exc:
            return "failed", None, f"failed: {exc}", None
        loop = asyncio.get_running_loop()
        request = loop.create_task(self._client.post(delivery, extra_headers=self._headers))
        deadline: asyncio.Future[None] = loop.create_future()

        def time_up() -> None:
            if not deadline.done():
                deadline.set_result(None)

        timer = self._clock.call_later(self._timeout, time_up)
        try:
            waiting: set[asyncio.Future[Any]] = {request, deadline, *stops}
            await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
        finally:
            # Whatever ended the wait (answer, timeout, stop, or our own cancellation), nothing
            # of this call may outlive it: the request is cancelled and awaited, not orphaned.
            timer.cancel()
            deadline.cancel()
            if not request.done():
                request.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await request
        if request.cancelled():
            if any(stop.done() for stop in stops):
                raise _Stopped(
                    "cancelled",
                    "cancelled: the request was abandoned before the tool server answered "
                    "(the caller interrupted or the call ended); its outcome is unknown",
                )
            raise _Stopped(
                "timeout",
                f"failed: the tool server did not answer within {self._timeout:g} seconds",
            )
        try:
            answer = request.result()
        except ToolServerError as exc:
            return "failed", None, f"failed: {exc.reason}", exc.status
        except Exception as exc:  # an HTTP stack surprise is a failed call, not a dead turn
            return "failed", None, f"failed: unexpected {type(exc).__name__}", None
        try:
            parsed = parse_tool_response(answer.body).result_for(call_id)
        except InvalidToolAnswer as exc:
            return (
                "failed",
                None,
                f"failed: the tool server's answer was refused: {exc}",
                answer.status,
            )
        if parsed is None:
            return (
                "failed",
                None,
                "failed: the tool server's answer has no result for this call "
                '(expected {"results": [{"toolCallId": "' + call_id + '", "result": ...}]})',
                answer.status,
            )
        if parsed.error is not None:
            return "error", None, f"error: {parsed.error}", answer.status
        return "ok", parsed.result, None, answer.status
