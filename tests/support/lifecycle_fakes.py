"""A scripted session for lifecycle tests on the virtual clock: lines play for their length."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from agent.call.lifecycle import CallLifecycle, LifecycleSettings, SilenceSettings
from agent.clock import TimerHandle, VirtualClock

LINE_SECONDS = 2.0
"""How long every line plays unless a test says otherwise."""


@dataclass
class FakeLine:
    text: str
    seconds: float
    by_lifecycle: bool
    done: bool = False
    interrupted: bool = False
    callbacks: list[Callable[[Any], None]] = field(default_factory=list)

    def add_done_callback(self, callback: Callable[[Any], None]) -> None:
        if self.done:
            callback(self)
        else:
            self.callbacks.append(callback)

    def finish(self, *, interrupted: bool = False) -> None:
        if self.done:
            return
        self.done = True
        self.interrupted = interrupted
        for callback in self.callbacks:
            callback(self)


class ScriptedSession:
    """Records what the lifecycle asked for, with virtual times; plays lines on the clock."""

    def __init__(self, clock: VirtualClock, *, line_seconds: float = LINE_SECONDS) -> None:
        self.clock = clock
        self.line_seconds = line_seconds
        self.lifecycle: CallLifecycle | None = None
        self.tts_down = False
        self.said: list[tuple[float, str]] = []
        self.interrupts: list[float] = []
        self.hang_ups: list[float] = []
        self._queue: list[FakeLine] = []
        self._playing: FakeLine | None = None
        self._playing_timer: TimerHandle | None = None
        self._agent_state = "listening"

    # -- LifecycleActions -------------------------------------------------------------------

    def say(self, text: str, *, allow_interruptions: bool) -> FakeLine:
        self.said.append((self.clock.now(), text))
        return self._enqueue(FakeLine(text, self.line_seconds, by_lifecycle=True))

    def interrupt(self) -> None:
        self.interrupts.append(self.clock.now())
        lines = ([self._playing] if self._playing else []) + self._queue
        self._queue = []
        if self._playing_timer is not None:
            self._playing_timer.cancel()
        self._playing = None
        for line in lines:
            line.finish(interrupted=True)
        self._set_agent_state("listening")

    def hang_up(self) -> None:
        self.hang_ups.append(self.clock.now())

    # -- what the LLM / the caller do in a script -------------------------------------------

    def agent_reply(self, text: str, seconds: float | None = None) -> FakeLine:
        """The LLM's reply: plays like any line, committed to the conversation when heard."""
        line = FakeLine(text, self.line_seconds if seconds is None else seconds, False)
        return self._enqueue(line)

    def set_agent_state(self, state: str) -> None:
        self._set_agent_state(state)

    @property
    def spoken_texts(self) -> list[str]:
        return [text for _, text in self.said]

    # -- playout ----------------------------------------------------------------------------

    def _enqueue(self, line: FakeLine) -> FakeLine:
        self._queue.append(line)
        if self._playing is None:
            self._play_next()
        return line

    def _play_next(self) -> None:
        if not self._queue:
            self._playing = None
            self._set_agent_state("listening")
            return
        line = self._queue.pop(0)
        self._playing = line
        if self.tts_down:
            self._set_agent_state("thinking")  # waiting on TTS audio that never comes
            return
        self._set_agent_state("speaking")
        self._playing_timer = self.clock.call_later(line.seconds, self._on_played)

    def _on_played(self) -> None:
        line = self._playing
        assert line is not None
        self._playing_timer = None
        if self.lifecycle is not None:
            self.lifecycle.on_agent_speech_committed(line.text)
            self.lifecycle.on_playout_finished()
        line.finish()
        self._play_next()

    def _set_agent_state(self, state: str) -> None:
        if state == self._agent_state:
            return
        self._agent_state = state
        if self.lifecycle is not None:
            self.lifecycle.on_agent_state(state)  # type: ignore[arg-type]


def make_call(
    *,
    max_duration_seconds: float = 3600.0,
    max_duration_message: str | None = "We've reached the time limit for this call. Goodbye!",
    silence: SilenceSettings | None = None,
    end_call_phrases: list[str] | None = None,
    line_seconds: float = LINE_SECONDS,
    start: bool = True,
) -> tuple[VirtualClock, ScriptedSession, CallLifecycle]:
    """A started call at t = 0 with the agent listening, on a fresh virtual clock."""
    clock = VirtualClock()
    session = ScriptedSession(clock, line_seconds=line_seconds)
    settings = LifecycleSettings(
        max_duration_seconds=max_duration_seconds,
        max_duration_message=max_duration_message,
        end_call_phrases=end_call_phrases or [],
        autonomous_silence_handling=silence or SilenceSettings(),
    )
    lifecycle = CallLifecycle(clock, session, settings)
    session.lifecycle = lifecycle
    lifecycle.on_agent_state("listening")
    lifecycle.on_user_state("listening")
    if start:
        lifecycle.start()
    return clock, session, lifecycle
