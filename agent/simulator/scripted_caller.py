"""The scripted caller: plays a scenario's caller steps against a live call, and measures it.

:func:`agent.simulator.live.run_scenario` makes one per call, on the call the composition root
assembled and the simulated room (:mod:`.room`) it runs in.

Pacing: the script starts once the call is live (the caller answered; after the dial, for an
outbound call); a line waits until the agent has answered the previous line and gone quiet (plus
``REPLY_GAP_SECONDS``); the parts of a `say` list follow each other after ``pause_seconds``
of silence, whatever the agent does; a barge-in (a line or a noise) waits for the agent's next
speech to have played ``after_seconds``. A barge-in may be a backchannel or a noise, which
never becomes a turn: the agent finishing the speech it talked over, uninterrupted, counts as
its answer.

Quiet is a state, not only silence: nothing playing, the session listening, no speech queued,
no tool running and no transfer in progress (its message, the REFER, and after a failure the
line telling the caller). A tool's or a transfer's wait is silent too, and a caller counting
only silence hung up 0.2 s into a REFER that took longer (the call then ended ``transferred``,
as a caller leaving during a transfer does), or before a failed transfer's line was queued, or
spoke over a tool's answer; how long such work takes must not decide the script (nor, in a
sped-up call, the machine's speed).

Every wait is capped at ``ANSWER_TIMEOUT_SECONDS`` (speech already playing or paused, at
``LONGEST_SPEECH_SECONDS``), so an agent that never answers cannot stall it, and
``run_scenario`` abandons the script the moment the call ends (silence timeout, max duration,
end_call).

What it measures (:func:`call_timings`, :mod:`.timings`): the greeting, and each line's turn
from its last frame to the agent's first audio after it, with the waterfall in between; for
each barge-in, what the caller heard of the agent's speech it talked over; and the call's log
(who said what, when).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from livekit.agents import AgentSession, llm
from livekit.agents.voice import events as lk_events
from livekit.agents.voice.events import ToolCallEnded, ToolCallStarted

from agent.clock import TimeBase
from agent.contracts.assistant import FirstMessageMode
from agent.intake.dispatch import CallSpec

from .offline import OfflineLLM, OfflineSTT, OfflineTTS
from .room import SimulatedCallRoom
from .script import (
    ControlStep,
    DisconnectStep,
    DtmfStep,
    HangupStep,
    NoiseStep,
    SayStep,
    ScenarioStep,
    SilenceStep,
)
from .speech import CallerLine, seconds_to_say
from .timings import (
    LogEntry,
    OverlapTiming,
    TurnTiming,
    TurnWaterfall,
    first_after,
    ms_after,
)
from .transport import PlayedSegment

REPLY_GAP_SECONDS = 0.2
"""A person's pause before answering once the agent has gone quiet."""
ANSWER_TIMEOUT_SECONDS = 8.0
"""Longest a caller step waits for the agent; an agent that never answers cannot stall it."""
LONGEST_SPEECH_SECONDS = 60.0
"""A step waits this long at most for speech the agent has begun to finish playing."""
_POLL_SECONDS = 0.05

Say = Callable[[str], None]


class CallUnderTest(Protocol):
    """What the scripted caller reads of the call it plays against: a LiveCall, or the bench's
    bare framework session running the same call (agent/bench/floor.py)."""

    @property
    def live(self) -> asyncio.Event: ...

    @property
    def spec(self) -> CallSpec: ...

    @property
    def session(self) -> AgentSession[Any]: ...


@dataclass
class CallTimings:
    """What the call measured, in ms: times are since the agent joined (``LiveCall.join``)."""

    greeting_ms: float | None
    """Call start -> first frame of the agent's first audio, when it spoke before the caller."""
    turns: list[TurnTiming]
    """One per caller line that was said to its end, in order (each part of a `say` list)."""
    join_to_greeting_ms: float | None = None
    """The caller's participant joining -> the first frame of the greeting they hear."""
    overlaps: list[OverlapTiming] = field(default_factory=list)
    """One per barge-in step (a line or a noise), in order."""


@dataclass
class _LineRun:
    text: str
    barge_in: bool
    started_at: float
    ended_at: float | None = None
    """When its last frame reached the session: the caller's end of speech."""
    continues: bool = False
    """More parts of the same turn follow (a `say` list)."""


@dataclass
class _Overlap:
    kind: str
    text: str
    started_at: float
    segment: PlayedSegment | None
    """The agent's speech playing when it began (None: nothing was)."""


