"""The assistant's `function` tools, offered to the model through livekit and run over HTTP.

`build_function_tools` turns every `{"type": "function"}` entry of the assistant into a livekit
raw-schema tool (the JSON Schema goes to the model exactly as the backend wrote it) backed by
an :class:`~agent.call.tools.http_function.HttpFunction`. What the framework does around a tool,
read
off livekit-agents 1.8.9 (``voice/generation.py``, ``voice/tool_executor.py``,
``voice/agent_activity.py``), and what this module adds:

- Concurrency: every tool call of one model response gets its own task
  (``_execute_tools_task`` creates one per call and gathers them), so two calls in one turn
  post two requests at once; each carries its own one-entry ``toolCallList``.
- Interruption: the framework does *not* cancel a tool when the caller barges in. It waits
  for it (``cancel_and_wait`` on the tools task gathers the running tools first) and only after
  ``INTERRUPTION_TIMEOUT`` (5 s) releases it to finish in the background. A caller who speaks
  over a slow backend would wait those seconds for an answer nobody wants any more, so each
  call here also watches its ``RunContext.speech_handle`` and abandons the request the moment
  the speech is interrupted.
- Call end: closing the session drains tools without ``ToolFlag.CANCELLABLE`` by *awaiting*
  them (that flag would also hand the model two extra tools, so it is not set), so a hang-up
  during a 20 s request would hold the report back. :meth:`FunctionTools.cancel_pending`, run
  before the session closes, abandons every request in flight instead.
- Silence: the executor emits ``tool_execution_updated`` (ToolCallStarted/ToolCallEnded) for
  these tools like any other; the lifecycle binding pauses the silence timer on them.
- Record: the framework reports a call's items in ``function_tools_executed`` (after the spoken
  reply, so the report reads text, then tool). Its output text loses the parsed result and its
  timing is the executor's; :meth:`FunctionTools.finish_in` puts the outcome measured here
  (parsed result, error, ``tool_ms``) into the record first, and calls the framework never
  reported (cancelled at call end) are added by :meth:`FunctionTools.record_unreported`.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from livekit.agents import llm
from livekit.agents.voice import RunContext, SpeechHandle

from agent.call.tools.http_function import HttpFunction, ToolOutcome
from agent.call.tools.tool_server import ToolServerClient
from agent.clock import REAL_TIME, Clock, TimeBase
from agent.contracts.tool_definitions import FunctionTool
from agent.delivery.call_events import CallEvents
from agent.delivery.http_post import SessionFactory, default_session
from agent.delivery.target_policy import TargetPolicy
from agent.intake.dispatch import CallSpec
from agent.report.record import CallRecord


class FunctionTools:
    """One call's HTTP function tools, the client they share, and their outcomes."""

    def __init__(self, functions: list[HttpFunction], client: ToolServerClient) -> None:
        self.functions = functions
        self._client = client
        self._call_over: asyncio.Future[None] | None = None
        self.outcomes: dict[str, ToolOutcome] = {}
        """Every finished call by id, in the order they finished."""
        self._recorded: set[str] = set()
        self.tools: list[llm.Tool] = [self._livekit_tool(fn) for fn in functions]
        """What the agent offers the model."""

    def _call_over_future(self) -> asyncio.Future[None]:
        if self._call_over is None:
            self._call_over = asyncio.get_running_loop().create_future()
        return self._call_over

    async def run(
        self,
        fn: HttpFunction,
        call_id: str,
        arguments: dict[str, Any] | str,
        context: RunContext[Any],
    ) -> ToolOutcome:
        """Invoke ``fn`` for the framework, with the caller's interruption and the call's end
        as reasons to abandon the request."""
        call_over = self._call_over_future()
        if call_over.done():
            return self._keep(
                await fn.invoke(call_id, arguments, say=lambda _t: None, stops=[call_over])
            )
        handle, session = context.speech_handle, context.session
        interrupted = asyncio.ensure_future(_interruption(handle))

        def say(text: str) -> None:
            if not handle.interrupted:  # the caller is talking: no "one moment" over them
                session.say(text, allow_interruptions=True, add_to_chat_ctx=True)

        try:
            return self._keep(
                await fn.invoke(call_id, arguments, say=say, stops=[interrupted, call_over])
            )
        except asyncio.CancelledError:
            # Cancelled by the framework (session closing): the record still gets the call.
            self._keep(_cancelled(fn, call_id, arguments))
            raise
        finally:
            interrupted.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await interrupted

    def _keep(self, outcome: ToolOutcome) -> ToolOutcome:
        self.outcomes[outcome.call_id] = outcome
        return outcome

    def _livekit_tool(self, fn: HttpFunction) -> llm.Tool:
        async def call_tool(raw_arguments: dict[str, object], context: RunContext[Any]) -> str:
            outcome = await self.run(
                fn, context.function_call.call_id, dict(raw_arguments), context
            )
            if not outcome.ok:
                raise llm.ToolError(outcome.for_llm())
            return outcome.for_llm()

        return llm.function_tool(call_tool, raw_schema=fn.raw_schema)

    # -- the call's end and its record --------------------------------------------------------

    def cancel_pending(self) -> None:
        """The call is over: abandon every request in flight (and refuse new ones)."""
        call_over = self._call_over_future()
        if not call_over.done():
            call_over.set_result(None)

    def finish_in(self, record: CallRecord, call_id: str) -> bool:
        """Record the outcome of ``call_id`` (an HTTP tool's) with its measured figures;
        False when it is not one of these tools' calls."""
        outcome = self.outcomes.get(call_id)
        if outcome is None:
            return False
        record.add_tool_call(outcome.call_id, outcome.name, outcome.arguments, at=outcome.called_at)
        record.finish_tool_call(
            outcome.call_id,
            result=outcome.result,
            error=outcome.error,
            tool_ms=outcome.tool_ms,
            at=outcome.finished_at,
        )
        self._recorded.add(call_id)
        return True

    def record_unreported(self, record: CallRecord) -> None:
        """Record the calls the framework never reported (abandoned as the call ended)."""
        for call_id in list(self.outcomes):
            if call_id not in self._recorded:
                self.finish_in(record, call_id)

    async def aclose(self) -> None:
        self.cancel_pending()
        await self._client.aclose()


