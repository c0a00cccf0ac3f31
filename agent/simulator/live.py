"""Run a scenario through the production call path, with a simulated caller.

The call is assembled by the one composition root (:func:`agent.call.assemble.assemble_call`)
and run as the job runs it (``join``, ``converse``, ``finish``); only what production gets from
outside is swapped: the STT/LLM/TTS vendors (offline stand-ins, or the real LLM) and the room
(:class:`~.room.SimulatedCallRoom`: simulated audio, the scenario's caller party, the offline
SIP gateway). The caller joins (and observers come and go) on the scenario's schedule, and the
caller's hang-up or lost connection reaches the lifecycle as a participant leaving, as
``bind_room`` reports it in a room.

Time: the call runs on the running loop's clock (:func:`.speed.call_time_base`): real time on
the default loop, call time on a :class:`~.speed.CallTimeLoop` (``simulate --speed N``, the
test suite). The composition root gets that clock as the call's time base, and the simulated
room, the scripted caller and the offline vendors get it too, so the report, the printed
conversation and the timings are all in call time; only ``wall_seconds`` is the wall's.

The scripted caller (its pacing, and what it measures) is :mod:`.scripted_caller`. The result
carries the call's timings (greeting, and each caller line's turn with its waterfall,
:mod:`.timings`) for ``python -m agent bench``, and its log (who said what, when).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import structlog
from livekit.agents import llm

from agent.call import transcript_pacing
from agent.call.assemble import CallIO, CallProviders, assemble_call
from agent.call.endpoints import check_provider_endpoints
from agent.call.live_call import LiveCall
from agent.call.providers import build_llm, vad_for_call
from agent.call.turn_model import check_turn_model, load_turn_model, turn_model_loaded
from agent.clock import TimeBase
from agent.contracts.events import FINAL_EVENT_TYPES, EndOfCallReport, final_outcome
from agent.delivery.base import Delivery, EventSink
from agent.delivery.call_events import CallEvents
from agent.delivery.target_policy import TargetPolicy
from agent.errors import ConfigError
from agent.intake.dispatch import CallSpec, parse_dispatch
from agent.intake.options import parse_options
from agent.intake.saved import SavedAssistants, SavedAssistantUnavailable
from agent.report.send import report_config_error, report_startup_error
from agent.worker.logs import bind_call, unbind_call
from agent.worker.settings import WorkerSettings

from .offline import OfflineLLM, OfflineSTT, OfflineTTS
from .room import SimulatedCallRoom, TransferRequest, simulated_room
from .scenario import Scenario
from .scripted_caller import CallTimings, Say, ScriptedCaller, call_timings, print_conversation
from .speed import call_time_base
from .timings import LogEntry

log = structlog.get_logger(__name__)

ROOM_NAME = "simulator"


@dataclass
class ScenarioResult:
    """What a simulated call ended with; ``report_body`` is the webhook body, byte for byte."""

    report_body: bytes
    report_url: str | None
    """Where the report was sent (None: the assistant has no webhook_url)."""
    end_reason: str
    duration_seconds: float | None
    wall_seconds: float
    """Real seconds the run took, whatever its speed (the report states call time)."""
    timings: CallTimings | None = None
    """None when the call never started (config_error)."""
    published_transcripts: list[str] = field(default_factory=list)
    """The agent's transcript segments as published to the caller (cut where audio was cut)."""
    transfers: list[TransferRequest] = field(default_factory=list)
    """The SIP REFERs the offline gateway got (a SIP caller's transfers), in order."""
    dtmf_sent: list[str] = field(default_factory=list)
    """Keys the agent pressed with ``send_dtmf``, in order."""
    tts_requests: int = 0
    """Requests the offline TTS got (streams and syntheses): 0 for a call nobody answered."""
    log: list[LogEntry] = field(default_factory=list)
    """Who said what, in ms since the call started: the caller's lines when the caller began
    them, the agent's when they began playing, tool calls when they ran."""


