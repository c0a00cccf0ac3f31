"""Run a scenario through the production call path, with a simulated caller.

The call is assembled by the one composition root (:func:`agent.call.assemble.assemble_call`)
and run as the job runs it (``join``, ``converse``, ``finish``); only what production gets from
outside is swapped: the STT/LLM/TTS vendors (offline stand-ins, or the real LLM) and the room
(:class:`~.room.SimulatedCallRoom`: simulated audio, the scenario's caller party, the offline
SIP gateway). The caller's hang-up reaches the lifecycle as a participant leaving, as
``bind_room`` reports it in a room.

Pacing: the script starts once the call is live; a line waits until the agent has answered
the previous line and gone quiet (plus ``REPLY_GAP_SECONDS``); a barge-in waits for the agent's
next speech to have played ``after_seconds``. Every wait is capped at
``ANSWER_TIMEOUT_SECONDS``, and the whole script is abandoned the moment the call ends (silence
timeout, max duration, end_call).

The result carries the call's timings (greeting, and each caller line's turn with its
waterfall, :mod:`.timings`) for ``python -m agent bench``, and its log (who said what, when).
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
from livekit.agents.voice import events as lk_events

from agent.call.assemble import CallIO, CallProviders, assemble_call
from agent.call.endpoints import check_provider_endpoints
from agent.call.live_call import LiveCall
from agent.call.providers import build_llm, load_vad
from agent.contracts.assistant import FirstMessageMode
from agent.contracts.events import EndOfCallReport, parse_envelope, to_delivery
from agent.delivery.base import Delivery, EventSink
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
from .script import ControlStep, DtmfStep, HangupStep, SayStep, ScenarioStep, SilenceStep
from .speech import CallerLine, seconds_to_say
from .timings import LogEntry, TurnTiming, TurnWaterfall, first_after, ms_after

log = structlog.get_logger(__name__)

ROOM_NAME = "simulator"
REPLY_GAP_SECONDS = 0.2
"""A person's pause before answering once the agent has gone quiet."""
ANSWER_TIMEOUT_SECONDS = 8.0
"""Longest a caller step waits for the agent; an agent that never answers cannot stall it."""
_POLL_SECONDS = 0.05

Say = Callable[[str], None]


@dataclass
class CallTimings:
    """What the call measured, in ms: times are since the call started (``LiveCall.converse``)."""

    greeting_ms: float | None
    """Call start -> first frame of the agent's first audio, when it spoke before the caller."""
    turns: list[TurnTiming]
    """One per caller line that was said to its end, in order."""


@dataclass
class ScenarioResult:
    """What a simulated call ended with; ``report_body`` is the webhook body, byte for byte."""

    report_body: bytes
    report_url: str | None
    """Where the report was sent (None: the assistant has no webhook_url)."""
    end_reason: str
    duration_seconds: float | None
    wall_seconds: float
    timings: CallTimings | None = None
    """None when the call never started (config_error)."""
    published_transcripts: list[str] = field(default_factory=list)
    """The agent's transcript segments as published to the caller (cut where audio was cut)."""
    transfers: list[TransferRequest] = field(default_factory=list)
    """The SIP REFERs the offline gateway got (a SIP caller's transfers), in order."""
    dtmf_sent: list[str] = field(default_factory=list)
    """Keys the agent pressed with ``send_dtmf``, in order."""
    log: list[LogEntry] = field(default_factory=list)
    """Who said what, in ms since the call started: the caller's lines when the caller began
    them, the agent's when they began playing, tool calls when they ran."""


class ReportCapture:
    """The sink in front of the real one: passes every delivery on, keeps the report's body.

    The body is what a receiver gets even when the assistant has no webhook_url (the webhook
    sink skips such deliveries, but they are still built and handed over)."""

    def __init__(self, inner: EventSink) -> None:
        self.inner = inner
        self.report_body: bytes | None = None
        self.report_url: str | None = None

    async def submit(self, delivery: Delivery) -> None:
        if delivery.event_type == "end-of-call-report":
            self.report_body = delivery.body
            self.report_url = delivery.url
        await self.inner.submit(delivery)

    async def flush(self, call_id: str | None = None, timeout: float = 30.0) -> None:  # noqa: ASYNC109
        await self.inner.flush(call_id, timeout=timeout)

    async def aclose(self, timeout: float = 30.0) -> None:  # noqa: ASYNC109
        await self.inner.aclose(timeout=timeout)