async def _interruption(handle: SpeechHandle) -> None:
    """Returns once ``handle`` is interrupted (at once if it already was)."""
    if handle.interrupted:
        return
    forever: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    try:
        await handle.wait_if_not_interrupted([forever])
    finally:
        forever.cancel()


def _cancelled(fn: HttpFunction, call_id: str, arguments: dict[str, Any] | str) -> ToolOutcome:
    now = fn.time_base.wall()
    return ToolOutcome(
        call_id=call_id,
        name=fn.name,
        arguments=arguments,
        status="cancelled",
        error="cancelled: the call ended before the tool server answered",
        called_at=now,
        finished_at=now,
    )


def function_tool_configs(spec: CallSpec) -> list[FunctionTool]:
    return [tool for tool in spec.assistant.tools if isinstance(tool, FunctionTool)]


def build_function_tools(
    spec: CallSpec,
    *,
    events: CallEvents,
    policy: TargetPolicy,
    session_factory: SessionFactory = default_session,
    clock: Clock | None = None,
    time_base: TimeBase = REAL_TIME,
) -> FunctionTools:
    """The assistant's `function` tools for one call. ``policy`` is the SSRF policy of the
    worker (``TargetPolicy(settings.allowed_targets)``; the simulator allows loopback).
    ``.tools`` go to the agent; ``aclose()`` when the call is over."""
    assistant = spec.assistant
    client = ToolServerClient(policy, session_factory=session_factory)
    webhook_url = str(assistant.webhook_url) if assistant.webhook_url else None
    functions = [
        HttpFunction(
            tool,
            events=events,
            client=client,
            webhook_url=webhook_url,
            clock=clock,
            time_base=time_base,
            log_arguments=not assistant.gdpr_mode,
        )
        for tool in function_tool_configs(spec)
    ]
    return FunctionTools(functions, client)