@dataclass
class ScriptedCaller:
    """Plays the caller's steps against the running call."""

    call: CallUnderTest
    room: SimulatedCallRoom
    started: float
    """The call's monotonic seconds when it started (the log's zero)."""
    time_base: TimeBase
    """The call's clock: every wait and every time here is on it."""
    transferring: Callable[[], bool] = lambda: False
    """Whether a transfer is in progress (a LiveCall's ``phone.transfer.in_progress``)."""
    user_turns: int = 0
    segment_started: asyncio.Event = field(default_factory=asyncio.Event)
    turn_added: asyncio.Event = field(default_factory=asyncio.Event)
    lines: list[_LineRun] = field(default_factory=list)
    commits: list[float] = field(default_factory=list)
    vad_ends: list[float] = field(default_factory=list)
    log: list[LogEntry] = field(default_factory=list)
    overlaps: list[_Overlap] = field(default_factory=list)
    tools_running: set[str] = field(default_factory=set)
    """Tool calls the framework started and has not ended (``tool_execution_updated``)."""
    _turns_before_last_line: int | None = None
    _talked_over: PlayedSegment | None = None
    """The agent's speech the last barge-in line began over: if it plays to its end, the line
    was a backchannel the agent rightly let pass (no turn will come)."""

    def ms(self, at: float) -> float:
        return round((at - self.started) * 1000, 1)

    def on_user_turn(self) -> None:
        self.user_turns += 1
        self.commits.append(self.time_base.monotonic())
        self.turn_added.set()

    def on_tool_update(self, ev: lk_events.ToolExecutionUpdatedEvent) -> None:
        update = ev.update
        if isinstance(update, ToolCallStarted):
            self.tools_running.add(update.function_call.call_id)
        elif isinstance(update, ToolCallEnded):
            self.tools_running.discard(update.call_id)

    def agent_busy(self) -> bool:
        """The agent is speaking, about to, thinking, running a tool or transferring."""
        session = self.call.session
        speech = session.current_speech
        return (
            not self.room.audio.playout.idle
            or session.agent_state not in ("listening", "idle")
            or (speech is not None and not speech.done())
            or bool(self.tools_running)
            or self.transferring()
        )

    def on_user_state(self, ev: lk_events.UserStateChangedEvent) -> None:
        if ev.old_state == "speaking" and ev.new_state != "speaking":
            self.vad_ends.append(self.time_base.monotonic())

    async def play(self, steps: list[ScenarioStep]) -> None:
        await self.call.live.wait()  # after the dial, for an outbound call
        assistant = self.call.spec.assistant
        if assistant.effective_first_message_mode is FirstMessageMode.SPEAKS_FIRST:
            await _wait(self.segment_started, ANSWER_TIMEOUT_SECONDS)  # the greeting began
        for step in steps:
            self.segment_started.clear()
            if isinstance(step, SayStep | NoiseStep):
                if step.barge_in:
                    await _wait(self.segment_started, ANSWER_TIMEOUT_SECONDS)
                    await asyncio.sleep(step.barge_in_after_seconds)
                else:
                    await self._agent_done()
                if isinstance(step, NoiseStep):
                    await self._noise(step.seconds, barge_in=step.barge_in)
                    continue
                parts = (step.text, *step.more)
                for i, part in enumerate(parts):
                    if i:
                        await asyncio.sleep(step.pause_seconds)  # mid-thought: no waiting
                    await self._say(part, barge_in=step.barge_in and i == 0,
                                    continues=i < len(parts) - 1)  # fmt: skip
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
            elif isinstance(step, DisconnectStep):
                self.room.caller_disconnects(step.livekit_name)  # a lost line waits for nobody
                return
        # no hangup: the caller stays on the line, silent, until the call ends by itself

    async def _say(self, text: str, *, barge_in: bool, continues: bool = False) -> None:
        line = CallerLine(line_id=len(self.lines), text=text, seconds=seconds_to_say(text))
        run = _LineRun(text, barge_in, started_at=self.time_base.monotonic(), continues=continues)
        self.lines.append(run)
        self.log.append(LogEntry(at_ms=self.ms(run.started_at), who="caller", text=text))
        self._turns_before_last_line = self.user_turns
        self._talked_over = self._over_agent("say", text, run.started_at) if barge_in else None
        run.ended_at = await self.room.audio.caller.say(line)

    async def _noise(self, seconds: float, *, barge_in: bool) -> None:
        at = self.time_base.monotonic()
        self.log.append(LogEntry(at_ms=self.ms(at), who="caller", text=f"({seconds:g} s noise)"))
        if barge_in:
            self._over_agent("noise", "", at)
        await self.room.audio.caller.noise(seconds)

    def _over_agent(self, kind: str, text: str, at: float) -> PlayedSegment | None:
        segment = self.room.audio.playout.playing
        self.overlaps.append(_Overlap(kind, text, at, segment))
        return segment

    async def _agent_done(self) -> None:
        """The caller's last line has become a turn, and the agent answered and went quiet."""
        deadline = self.time_base.monotonic() + ANSWER_TIMEOUT_SECONDS
        if self._turns_before_last_line is not None:
            while self.user_turns <= self._turns_before_last_line:
                over = self._talked_over
                if over is not None and over.finished_at is not None and not over.interrupted:
                    break  # a backchannel: the agent finished what it was saying
                self.turn_added.clear()
                left = deadline - self.time_base.monotonic()
                if over is not None:
                    left = min(left, _POLL_SECONDS)  # also watch the speech it talked over
                if (
                    not await _wait(self.turn_added, left)
                    and self.time_base.monotonic() >= deadline
                ):
                    break
            self._turns_before_last_line = self._talked_over = None
            deadline = self.time_base.monotonic() + ANSWER_TIMEOUT_SECONDS
        quiet_since: float | None = None
        longest = self.time_base.monotonic() + LONGEST_SPEECH_SECONDS
        while self.time_base.monotonic() < deadline:
            now = self.time_base.monotonic()
            playout = self.room.audio.playout
            if not self.agent_busy():
                quiet_since = quiet_since or now
                if now - quiet_since >= REPLY_GAP_SECONDS:
                    return
            else:
                quiet_since = None
            if not playout.idle:
                # speaking (or paused, about to resume): a long answer is not a stalled agent
                deadline = min(max(deadline, now + 2 * _POLL_SECONDS), longest)
            await asyncio.sleep(_POLL_SECONDS)