@dataclass
class _LineRun:
    text: str
    barge_in: bool
    started_at: float
    ended_at: float | None = None
    """When its last frame reached the session: the caller's end of speech."""


@dataclass
class _Caller:
    """Plays the caller's steps against the running call."""

    call: LiveCall
    room: SimulatedCallRoom
    started: float
    """``time.monotonic()`` when the call started (the log's zero)."""
    user_turns: int = 0
    segment_started: asyncio.Event = field(default_factory=asyncio.Event)
    turn_added: asyncio.Event = field(default_factory=asyncio.Event)
    lines: list[_LineRun] = field(default_factory=list)
    commits: list[float] = field(default_factory=list)
    vad_ends: list[float] = field(default_factory=list)
    log: list[LogEntry] = field(default_factory=list)
    _turns_before_last_line: int | None = None

    def ms(self, at: float) -> float:
        return round((at - self.started) * 1000, 1)

    def on_user_turn(self) -> None:
        self.user_turns += 1
        self.commits.append(time.monotonic())
        self.turn_added.set()

    def on_user_state(self, ev: lk_events.UserStateChangedEvent) -> None:
        if ev.old_state == "speaking" and ev.new_state != "speaking":
            self.vad_ends.append(time.monotonic())

    async def play(self, steps: list[ScenarioStep]) -> None:
        await self.call.live.wait()  # after the dial, for an outbound call
        assistant = self.call.spec.assistant
        if assistant.effective_first_message_mode is FirstMessageMode.SPEAKS_FIRST:
            await _wait(self.segment_started, ANSWER_TIMEOUT_SECONDS)  # the greeting began
        for step in steps:
            self.segment_started.clear()
            if isinstance(step, SayStep):
                if step.barge_in:
                    await _wait(self.segment_started, ANSWER_TIMEOUT_SECONDS)
                    await asyncio.sleep(step.barge_in_after_seconds)
                else:
                    await self._agent_done()
                await self._say(step.text, barge_in=step.barge_in)
            elif isinstance(step, SilenceStep):
                await self._agent_done()
                await asyncio.sleep(step.seconds)
            elif isinstance(step, ControlStep):
                await self._agent_done()
                await self.room.send_control(step)
            elif isinstance(step, DtmfStep):
                await self._agent_done()
                self._turns_before_last_line = self.user_turns  # the entry becomes a turn
                await self.room.press(step)
            elif isinstance(step, HangupStep):
                if step.wait_for_agent:
                    await self._agent_done()
                self.room.caller_hangs_up()
                return
        # no hangup: the caller stays on the line, silent, until the call ends by itself

    async def _say(self, text: str, *, barge_in: bool) -> None:
        line = CallerLine(line_id=len(self.lines), text=text, seconds=seconds_to_say(text))
        run = _LineRun(text, barge_in, started_at=time.monotonic())
        self.lines.append(run)
        self.log.append(LogEntry(at_ms=self.ms(run.started_at), who="caller", text=text))
        self._turns_before_last_line = self.user_turns
        run.ended_at = await self.room.audio.caller.say(line)

    async def _agent_done(self) -> None:
        """The caller's last line has become a turn, and the agent answered and went quiet."""
        deadline = time.monotonic() + ANSWER_TIMEOUT_SECONDS
        if self._turns_before_last_line is not None:
            while self.user_turns <= self._turns_before_last_line:
                self.turn_added.clear()
                if not await _wait(self.turn_added, deadline - time.monotonic()):
                    break
            self._turns_before_last_line = None
            deadline = time.monotonic() + ANSWER_TIMEOUT_SECONDS
        quiet_since: float | None = None
        while time.monotonic() < deadline:
            now = time.monotonic()
            if self.room.audio.playout.idle and self.call.session.agent_state in (
                "listening",
                "idle",
            ):
                quiet_since = quiet_since or now
                if now - quiet_since >= REPLY_GAP_SECONDS:
                    return
            else:
                quiet_since = None
            await asyncio.sleep(_POLL_SECONDS)


