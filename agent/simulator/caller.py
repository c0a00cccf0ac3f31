"""The simulated caller: plays a script against a session, and records what happened when.

It works on any ``AgentSession`` wired to a :class:`~agent.simulator.transport.SimulatedRoom`
(the session may be built and owned by someone else: :class:`SimulatedCall`, or the
production call path run under the simulator), so pacing and timings are the same for both.

Pacing (see :mod:`agent.simulator.script` for the steps): a line waits until the agent's
answer to the caller's previous line has been committed and has played out, then
``reply_gap_seconds`` (a person's pause before speaking); a barge-in waits until the agent's
next speech has played ``barge_in_after_seconds``. Every wait is capped by
``answer_timeout_seconds`` so an agent that never answers cannot stall the script, and the
script stops the moment the session closes (the agent ended the call).

Construct it before ``session.start()`` so it sees every event from the first.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import structlog
from livekit.agents import AgentSession
from livekit.agents.voice import events
from livekit.agents.voice.agent_activity import ActivityClosedError

from .offline import OfflineLLM, OfflineSTT, OfflineTTS
from .script import CallerStep, HangupStep, SayStep, SilenceStep
from .speech import CallerLine, seconds_to_say
from .timings import (
    CallEnding,
    LogEntry,
    SimulatedCallResult,
    TurnTiming,
    TurnWaterfall,
    first_after,
    ms_after,
)
from .transport import PlayedSegment, SimulatedRoom

logger = structlog.get_logger(__name__)

SessionHook = Callable[[AgentSession[Any]], Awaitable[None]]


class _SessionEnded(Exception):
    """The session closed under the script (the agent hung up, or it failed)."""


class _CallerLineRun:
    def __init__(
        self, line: CallerLine, *, barge_in: bool, started_at: float, turns_before: int
    ) -> None:
        self.line = line
        self.barge_in = barge_in
        self.started_at = started_at
        self.turns_before = turns_before  # user turns committed before this line began
        self.ended_at: float | None = None
        self.answer_awaited = False


class ScriptedCaller:
    """Plays caller steps on a session and room; see the module docstring for the pacing."""

    def __init__(
        self,
        *,
        session: AgentSession[Any],
        room: SimulatedRoom,
        script: Sequence[CallerStep],
        on_hangup: SessionHook | None = None,
        stt: OfflineSTT | None = None,
        llm: OfflineLLM | None = None,
        tts: OfflineTTS | None = None,
        reply_gap_seconds: float = 0.2,
        answer_timeout_seconds: float = 8.0,
        time_limit_seconds: float = 120.0,
    ) -> None:
        """``on_hangup`` runs when the caller hangs up (after their audio stopped); without
        it the caller closes the session. ``stt``/``llm``/``tts``: the offline vendors, when
        used, whose records fill the turn waterfalls."""
        self.session = session
        self._room = room
        self._script = list(script)
        self._on_hangup = on_hangup
        self._stt_finals = stt.finals if stt is not None else []
        self._llm_requests = llm.requests if llm is not None else []
        self._syntheses = tts.syntheses if tts is not None else []
        self._reply_gap = reply_gap_seconds
        self._answer_timeout = answer_timeout_seconds
        self._time_limit = time_limit_seconds

        self._started_at = self._step_done_at = time.monotonic()
        self._lines: list[_CallerLineRun] = []
        self._log: list[LogEntry] = []
        self._user_turns = 0
        self._user_turn_added = asyncio.Event()
        self._segment_started = asyncio.Event()
        self._vad_ends: list[float] = []
        self._commits: list[float] = []
        self._closed = asyncio.Event()
        room.playout.add_segment_listener(self._on_segment_started)
        session.on("conversation_item_added", self._on_item_added)
        session.on("function_tools_executed", self._on_tools_executed)
        session.on("user_state_changed", self._on_user_state_changed)
        session.on("close", self._on_close)

    @property
    def session_closed(self) -> bool:
        """The session has emitted ``close``."""
        return self._closed.is_set()

    @property
    def started_at(self) -> float:
        """``time.monotonic()`` of the call's start (when this caller was made)."""
        return self._started_at

    async def play(self) -> CallEnding:
        """Play the script to its end; how the call ended (never raises for the session).

        ``time_limit_seconds`` caps the whole script.
        """
        try:
            return await asyncio.wait_for(self._play_script(), timeout=self._time_limit)
        except _SessionEnded:
            return "session_closed"
        except TimeoutError:
            logger.warning("simulated_call_time_limit", seconds=self._time_limit)
            return "time_limit"

    async def _play_script(self) -> CallEnding:
        for step in self._script:
            if isinstance(step, SayStep):
                if step.barge_in:
                    await self._agent_speaking_for(step.barge_in_after_seconds)
                else:
                    await self._agent_done()
                await self._say(step)
            elif isinstance(step, SilenceStep):
                await self._agent_done()
                await self._sleep(step.seconds)
            elif isinstance(step, HangupStep):
                if step.wait_for_agent:
                    await self._agent_done()
                await self._hang_up()
                return "caller_hangup"
            self._step_done_at = time.monotonic()
        await self._agent_done()
        return "script_end"

    async def _say(self, step: SayStep) -> None:
        line = CallerLine(
            line_id=len(self._lines), text=step.text, seconds=seconds_to_say(step.text)
        )
        run = _CallerLineRun(
            line,
            barge_in=step.barge_in,
            started_at=time.monotonic(),
            turns_before=self._user_turns,
        )
        self._lines.append(run)
        self._log.append(LogEntry(at_ms=self._ms(run.started_at), who="caller", text=step.text))
        done = self._room.caller.say(line)
        run.ended_at = await self._until_closed(done)

    async def _hang_up(self) -> None:
        self._room.caller.hang_up()
        if self._on_hangup is not None:
            await self._on_hangup(self.session)
        else:
            await self.session.aclose()

    async def _agent_done(self) -> None:
        """Wait for the agent to answer the caller's last line and finish speaking."""
        if self._lines and not self._lines[-1].answer_awaited:
            # the last line's turn must be committed first: until then the agent looks idle
            last = self._lines[-1]
            last.answer_awaited = True
            deadline = time.monotonic() + self._answer_timeout
            while self._user_turns <= last.turns_before and time.monotonic() < deadline:
                self._user_turn_added.clear()
                await self._wait_event(self._user_turn_added, deadline - time.monotonic())
        deadline = time.monotonic() + self._answer_timeout
        while time.monotonic() < deadline:
            await self._until_closed(self.session.wait_for_idle())
            if self._room.playout.idle:
                await self._sleep(self._reply_gap)
                if self._room.playout.idle and self.session.agent_state != "speaking":
                    return
            else:
                await self._sleep(0.05)

    async def _agent_speaking_for(self, seconds: float) -> None:
        """Wait until agent audio that started after the previous step has played ``seconds``."""
        deadline = time.monotonic() + self._answer_timeout
        while time.monotonic() < deadline:
            started = first_after(
                (s.first_frame_at for s in self._room.playout.segments if s.finished_at is None),
                self._step_done_at,
            )
            if started is not None:
                await self._sleep(max(0.0, started + seconds - time.monotonic()))
                return
            self._segment_started.clear()
            await self._wait_event(self._segment_started, deadline - time.monotonic())

    # -- waiting, with the session able to end the call under us --

    async def _until_closed(self, awaitable: Awaitable[Any]) -> Any:
        task = asyncio.ensure_future(awaitable)
        closed = asyncio.create_task(self._closed.wait())
        try:
            await asyncio.wait({task, closed}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            closed.cancel()
        if not task.done():
            task.cancel()
            raise _SessionEnded
        try:
            return task.result()
        except (ActivityClosedError, RuntimeError) as err:  # wait_for_idle while closing
            raise _SessionEnded from err

    async def _sleep(self, seconds: float) -> None:
        await self._wait_event(self._closed, seconds)
        if self._closed.is_set():
            raise _SessionEnded

    async def _wait_event(self, event: asyncio.Event, seconds: float) -> None:
        if seconds <= 0:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._until_closed(event.wait()), timeout=seconds)

    # -- session and playout events --

    def _on_segment_started(self, segment: PlayedSegment) -> None:
        self._segment_started.set()

    def _on_item_added(self, ev: events.ConversationItemAddedEvent) -> None:
        item = ev.item
        if item.type != "message":
            return
        if item.role == "user":
            self._user_turns += 1
            self._commits.append(time.monotonic())
            self._user_turn_added.set()
        elif item.role == "assistant":
            # logged when it started playing (wall clock in the metrics), else when added
            spoke_at = item.metrics.get("started_speaking_at")
            at = time.monotonic()
            if spoke_at is not None:
                at -= time.time() - spoke_at
            self._log.append(
                LogEntry(
                    at_ms=self._ms(at),
                    who="agent",
                    text=item.text_content or "",
                    interrupted=item.interrupted,
                )
            )

    def _on_tools_executed(self, ev: events.FunctionToolsExecutedEvent) -> None:
        now = self._ms(time.monotonic())
        for call, output in zip(ev.function_calls, ev.function_call_outputs, strict=False):
            result = output.output if output is not None else ""
            text = f"{call.name}({call.arguments}) -> {result}"
            self._log.append(LogEntry(at_ms=now, who="tool", text=text))

    def _on_user_state_changed(self, ev: events.UserStateChangedEvent) -> None:
        if ev.old_state == "speaking" and ev.new_state != "speaking":
            self._vad_ends.append(time.monotonic())

    def _on_close(self, ev: events.CloseEvent) -> None:
        self._closed.set()

    # -- report --

    def _ms(self, at: float) -> float:
        return round((at - self._started_at) * 1000, 1)

    def result(self, ended_by: CallEnding) -> SimulatedCallResult:
        """What the call measured; call once the session has closed."""
        wall_seconds = time.monotonic() - self._started_at
        first_frames = [s.first_frame_at for s in self._room.playout.segments]
        first_line_at = self._lines[0].started_at if self._lines else float("inf")
        greeting_at = first_after(first_frames, self._started_at)
        turns = [self._turn_timing(run, first_frames) for run in self._lines]
        return SimulatedCallResult(
            ended_by=ended_by,
            wall_seconds=round(wall_seconds, 3),
            greeting_ms=self._ms(greeting_at)
            if greeting_at is not None and greeting_at < first_line_at
            else None,
            turns=[turn for turn in turns if turn is not None],
            log=sorted(self._log, key=lambda entry: entry.at_ms),
            history=self.session.history.copy(),
            published_transcripts=[s.text for s in self._room.transcript.segments],
        )

    def _turn_timing(
        self, run: _CallerLineRun, first_frames: list[float | None]
    ) -> TurnTiming | None:
        if run.ended_at is None:
            return None
        end = run.ended_at
        next_line = next((r for r in self._lines if r.started_at > run.started_at), None)
        answer_at = first_after(first_frames, end)
        next_end = next_line.ended_at if next_line is not None else None
        if answer_at is not None and next_end is not None and answer_at > next_end:
            answer_at = None  # the next line came first: this one was never answered
        llm_request = first_after((r.requested_at for r in self._llm_requests), end)
        request = next((r for r in self._llm_requests if r.requested_at == llm_request), None)
        synthesis_at = first_after((s.first_text_at for s in self._syntheses), end)
        synthesis = next((s for s in self._syntheses if s.first_text_at == synthesis_at), None)
        waterfall = TurnWaterfall(
            stt_final_ms=ms_after(first_after((f.emitted_at for f in self._stt_finals), end), end),
            vad_end_of_speech_ms=ms_after(first_after(self._vad_ends, end), end),
            turn_committed_ms=ms_after(first_after(self._commits, end), end),
            llm_request_ms=ms_after(llm_request, end),
            llm_first_delta_ms=ms_after(request.first_delta_at if request else None, end),
            tts_first_text_ms=ms_after(synthesis_at, end),
            tts_first_audio_ms=ms_after(synthesis.first_audio_at if synthesis else None, end),
            first_agent_audio_ms=ms_after(answer_at, end),
        )
        return TurnTiming(
            caller_text=run.line.text,
            barge_in=run.barge_in,
            caller_started_at_ms=self._ms(run.started_at),
            caller_ended_at_ms=self._ms(end),
            latency_ms=ms_after(answer_at, end),
            waterfall=waterfall,
        )
