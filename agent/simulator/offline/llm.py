"""An LLM that answers from a script, so a simulated call needs no model and no account.

Each reply in the script answers one *step* of the conversation: ``{"say": text}`` streams the
text, ``{"tool": {"name": ..., "arguments": {...}}}`` calls a function tool, and a reply may
hold both (said first, as models do: "One moment." then the call). When the script is used
up, or a step has no reply, the answer is :data:`FALLBACK_REPLY` with no tool.

Why steps and not plain request order: with preemptive generation on (the framework default)
the session may ask the LLM on the final transcript, throw that request away because the
caller kept talking, and ask again for the same turn. A step is the conversation's shape when
asked: how many user messages, assistant messages and tool results the chat context holds. A
request with the shape of an earlier request is the same step asked again and gets the same
reply; any new shape takes the next unused reply. In a plain call (no discarded requests) this
is exactly one reply per request, in order.

Timing: the first delta (text or tool call) comes ``llm_ttft_ms`` after the request; after
that one word per delta at ``llm_tokens_per_second``. Usage is estimated at 4 characters a
token for the prompt (every text in the chat context) and the completion.

Failures (``llm_fail``, ``llm_stall`` in :class:`~.failures.OfflineProviders`) are raised as the
framework's API errors from ``_run``, so the framework's retry loop handles them as it handles
the OpenAI plugin's; see :mod:`.failures`.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, Sequence
from typing import Any

from livekit.agents import APIStatusError, APITimeoutError, llm, utils
from livekit.agents.types import (
    DEFAULT_API_CONNECT_OPTIONS,
    NOT_GIVEN,
    APIConnectOptions,
    NotGivenOr,
)
from pydantic import BaseModel, ConfigDict, Field, model_validator

from agent.clock import TimeBase

from ..speed import call_time_base
from .failures import OfflineProviders
from .latencies import OfflineLatencies

FALLBACK_REPLY = "Sorry, could you say that again?"
"""What the offline LLM says once its script is used up."""

_CHARS_PER_TOKEN = 4


class ScriptedToolCall(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)


class ScriptedReply(BaseModel):
    """One scripted LLM answer: something to say, a tool to call, or both."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    say: str | None = None
    tool: ScriptedToolCall | None = None

    @model_validator(mode="after")
    def _says_or_calls(self) -> ScriptedReply:
        if self.say is None and self.tool is None:
            raise ValueError("a scripted reply needs `say`, `tool` or both")
        return self