def call_timings(
    caller: ScriptedCaller, started: float, stt: OfflineSTT, llm_engine: Any, tts: OfflineTTS
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
                continues=run.continues,
            )
        )
    greeted = greeting_at is not None and greeting_at < first_line_at
    joined_at = caller.room.caller_joined_at
    return CallTimings(
        greeting_ms=ms_after(greeting_at, started) if greeted else None,
        join_to_greeting_ms=(
            ms_after(greeting_at, joined_at) if greeted and joined_at is not None else None
        ),
        turns=turns,
        overlaps=[_overlap_timing(o, started) for o in caller.overlaps],
    )


def _overlap_timing(overlap: _Overlap, started: float) -> OverlapTiming:
    segment = overlap.segment
    quiet_at = segment.quiet_at if segment is not None else None
    return OverlapTiming(
        kind="noise" if overlap.kind == "noise" else "say",
        caller_text=overlap.text,
        caller_started_at_ms=ms_after(overlap.started_at, started) or 0.0,
        agent_speaking=segment is not None,
        agent_quiet_ms=ms_after(quiet_at, overlap.started_at),
        agent_heard_whole=segment is not None and segment.heard_whole,
        agent_resumed=segment is not None
        and bool(segment.paused_at)
        and segment.finished_at is not None
        and not segment.interrupted,
    )


async def _wait(event: asyncio.Event, seconds: float) -> bool:
    if seconds <= 0:
        return event.is_set()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(event.wait(), timeout=seconds)
    return event.is_set()


def print_conversation(
    call: CallUnderTest, caller: ScriptedCaller, say: Say, started: float
) -> None:
    clock = caller.time_base

    def at() -> str:
        return f"{clock.monotonic() - started:7.2f}s"

    def on_item(ev: lk_events.ConversationItemAddedEvent) -> None:
        item = ev.item
        if not isinstance(item, llm.ChatMessage) or item.role not in ("user", "assistant"):
            return
        if item.role == "user":
            caller.on_user_turn()
        else:
            # logged when it began playing (epoch seconds in its metrics), else when added
            spoke_at = item.metrics.get("started_speaking_at")
            played = clock.monotonic() - (clock.wall() - spoke_at if spoke_at else 0.0)
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
            caller.log.append(LogEntry(at_ms=caller.ms(clock.monotonic()), who="tool", text=line))
            say(f"{at()}  {'tool':<6}  {line}")

    call.session.on("conversation_item_added", on_item)
    call.session.on("function_tools_executed", on_tools)