def _timings(
    caller: _Caller, started: float, stt: OfflineSTT, llm_engine: Any, tts: OfflineTTS
) -> CallTimings:
    """The greeting and each line's turn: a turn runs from the line's last frame to the first
    agent audio frame after it (None when the next line ended first: never answered);
    waterfall steps are the first of each after it."""
    first_frames = [s.first_frame_at for s in caller.room.audio.playout.segments]
    requests = llm_engine.requests if isinstance(llm_engine, OfflineLLM) else []
    greeting_at = first_after(first_frames, started)
    first_line_at = caller.lines[0].started_at if caller.lines else float("inf")
    turns = []
    for i, run in enumerate(caller.lines):
        end = run.ended_at
        if end is None:
            continue
        answer_at = first_after(first_frames, end)
        next_end = next((r.ended_at for r in caller.lines[i + 1 :]), None)
        if answer_at is not None and next_end is not None and answer_at > next_end:
            answer_at = None
        request_at = first_after((r.requested_at for r in requests), end)
        request = next((r for r in requests if r.requested_at == request_at), None)
        text_at = first_after((s.first_text_at for s in tts.syntheses), end)
        synthesis = next((s for s in tts.syntheses if s.first_text_at == text_at), None)
        waterfall = TurnWaterfall(
            stt_final_ms=ms_after(first_after((f.emitted_at for f in stt.finals), end), end),
            vad_end_of_speech_ms=ms_after(first_after(caller.vad_ends, end), end),
            turn_committed_ms=ms_after(first_after(caller.commits, end), end),
            llm_request_ms=ms_after(request_at, end),
            llm_first_delta_ms=ms_after(request.first_delta_at if request else None, end),
            tts_first_text_ms=ms_after(text_at, end),
            tts_first_audio_ms=ms_after(synthesis.first_audio_at if synthesis else None, end),
            first_agent_audio_ms=ms_after(answer_at, end),
        )
        turns.append(
            TurnTiming(
                caller_text=run.text,
                barge_in=run.barge_in,
                caller_started_at_ms=ms_after(run.started_at, started) or 0.0,
                caller_ended_at_ms=ms_after(end, started) or 0.0,
                latency_ms=ms_after(answer_at, end),
                waterfall=waterfall,
            )
        )
    return CallTimings(
        greeting_ms=ms_after(greeting_at, started)
        if greeting_at is not None and greeting_at < first_line_at
        else None,
        turns=turns,
    )


async def _wait(event: asyncio.Event, seconds: float) -> bool:
    if seconds <= 0:
        return event.is_set()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(event.wait(), timeout=seconds)
    return event.is_set()


def _conversation_printer(call: LiveCall, caller: _Caller, say: Say, started: float) -> None:
    def at() -> str:
        return f"{time.monotonic() - started:7.2f}s"

    def on_item(ev: lk_events.ConversationItemAddedEvent) -> None:
        item = ev.item
        if not isinstance(item, llm.ChatMessage) or item.role not in ("user", "assistant"):
            return
        if item.role == "user":
            caller.on_user_turn()
        else:
            # logged when it began playing (wall clock in its metrics), else when added
            spoke_at = item.metrics.get("started_speaking_at")
            played = time.monotonic() - (time.time() - spoke_at if spoke_at else 0.0)
            caller.log.append(LogEntry(at_ms=caller.ms(played), who="agent",
                                       text=item.text_content or "",
                                       interrupted=item.interrupted))  # fmt: skip
        cut = " [interrupted]" if item.interrupted else ""
        who = "caller" if item.role == "user" else "agent"
        say(f"{at()}  {who:<6}  {item.text_content or ''}{cut}")

    def on_tools(ev: lk_events.FunctionToolsExecutedEvent) -> None:
        for fn_call, output in ev.zipped():
            result = output.output if output is not None else ""
            line = f"{fn_call.name}({fn_call.arguments}) -> {result}"
            caller.log.append(LogEntry(at_ms=caller.ms(time.monotonic()), who="tool", text=line))
            say(f"{at()}  {'tool':<6}  {line}")

    call.session.on("conversation_item_added", on_item)
    call.session.on("function_tools_executed", on_tools)