class ReportCapture:
    """The sink in front of the real one: passes every delivery on, keeps the final one (the
    end-of-call report, or CallMissed's ``voice_session.ended``/``failed``).

    The body is what a receiver gets even when the assistant has no webhook_url (the webhook
    sink skips such deliveries, but they are still built and handed over)."""

    def __init__(self, inner: EventSink) -> None:
        self.inner = inner
        self.final: Delivery | None = None

    async def submit(self, delivery: Delivery) -> None:
        if delivery.event_type in FINAL_EVENT_TYPES:
            self.final = delivery
        await self.inner.submit(delivery)

    async def flush(self, call_id: str | None = None, timeout: float = 30.0) -> None:  # noqa: ASYNC109
        await self.inner.flush(call_id, timeout=timeout)

    async def aclose(self, timeout: float = 30.0) -> None:  # noqa: ASYNC109
        await self.inner.aclose(timeout=timeout)


def _result(
    capture: ReportCapture,
    report: EndOfCallReport | None,
    wall: float,
    timings: CallTimings | None = None,
    published: list[str] | None = None,
    events: CallEvents | None = None,
) -> ScenarioResult:
    final = capture.final
    if final is None and report is not None and events is not None:
        final = events.build(report)  # webhook_events left the report out: what it would be
    if final is None:
        raise RuntimeError("the call ended without an end-of-call report")
    outcome = final_outcome(final)
    return ScenarioResult(
        report_body=final.body,
        report_url=final.url if capture.final is not None else None,
        end_reason=str(outcome.end_reason),
        duration_seconds=outcome.duration_seconds,
        wall_seconds=round(wall, 3),
        timings=timings,
        published_transcripts=published or [],
    )


async def run_scenario(
    scenario: Scenario,
    *,
    sink: EventSink,
    settings: WorkerSettings,
    real_llm: bool = False,
    say: Say = print,
    extra_tools: Sequence[llm.Tool] = (),
    beside_call: Callable[[LiveCall], Awaitable[None]] | None = None,
    saved: SavedAssistants | None = None,
) -> ScenarioResult:
    """Run one scenario to its end-of-call report (sent to ``sink``, returned as its body).

    ``extra_tools`` are given to the LLM as production's are (``CallIO.extra_tools``).
    ``beside_call(call)`` runs next to the caller once the call is live and is cancelled when
    it ends: it does to the call what the room or the worker would (job.py's shutdown
    callback, a caller leaving at an exact moment), for tests of how calls end. The document
    is read as a job reads it (``parse_options(settings)``: the operator's saved assistants,
    defaults, unknown-field policy and trunks); ``saved`` replaces the settings' stores."""
    capture = ReportCapture(sink)
    stamps = call_time_base()
    started = stamps.monotonic()
    wall_started = time.perf_counter()  # the wall, whatever the speed
    try:
        spec = await parse_dispatch(
            scenario.dispatch, room_name=ROOM_NAME, options=parse_options(settings, saved=saved)
        )
        # As job.py before it builds providers; vendors on this machine are allowed here.
        await check_provider_endpoints(spec.assistant, settings, TargetPolicy.loopback_allowed())
        # As prewarm and job.py: livekit's end-of-turn model where the operator enabled it,
        # and `endpointing_mode: model` refused wherever it is not loaded.
        if settings.turn_model:
            load_turn_model()
        check_turn_model(spec.assistant, loaded=turn_model_loaded())
    except ConfigError as exc:
        for problem in exc.problems:
            say(f"config_error: {problem}")
        await report_config_error(
            scenario.dispatch, exc, room_name=ROOM_NAME, settings=settings, sink=capture
        )
        return _result(capture, None, time.perf_counter() - wall_started)
    except SavedAssistantUnavailable as exc:
        say(f"error: {exc.stage}: {exc}")
        await report_startup_error(
            scenario.dispatch, exc, stage=exc.stage, room_name=ROOM_NAME, settings=settings,
            sink=capture,
        )  # fmt: skip
        return _result(capture, None, time.perf_counter() - wall_started)

    segment_started = asyncio.Event()
    async with simulated_room(
        scenario,
        room_name=ROOM_NAME,
        say=say,
        started=started,
        spec=spec,
        time_base=stamps,
        on_segment_started=lambda _segment: segment_started.set(),
    ) as room:
        return await _live_call(
            scenario,
            spec,
            room,
            segment_started,
            capture,
            settings=settings,
            real_llm=real_llm,
            say=say,
            extra_tools=extra_tools,
            beside_call=beside_call,
            started=started,
            wall_started=wall_started,
            stamps=stamps,
        )


