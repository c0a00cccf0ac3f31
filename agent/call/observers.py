"""Observers of a call's session: what happened goes into the record and out to the backend.

They watch the session's events without sitting in the audio path (each handler is an append,
a counter or an enqueue) and each returns the function that stops watching. ``LiveCall.start``
binds them beside the lifecycle's own binding (agent/call/lifecycle/binding.py):

- :func:`record_conversation`: chat items and tool executions into the call record, and each
  caller or agent line out as a ``transcript`` event;
- :func:`count_provider_errors`: ``voice_agent_provider_errors`` by component and provider;
- :func:`end_on_provider_failure`: the first failure the framework gave up on ends the call.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import structlog
from livekit.agents import AgentSession, llm
from livekit.agents.voice import events as lk_events

from agent.call.lifecycle.call import CallLifecycle
from agent.call.tools import FunctionTools
from agent.contracts.assistant import AssistantConfig
from agent.contracts.end_reason import EndReason
from agent.delivery.call_events import CallEvents
from agent.report.record import CallRecord, seconds_since
from agent.worker import metrics

log = structlog.get_logger(__name__)

Unbind = Callable[[], None]

_ERROR_DETAIL_LIMIT = 300


def record_conversation(
    session: AgentSession[Any],
    record: CallRecord,
    events: CallEvents,
    function_tools: FunctionTools,
    lifecycle: CallLifecycle,
) -> Unbind:
    """Chat items and tool executions into ``record``; caller and agent lines out as
    ``transcript`` events, timed from the call's start (the lifecycle's: the caller's answer)."""

    def on_item(ev: lk_events.ConversationItemAddedEvent) -> None:
        item = ev.item
        if isinstance(item, llm.ChatMessage):
            record.record_chat_item(item)
            text = item.text_content or ""
            if item.role in ("user", "assistant") and text:
                events.emit(
                    events.transcript(
                        "user" if item.role == "user" else "assistant",
                        text,
                        seconds_since(lifecycle.timeline_origin, item.created_at),
                        None,
                    )
                )

    def on_tools(ev: lk_events.FunctionToolsExecutedEvent) -> None:
        for call, output in ev.zipped():
            record.record_chat_item(call)
            # An HTTP tool's outcome as measured (parsed result, error, tool_ms) wins
            # over the framework's output text, which is then a no-op for it.
            function_tools.finish_in(record, call.call_id)
            if output is not None:
                record.record_chat_item(output)

    session.on("conversation_item_added", on_item)
    session.on("function_tools_executed", on_tools)

    def unbind() -> None:
        session.off("conversation_item_added", on_item)
        session.off("function_tools_executed", on_tools)

    return unbind


def end_on_provider_failure(
    session: AgentSession[Any], lifecycle: CallLifecycle, *, goodbye: str | None
) -> Unbind:
    """End the call with ``error`` on the first provider failure the framework gave up on.

    The framework retries a failing STT/LLM/TTS request (``conn_options.max_retry``) and
    then reports it as unrecoverable, but keeps the session open until
    ``max_unrecoverable_errors`` (3) more have followed, counting back to zero whenever
    the agent speaks. A silence prompt is speech, so with the LLM down the call never
    closed: the caller heard nothing, then "you've stepped away", and the report said
    silence_timeout. The retries are the recovery; once they are spent the call ends, with
    ``goodbye`` (the assistant's error_message) unless it is the TTS that failed."""

    def on_error(ev: lk_events.ErrorEvent) -> None:
        error = ev.error
        if getattr(error, "recoverable", True) or lifecycle.is_ending:
            return
        kind = getattr(error, "type", None)
        if isinstance(kind, str) and kind.endswith("_error"):
            component = kind.removesuffix("_error")
        else:
            component = type(ev.source).__name__.lower()
        cause = getattr(error, "error", None)
        detail = f"{type(cause).__name__}: {cause}" if cause is not None else "failed"
        log.warning("provider_failed", component=component, error_type=type(cause).__name__)
        lifecycle.request_end(
            EndReason.ERROR,
            f"{component}: {detail}"[:_ERROR_DETAIL_LIMIT],
            goodbye=None if component == "tts" else goodbye,
        )

    session.on("error", on_error)
    return lambda: session.off("error", on_error)


def count_provider_errors(session: AgentSession[Any], assistant: AssistantConfig) -> Unbind:
    """`voice_agent_provider_errors`: every error the session reports, by component and the
    provider configured for it (agent/worker/metrics.py)."""
    providers = {
        "stt": assistant.stt_config.provider,
        "llm": assistant.llm_config.provider,
        "tts": assistant.tts_config.provider,
    }

    def on_error(ev: lk_events.ErrorEvent) -> None:
        kind = getattr(ev.error, "type", None)
        component = kind.removesuffix("_error") if isinstance(kind, str) else "other"
        recoverable = bool(getattr(ev.error, "recoverable", False))
        metrics.provider_error(
            component, providers.get(component, "unknown"), recoverable=recoverable
        )

    session.on("error", on_error)
    return lambda: session.off("error", on_error)