class LLMRequestRecord(BaseModel):
    """One request the offline LLM answered, kept for assertions and timing reports."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    chat_ctx: llm.ChatContext
    """A copy of the chat context as sent."""
    tool_names: list[str]
    reply: ScriptedReply
    step: int
    """Index of the conversation step; equal for a request asked again."""
    requested_at: float
    """When the session asked (the call's monotonic seconds)."""
    first_delta_at: float | None = None


def _step_shape(chat_ctx: llm.ChatContext) -> tuple[int, int, int]:
    users = assistants = tool_results = 0
    for item in chat_ctx.items:
        if item.type == "message" and item.role == "user":
            users += 1
        elif item.type == "message" and item.role == "assistant":
            assistants += 1
        elif item.type == "function_call_output":
            tool_results += 1
    return users, assistants, tool_results


def _prompt_chars(chat_ctx: llm.ChatContext) -> int:
    chars = 0
    for item in chat_ctx.items:
        if item.type == "message":
            chars += len(item.text_content or "")
        elif item.type == "function_call":
            chars += len(item.arguments)
        elif item.type == "function_call_output":
            chars += len(item.output)
    return chars


class OfflineLLM(llm.LLM[None]):
    """Scripted LLM stand-in; see the module docstring for how replies and timing are chosen."""

    def __init__(
        self,
        replies: Sequence[ScriptedReply | Mapping[str, Any]] = (),
        *,
        latencies: OfflineLatencies | None = None,
        time_base: TimeBase | None = None,
    ) -> None:
        super().__init__()
        self._time = time_base or call_time_base()
        self._replies = [ScriptedReply.model_validate(reply) for reply in replies]
        self._latencies = latencies or OfflineLatencies()
        self._steps: dict[tuple[int, int, int], int] = {}
        self.requests: list[LLMRequestRecord] = []
        """Every request, in the order asked."""

    @property
    def model(self) -> str:
        return "scripted"

    @property
    def provider(self) -> str:
        return "simulator"

    def _reply_for(self, chat_ctx: llm.ChatContext) -> tuple[int, ScriptedReply]:
        step = self._steps.setdefault(_step_shape(chat_ctx), len(self._steps))
        if step < len(self._replies):
            return step, self._replies[step]
        return step, ScriptedReply(say=FALLBACK_REPLY)

    def chat(
        self,
        *,
        chat_ctx: llm.ChatContext,
        tools: list[llm.Tool] | None = None,
        conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS,
        parallel_tool_calls: NotGivenOr[bool] = NOT_GIVEN,
        tool_choice: NotGivenOr[llm.ToolChoice] = NOT_GIVEN,
        extra_kwargs: NotGivenOr[dict[str, Any]] = NOT_GIVEN,
    ) -> OfflineLLMStream:
        step, reply = self._reply_for(chat_ctx)
        if reply.tool is not None and tool_choice == "none":
            # the session forbids tools (max_tool_steps reached): keep only the words
            reply = ScriptedReply(say=reply.say or FALLBACK_REPLY)
        record = LLMRequestRecord(
            chat_ctx=chat_ctx.copy(),
            tool_names=[tool.id for tool in tools or []],
            reply=reply,
            step=step,
            requested_at=self._time.monotonic(),
        )
        self.requests.append(record)
        if isinstance(self._latencies, OfflineProviders):
            conn_options = self._latencies.conn_options(conn_options)
        return OfflineLLMStream(
            self, record=record, chat_ctx=chat_ctx, tools=tools or [], conn_options=conn_options
        )


class OfflineLLMStream(llm.LLMStream):
    def __init__(
        self,
        offline: OfflineLLM,
        *,
        record: LLMRequestRecord,
        chat_ctx: llm.ChatContext,
        tools: list[llm.Tool],
        conn_options: APIConnectOptions,
    ) -> None:
        super().__init__(offline, chat_ctx=chat_ctx, tools=tools, conn_options=conn_options)
        self._record = record
        self._latencies = offline._latencies
        self._time = offline._time

    async def _run(self) -> None:
        request_id = utils.shortuuid("offline_")
        reply = self._record.reply
        latencies = self._latencies
        if isinstance(latencies, OfflineProviders) and latencies.llm_stall:
            # nothing ever arrives: the read timeout gives up, as httpx does for the plugin
            await asyncio.sleep(self._conn_options.timeout)
            raise APITimeoutError("offline LLM stalled (injected)")
        await asyncio.sleep(latencies.llm_ttft_ms / 1000)
        if isinstance(latencies, OfflineProviders) and latencies.llm_fail:
            raise APIStatusError("offline LLM unavailable (injected)", status_code=503)
        self._record.first_delta_at = self._time.monotonic()

        completion_chars = 0
        if reply.say:
            # one word (with its trailing space) per delta: "Sure, " "table " "booked."
            words = reply.say.split(" ")
            interval = 1.0 / self._latencies.llm_tokens_per_second
            for index, word in enumerate(words):
                if index:
                    await asyncio.sleep(interval)
                delta = word if index == len(words) - 1 else word + " "
                completion_chars += len(delta)
                self._send(request_id, llm.ChoiceDelta(role="assistant", content=delta))

        if reply.tool is not None:
            arguments = json.dumps(reply.tool.arguments)
            completion_chars += len(reply.tool.name) + len(arguments)
            call = llm.FunctionToolCall(
                name=reply.tool.name,
                arguments=arguments,
                call_id=f"call_{self._record.step}_{request_id}",
            )
            self._send(request_id, llm.ChoiceDelta(role="assistant", tool_calls=[call]))

        prompt_tokens = _prompt_chars(self._chat_ctx) // _CHARS_PER_TOKEN + 1
        completion_tokens = completion_chars // _CHARS_PER_TOKEN + 1
        self._event_ch.send_nowait(
            llm.ChatChunk(
                id=request_id,
                usage=llm.CompletionUsage(
                    prompt_tokens=prompt_tokens,
                    completion_tokens=completion_tokens,
                    total_tokens=prompt_tokens + completion_tokens,
                ),
            )
        )

    def _send(self, request_id: str, delta: llm.ChoiceDelta) -> None:
        self._event_ch.send_nowait(llm.ChatChunk(id=request_id, delta=delta))