async def _live_call(
    scenario: Scenario,
    spec: CallSpec,
    room: SimulatedCallRoom,
    segment_started: asyncio.Event,
    capture: ReportCapture,
    *,
    settings: WorkerSettings,
    real_llm: bool,
    say: Say,
    extra_tools: Sequence[llm.Tool],
    beside_call: Callable[[LiveCall], Awaitable[None]] | None,
    started: float,
    wall_started: float,
    stamps: TimeBase,
) -> ScenarioResult:
    """The call itself, once its dispatch document parsed and its room is up."""
    # As production's warm image does: the speaking-rate replacement (the same values, less
    # CPU), so a simulated call costs what a real one does.
    if not transcript_pacing.install():
        transcript_pacing.tell_if_not_applied()
    latencies = scenario.providers
    llm_engine: Any = (
        build_llm(spec.assistant.llm_config, settings)
        if real_llm
        else OfflineLLM(scenario.llm, latencies=latencies, time_base=stamps)
    )
    # As job.py: the call's identity on every line, its gdpr_mode on livekit's own records.
    bind_call(call_id=spec.call_id, room=ROOM_NAME, gdpr=spec.assistant.gdpr_mode)
    stt_engine = OfflineSTT(latencies=latencies, time_base=stamps)
    tts_engine = OfflineTTS(latencies=latencies, time_base=stamps)
    call = assemble_call(
        spec,
        CallProviders(
            stt=stt_engine,
            llm=llm_engine,
            tts=tts_engine,
            vad=vad_for_call(spec.assistant.turn_config),
            analysis_llm=llm_engine if real_llm else None,
        ),
        CallIO(
            room=room,
            sink=capture,
            settings=settings,
            sip=room.sip,
            time_base=stamps,  # the report in call time, however fast the call runs
            tool_policy=TargetPolicy.loopback_allowed(),  # tool servers run on this machine
            extra_tools=extra_tools,
            # As the job's room tells it: the SIP caller's number ({{customer.number}}).
            caller_number=(
                scenario.phone.caller_number if scenario.phone and scenario.phone.sip else None
            ),
        ),
    )
    for warning in call.spec.warnings:
        say(f"warning: {warning}")
    call_started = stamps.monotonic()
    caller = ScriptedCaller(
        call,
        room,
        call_started,
        stamps,
        transferring=lambda: call.phone.transfer.in_progress,
        segment_started=segment_started,
    )
    print_conversation(call, caller, say, started)
    call.session.on("user_state_changed", caller.on_user_state)
    call.session.on("tool_execution_updated", caller.on_tool_update)

    await call.join()  # as job.py once connected: the room's schedule starts, control is on
    script = asyncio.create_task(caller.play(scenario.caller_steps()))
    beside = asyncio.create_task(_beside(call, beside_call))
    try:
        await call.converse()
    finally:
        for task in (script, beside):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
    report = await call.finish()
    await room.aclose()
    unbind_call()
    timings = call_timings(caller, call_started, stt_engine, llm_engine, tts_engine)
    published = [segment.text for segment in room.audio.transcript.segments]
    result = _result(
        capture, report, time.perf_counter() - wall_started, timings, published, events=call.events
    )
    result.transfers = room.transfers()
    result.dtmf_sent = list(room.dtmf_sent)
    result.tts_requests = tts_engine.requests
    result.log = sorted(caller.log, key=lambda entry: entry.at_ms)
    return result


async def _beside(
    call: LiveCall, beside_call: Callable[[LiveCall], Awaitable[None]] | None
) -> None:
    """``beside_call(call)`` once the call is live (cancelled when it ends)."""
    if beside_call is None:
        return
    await call.live.wait()
    await beside_call(call)
