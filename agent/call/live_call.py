"""LiveCall: one call, from the agent going live to its report handed to the sinks.

Production (`job.py`, in a LiveKit room) and the simulator (offline providers, simulated audio)
both run calls through this class, so what the simulator tests is what production does:

    session events --> CallLifecycle (limits, silence, ending: exactly one EndReason)
                   --> CallRecord (transcript, tools, latency, usage)
                   --> CallEvents (status-update, transcript) --> sink
    ended          --> session closed --> analysis --> end-of-call report --> sink, flushed

Delivery never blocks the audio path: events are enqueued and the sinks deliver on their own
tasks. The report is emitted with a delivery id derived from the call id, so the main process's
crash report (call_ledger.py) and this one can never both count.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import structlog
from livekit.agents import AgentSession, llm, stt, tts, vad
from livekit.agents.voice import events as lk_events

from agent.call.lifecycle.binding import SessionActions, bind_room, bind_session
from agent.call.lifecycle.call import CallLifecycle
from agent.call.lifecycle.ending import CallEnd
from agent.call.lifecycle.settings import LifecycleSettings
from agent.call.session import CallAgent, GreetingAudio, build_session
from agent.call.tools import build_function_tools
from agent.clock import Clock, RealClock
from agent.contracts.end_reason import EndReason
from agent.contracts.events import (
    Analysis,
    AnalysisPart,
    AnalysisParts,
    CallEvents,
    EndOfCallReport,
)
from agent.delivery.base import EventSink
from agent.delivery.target_policy import TargetPolicy
from agent.intake.dispatch import CallSpec
from agent.report.analysis import analyse_call
from agent.report.build import build_call_report
from agent.report.record import CallRecord
from agent.worker import metrics

log = structlog.get_logger(__name__)

SESSION_CLOSE_SECONDS = 10.0
"""Longest the end of a call waits for the framework to close the session (tools, playout)."""

REPORT_FLUSH_SECONDS = 60.0
"""How long the report may take to reach its sinks before it is parked in the outbox."""

SHUTDOWN_FLUSH_SECONDS = 20.0
"""The same when the worker is stopping: what is not delivered by then waits in the outbox
(a volume that outlives the pod) instead of holding the pod past its grace period."""

_ERROR_DETAIL_LIMIT = 300


class LiveCall:
    """Everything one call owns. `run()` returns the end-of-call report that was sent."""

    def __init__(
        self,
        spec: CallSpec,
        *,
        stt_engine: stt.STT[Any],
        llm_engine: llm.LLM[Any],
        tts_engine: tts.TTS[Any],
        vad_engine: vad.VAD,
        sink: EventSink,
        default_secret: str | None = None,
        analysis_llm: llm.LLM[Any] | None = None,
        analyse: bool = True,
        clock: Clock | None = None,
        extra_tools: Sequence[llm.Tool] = (),
        greeting_audio: GreetingAudio | None = None,
        hang_up: Callable[[], None] | None = None,
        close_transcript_timeout: float = 2.0,
        aec_warmup: bool = True,
        tool_policy: TargetPolicy | None = None,
    ) -> None:
        self.spec = spec
        assistant = spec.assistant
        self.session: AgentSession[Any] = build_session(
            spec,
            stt_engine=stt_engine,
            llm_engine=llm_engine,
            tts_engine=tts_engine,
            vad_engine=vad_engine,
            close_transcript_timeout=close_transcript_timeout,
            aec_warmup=aec_warmup,
        )
        self.record = CallRecord(call_id=spec.call_id, llm_model=assistant.llm_config.model)
        if spec.call.customer and spec.call.customer.number:
            self.record.set_numbers(caller=spec.call.customer.number)
        self.events = CallEvents.for_call(spec, sink, default_secret=default_secret)
        # `function` tools POST to backends through the SSRF policy: the worker's allowed
        # targets in production, loopback in the simulator, nothing private by default.
        self.function_tools = build_function_tools(
            spec, events=self.events, policy=tool_policy or TargetPolicy(), clock=clock
        )
        self._sink = sink
        self._analysis_llm = analysis_llm or llm_engine
        self._analyse_enabled = analyse
        self._skip_reason = "no analysis model (offline run)"
        self._flush_seconds = REPORT_FLUSH_SECONDS
        self._external_hang_up = hang_up
        self._ended = asyncio.Event()
        self.lifecycle = CallLifecycle(
            clock or RealClock(),
            SessionActions(self.session, hang_up=self._hang_up),
            LifecycleSettings.model_validate(assistant.model_dump()),
        )
        self.lifecycle.add_ended_listener(self._on_ended)
        tools: list[llm.Tool] = [*extra_tools, *self.function_tools.tools]
        if assistant.end_call_enabled:
            tools.append(self._end_call_tool())
        self.agent = CallAgent(assistant, tools=tools, greeting_audio=greeting_audio)
        self._unbind: list[Callable[[], None]] = []
        self.report: EndOfCallReport | None = None
        self._counted_live = False

    # -- wiring -------------------------------------------------------------------------------

    def _end_call_tool(self) -> llm.Tool:
        lifecycle, message = self.lifecycle, self.spec.assistant.end_call_message

        @llm.function_tool(
            name="end_call",
            description=(
                "End the call. Use it when the caller says goodbye or the conversation is "
                "complete. The closing line is spoken for you; do not say goodbye yourself."
            ),
        )
        async def end_call() -> None:
            lifecycle.request_end(EndReason.AGENT_HANGUP, "end_call_tool", goodbye=message)
            # No LLM reply after the goodbye: the lifecycle speaks end_call_message itself.
            raise llm.StopResponse()

        return end_call

    def _bind_record(self) -> None:
        session, record, events = self.session, self.record, self.events
        function_tools = self.function_tools

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
                            record.offset(item.created_at),
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

        self._unbind.append(unbind)

    def _bind_provider_failures(self) -> None:
        """End the call with ``error`` on the first provider failure the framework gave up on.

        The framework retries a failing STT/LLM/TTS request (``conn_options.max_retry``) and
        then reports it as unrecoverable, but keeps the session open until
        ``max_unrecoverable_errors`` (3) more have followed, counting back to zero whenever
        the agent speaks. A silence prompt is speech, so with the LLM down the call never
        closed: the caller heard nothing, then "you've stepped away", and the report said
        silence_timeout. The retries are the recovery; once they are spent the call ends."""
        session, lifecycle = self.session, self.lifecycle

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
                goodbye=None if component == "tts" else self.spec.assistant.error_message,
            )

        session.on("error", on_error)
        self._unbind.append(lambda: session.off("error", on_error))

    def _count_provider_errors(self) -> None:
        """`voice_agent_provider_errors`: every error the session reports, by component and the
        provider configured for it (agent/worker/metrics.py)."""
        session, assistant = self.session, self.spec.assistant
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
        self._unbind.append(lambda: session.off("error", on_error))

    def _hang_up(self) -> None:
        self._ended.set()
        if self._external_hang_up is not None:
            self._external_hang_up()

    def _on_ended(self, end: CallEnd) -> None:
        self.record.set_end(
            end.reason,
            end.detail,
            ended_at=end.ended_at,
            duration_seconds=end.duration_seconds,
            started_at=end.started_at,
        )
        self._ended.set()
        # In a job the framework closes the session before `finish()` runs (on_session_end),
        # and that close awaits a running tool: abandon tool requests here, when the call ends,
        # or a caller hanging up during a 20 s request holds the report for those 20 s.
        self.function_tools.cancel_pending()

    # -- running ------------------------------------------------------------------------------

    async def start(self, *, room: Any = None, room_options: Any = None) -> None:
        """Start the session (in `room`, or on I/O already assigned to `session.input/output`)
        and go live: limits start counting and `status-update: in-progress` goes out."""
        self._unbind.append(bind_session(self.lifecycle, self.session))
        self._bind_record()
        self._count_provider_errors()
        self._bind_provider_failures()
        if room is not None:
            self._unbind.append(bind_room(self.lifecycle, room, caller_identity=None))
        kwargs: dict[str, Any] = {"agent": self.agent}
        if room is not None:
            kwargs["room"] = room
        if room_options is not None:
            kwargs["room_options"] = room_options
        await self.session.start(**kwargs)
        self.lifecycle.start()
        self.record.set_start(self.lifecycle.started_at)
        self.events.emit(self.events.status_update("in-progress"))
        metrics.call_went_live(self.spec.call.type.value)
        self._counted_live = True
        log.info("call_live", call_type=self.spec.call.type.value)

    def skip_analysis(self, reason: str) -> None:
        """Report without analysis (a worker shutdown has no time for it)."""
        self._analyse_enabled = False
        self._skip_reason = reason

    def end_for_worker_shutdown(self) -> None:
        """The worker is stopping under this call: end it now (error / worker_shutdown) and
        keep the report inside the pod's exit window (no analysis, a short flush)."""
        self.lifecycle.on_worker_shutdown()
        self.skip_analysis("worker_shutdown")
        self._flush_seconds = SHUTDOWN_FLUSH_SECONDS

    def caller_left(self, reason: str = "CLIENT_INITIATED") -> None:
        """The caller hung up (the room binding calls the lifecycle itself; transports without
        a room, like the simulator, call this)."""
        self.lifecycle.on_participant_left(reason)

    async def wait_ended(self) -> None:
        await self._ended.wait()

    async def finish(self) -> EndOfCallReport:
        """Close the session, analyse, report. Safe to call once the lifecycle has ended."""
        if not self.lifecycle.is_ended:
            # Reached only when something outside the lifecycle stopped the call.
            self.lifecycle.request_end(EndReason.ERROR, "session_closed_unexpectedly")
        if self._counted_live:  # the conversation is over: no longer an active call
            self._counted_live = False
            metrics.call_left(self.spec.call.type.value)
        with contextlib.suppress(Exception):
            self.record.record_session_usage(self.session.usage)
        # Requests still in flight are abandoned: the session's close would wait for them.
        self.function_tools.cancel_pending()
        # A Python tool still running (one the framework waits for) must not hold the report:
        # the call is over, so the close gets SESSION_CLOSE_SECONDS and is then abandoned.
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.session.aclose(), timeout=SESSION_CLOSE_SECONDS)
        self.function_tools.record_unreported(self.record)
        await self.function_tools.aclose()
        for unbind in self._unbind:
            unbind()
        self.events.emit(self.events.status_update("ended"))
        analysis = await self._analyse()
        report = await build_call_report(self.record, self.spec, analysis)
        self.report = report
        self.events.emit_report(report)
        await self.events.drain()
        await self._sink.flush(self.spec.call_id, timeout=self._flush_seconds)
        # The call's metrics and its canonical `call_summary` log line (agent/worker/metrics.py).
        metrics.record_call_end(report, metrics.outcomes_of(self._sink, self.spec.call_id))
        return report

    async def _analyse(self) -> Analysis:
        assistant = self.spec.assistant
        if not self._analyse_enabled:
            # The offline simulator has no model that could judge a call (a scripted line in
            # `summary` would look like a real analysis), and a worker shutdown has no time.
            skipped = AnalysisPart(status="skipped", error=self._skip_reason)
            return Analysis(
                parts=AnalysisParts(
                    summary=skipped, structured_data=skipped, success_evaluation=skipped
                )
            )
        try:
            return await analyse_call(
                assistant.analysis_plan,
                transcript=self.record.transcript_text(),
                user_messages=self.record.user_message_count,
                model=self._analysis_llm,
            )
        except Exception as exc:  # analysis must never cost the report
            log.warning("analysis_failed", error_type=type(exc).__name__)
            return Analysis()

    async def run(self, *, room: Any = None, room_options: Any = None) -> EndOfCallReport:
        try:
            await self.start(room=room, room_options=room_options)
            await self.wait_ended()
        except Exception as exc:
            log.exception("call_failed")
            self.lifecycle.on_error("worker", f"{type(exc).__name__}: {exc}"[:300])
        return await self.finish()

    @property
    def started_at(self) -> datetime:
        return self.lifecycle.started_at