def _result(
    capture: ReportCapture,
    report: EndOfCallReport | None,
    wall: float,
    timings: CallTimings | None = None,
    published: list[str] | None = None,
) -> ScenarioResult:
    body = capture.report_body
    if body is None and report is not None:  # webhook_events left the report out
        body = to_delivery(report, url=None, secret=None).body
    if body is None:
        raise RuntimeError("the call ended without an end-of-call report")
    message = parse_envelope(body).message
    assert isinstance(message, EndOfCallReport)
    return ScenarioResult(
        report_body=body,
        report_url=capture.report_url,
        end_reason=str(message.end_reason),
        duration_seconds=message.duration_seconds,
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
    started = time.monotonic()
    try:
        spec = await parse_dispatch(
            scenario.dispatch, room_name=ROOM_NAME, options=parse_options(settings, saved=saved)
        )
        # As job.py before it builds providers; vendors on this machine are allowed here.
        await check_provider_endpoints(spec.assistant, settings, TargetPolicy.loopback_allowed())
    except ConfigError as exc:
        for problem in exc.problems:
            say(f"config_error: {problem}")
        await report_config_error(
            scenario.dispatch, exc, room_name=ROOM_NAME, settings=settings, sink=capture
        )
        return _result(capture, None, time.monotonic() - started)
    except SavedAssistantUnavailable as exc:
        say(f"error: {exc.stage}: {exc}")
        await report_startup_error(
            scenario.dispatch, exc, stage=exc.stage, room_name=ROOM_NAME, settings=settings,
            sink=capture,
        )  # fmt: skip
        return _result(capture, None, time.monotonic() - started)

    segment_started = asyncio.Event()
    async with simulated_room(
        scenario,
        room_name=ROOM_NAME,
        say=say,
        started=started,
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
) -> ScenarioResult:
    """The call itself, once its dispatch document parsed and its room is up."""
    latencies = scenario.providers
    llm_engine: Any = (
        build_llm(spec.assistant.llm_config, settings)
        if real_llm
        else OfflineLLM(scenario.llm, latencies=latencies)
    )
    # As job.py: the call's identity on every line, its gdpr_mode on livekit's own records.
    bind_call(call_id=spec.call_id, room=ROOM_NAME, gdpr=spec.assistant.gdpr_mode)
    stt_engine, tts_engine = OfflineSTT(latencies=latencies), OfflineTTS(latencies=latencies)
    call = assemble_call(
        spec,
        CallProviders(
            stt=stt_engine,
            llm=llm_engine,
            tts=tts_engine,
            vad=load_vad(spec.assistant.turn_config),
            analysis_llm=llm_engine if real_llm else None,
        ),
        CallIO(
            room=room,
            sink=capture,
            settings=settings,
            sip=room.sip,
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
    call_started = time.monotonic()
    caller = _Caller(call, room, call_started, segment_started=segment_started)
    _conversation_printer(call, caller, say, started)
    call.session.on("user_state_changed", caller.on_user_state)

    await call.join()  # as job.py once connected: the caller is in the room, control is on
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
    timings = _timings(caller, call_started, stt_engine, llm_engine, tts_engine)
    published = [segment.text for segment in room.audio.transcript.segments]
    result = _result(capture, report, time.monotonic() - started, timings, published)
    result.transfers = room.transfers()
    result.dtmf_sent = list(room.dtmf_sent)
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
