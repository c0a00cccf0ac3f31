"""Exactly one end per call: the first reason wins, the goodbye is heard, the job ends once.

Every path out of a call (caller hangs up, end_call tool, end phrase, max duration, silence,
transfer, error, worker shutdown) funnels into ``CallEnding.request_end``. The first request
decides ``end_reason``; later ones are kept for the log and otherwise ignored. Whatever
happens next (a goodbye that never finishes because TTS is down, a playout callback that
never comes) the call is hung up within a bounded time, because a backstop timer is armed
before any waiting starts.

How each reason ends:

- ``user_hangup``: the caller is gone. Interrupt, hang up now, no goodbye.
- ``agent_hangup``: the assistant's last line must be heard. Nothing is interrupted: the
  goodbye (if any) is queued behind the current speech and the call ends when it has played
  out; without a goodbye, the call ends when current speech finishes (now, if silent).
  Backstop: ``GoodbyeBudget.cap_seconds`` (10 s), since the queued speech is of unknown length.
- ``max_duration``, ``silence_timeout``, ``error``, ``transferred`` and the rest: interrupt
  whatever is happening (speech, thinking, tool reply), speak the goodbye if one is given,
  end when it has played out. Backstop: ``GoodbyeBudget.for_text(goodbye)``
  (text length / 15 chars/s + 2 s, at most 10 s); without a goodbye, hang up now.

One later request does change the timing, never the reason: when the caller leaves while a
goodbye is playing there is nobody left to hear it, so the call hangs up at once.

Times, as the seeds mean them: the agent joins the room (``agent_joined_at``), the caller
answers (``started_at``: they joined and their audio is up, or the outbound callee picked up),
the call ends (``ended_at``). ``duration_seconds`` counts from the answer; a call that was never
answered has no ``started_at`` and lasted 0 s. All three wall times are derived from one wall
clock reading (the agent's join) plus monotonic differences, so they always agree with the
durations.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import structlog
from pydantic import BaseModel, ConfigDict

from agent.call.lifecycle.actions import LifecycleActions
from agent.call.lifecycle.parties import Attendance
from agent.call.lifecycle.settings import GoodbyeBudget
from agent.clock import Clock, TimerHandle
from agent.contracts.end_reason import EndReason

log = structlog.get_logger(__name__)

HangupCause = Literal["immediately", "goodbye_heard", "speech_finished", "backstop", "caller_left"]

# Reasons whose last line is the assistant's own: let it finish instead of cutting it off.
_LET_SPEECH_FINISH = frozenset({EndReason.AGENT_HANGUP})


class EndRequest(BaseModel):
    """One call to ``request_end``, as recorded for the log."""

    model_config = ConfigDict(frozen=True)

    reason: EndReason
    detail: str | None
    at_monotonic: float


class CallEnd(BaseModel):
    """The one end record of a call: what ended it, when, and how the hang-up happened."""

    model_config = ConfigDict(frozen=True)

    reason: EndReason
    detail: str | None
    agent_joined_at: datetime
    """Wall clock (UTC) when the agent was in the room; serialises as ISO 8601."""
    started_at: datetime | None
    """When the call was answered (the caller there, or the callee picked up); None: never."""
    ended_at: datetime
    """Wall clock at hang-up, consistent with ``agent_joined_at`` and the durations."""
    caller_join_seconds: float | None
    """From the agent's join to the answer: how long the caller took to arrive."""
    agent_joined_monotonic: float
    started_monotonic: float | None
    end_requested_monotonic: float
    ended_monotonic: float
    duration_seconds: float
    """Monotonic hang-up time minus monotonic answer time; 0 for a call never answered."""
    hung_up: HangupCause
    """Why the hang-up happened when it did (``backstop``: the goodbye never finished)."""
    ignored_requests: tuple[EndRequest, ...]
    """End requests that lost to the first one, up to the hang-up."""
    participants: tuple[Attendance, ...] = ()
    """Who was in the room (the caller and observers), up to the hang-up."""


def _utc_now() -> datetime:
    return datetime.now(UTC)


class CallEnding:
    """Decides the call's one end reason and carries the ending out to the hang-up."""

    def __init__(
        self,
        clock: Clock,
        actions: LifecycleActions,
        *,
        budget: GoodbyeBudget | None = None,
        wall_clock: Callable[[], datetime] | None = None,
    ) -> None:
        self._clock = clock
        self._actions = actions
        self._budget = budget or GoodbyeBudget()
        self._wall_clock = wall_clock or _utc_now
        # Until the room join is reported (mark_agent_joined) the agent "joined" when its
        # lifecycle was built; the call starts only when the caller answers (mark_started).
        self._joined_monotonic = clock.now()
        self._joined_at = self._wall_clock()
        self._started_monotonic: float | None = None
        self._first: EndRequest | None = None
        self._ignored: list[EndRequest] = []
        self._record: CallEnd | None = None
        self._backstop: TimerHandle | None = None
        self._waiting_for_speech = False
        self._agent_speaking = False
        self._ending_listeners: list[Callable[[EndReason], None]] = []
        self._ended_listeners: list[Callable[[CallEnd], None]] = []
        self.attendance: Callable[[], tuple[Attendance, ...]] = tuple
        """Who was in the room, for the end record (set by ``CallLifecycle``)."""

    # -- wiring -----------------------------------------------------------------------------

    def mark_agent_joined(self) -> None:
        """The agent is in the room (before the caller, usually)."""
        if self._first is None and self._started_monotonic is None:
            self._joined_monotonic = self._clock.now()
            self._joined_at = self._wall_clock()

    def mark_started(self) -> None:
        """The call is answered: the duration counts from here (once; not after the end)."""
        if self._first is None and self._started_monotonic is None:
            self._started_monotonic = self._clock.now()

    def wall_at(self, monotonic: float) -> datetime:
        """The wall clock time of a monotonic reading of this call's clock."""
        return self._joined_at + timedelta(seconds=monotonic - self._joined_monotonic)

    def add_ending_listener(self, listener: Callable[[EndReason], None]) -> None:
        """``listener(reason)`` runs once, synchronously, when the ending starts."""
        self._ending_listeners.append(listener)

    def add_ended_listener(self, listener: Callable[[CallEnd], None]) -> None:
        """``listener(record)`` runs once, just before ``hang_up()``."""
        self._ended_listeners.append(listener)

    # -- what the session tells us ----------------------------------------------------------

    def agent_speaking(self, speaking: bool) -> None:
        self._agent_speaking = speaking
        if not speaking and self._waiting_for_speech:
            self._finish("speech_finished")

    def playout_finished(self) -> None:
        if self._waiting_for_speech:
            self._finish("speech_finished")

    # -- the one decision -------------------------------------------------------------------

    def request_end(
        self,
        reason: EndReason,
        detail: str | None = None,
        *,
        goodbye: str | None = None,
        interrupt: bool | None = None,
    ) -> bool:
        """Ask for the call to end. Returns True if this request decided the end reason.

        ``interrupt`` defaults by reason: False for agent_hangup (its last line must be
        heard), True for everything else. ``goodbye`` is ignored for user_hangup.
        """
        request = EndRequest(reason=reason, detail=detail, at_monotonic=self._clock.now())
        if self._first is not None:
            self._ignored.append(request)
            log.info(
                "call_end_request_ignored",
                reason=reason.value,
                detail=detail,
                decided=self._first.reason.value,
            )
            if reason is EndReason.USER_HANGUP:
                self.caller_gone()
            return False

        self._first = request
        log.info("call_ending", reason=reason.value, detail=detail)
        for listener in self._ending_listeners:
            self._run_listener(listener, reason)

        if reason is EndReason.USER_HANGUP:
            self._interrupt()
            self._finish("immediately")
            return True

        let_finish = (not interrupt) if interrupt is not None else reason in _LET_SPEECH_FINISH
        if not let_finish:
            self._interrupt()
        if goodbye:
            # Interrupted first, the goodbye is all that plays: wait as long as it takes to say
            # (len / 15 chars/s + 2 s, at most 10 s). Queued behind speech of unknown length:
            # wait up to the 10 s cap.
            wait = self._budget.cap_seconds if let_finish else self._budget.for_text(goodbye)
            self._arm_backstop(wait)
            self._say_goodbye(goodbye)
        elif let_finish and self._agent_speaking:
            # The assistant's last sentence is still playing: end when it has been heard.
            self._arm_backstop(self._budget.cap_seconds)
            self._waiting_for_speech = True
        else:
            self._finish("immediately")
        return True

    def caller_gone(self) -> None:
        """The caller has left while the call was ending: nobody is left to hear the goodbye,
        so hang up now (the reason stays the first one)."""
        if self._first is not None and self._record is None:
            self._finish("caller_left")

    # -- results ----------------------------------------------------------------------------

    @property
    def is_ending(self) -> bool:
        """True from the first end request on (including after the hang-up)."""
        return self._first is not None

    @property
    def is_ended(self) -> bool:
        """True once ``hang_up()`` has been called."""
        return self._record is not None

    @property
    def end_reason(self) -> EndReason | None:
        return self._first.reason if self._first else None

    @property
    def end_detail(self) -> str | None:
        return self._first.detail if self._first else None

    @property
    def agent_joined_at(self) -> datetime:
        return self._joined_at

    @property
    def started_at(self) -> datetime | None:
        """When the call was answered; None until then (and for a call never answered)."""
        if self._started_monotonic is None:
            return None
        return self.wall_at(self._started_monotonic)

    @property
    def started_monotonic(self) -> float | None:
        return self._started_monotonic

    @property
    def timeline_origin(self) -> datetime:
        """What offsets in the call are counted from: the answer, else the agent's join."""
        return self.started_at or self._joined_at

    @property
    def ended_at(self) -> datetime | None:
        return self._record.ended_at if self._record else None

    @property
    def ended_monotonic(self) -> float | None:
        return self._record.ended_monotonic if self._record else None

    @property
    def duration_seconds(self) -> float | None:
        return self._record.duration_seconds if self._record else None

    @property
    def record(self) -> CallEnd | None:
        """The end record, once the call has been hung up."""
        return self._record

    @property
    def ignored_requests(self) -> tuple[EndRequest, ...]:
        """Every request that lost to the first, including ones after the hang-up."""
        return tuple(self._ignored)

    # -- internals --------------------------------------------------------------------------

    def _say_goodbye(self, text: str) -> None:
        try:
            line = self._actions.say(text, allow_interruptions=False)
        except Exception:
            log.exception("goodbye_failed")
            self._finish("immediately")
            return
        line.add_done_callback(self._on_goodbye_done)

    def _on_goodbye_done(self, _line: Any) -> None:
        self._finish("goodbye_heard")

    def _arm_backstop(self, seconds: float) -> None:
        self._backstop = self._clock.call_later(seconds, self._on_backstop)

    def _on_backstop(self) -> None:
        log.warning("end_backstop_fired")  # the goodbye or last sentence never finished playing
        self._finish("backstop")

    def _interrupt(self) -> None:
        try:
            self._actions.interrupt()
        except Exception:
            log.exception("interrupt_failed")

    def _finish(self, cause: HangupCause) -> None:
        if self._record is not None or self._first is None:
            return
        self._waiting_for_speech = False
        if self._backstop is not None:
            self._backstop.cancel()
            self._backstop = None
        ended = self._clock.now()
        # Durations from the monotonic clock; wall times derived from one reading (the join),
        # so they always agree. Never answered: no start, and 0 s of call.
        started = self._started_monotonic
        duration = max(0.0, ended - started) if started is not None else 0.0
        self._record = CallEnd(
            reason=self._first.reason,
            detail=self._first.detail,
            agent_joined_at=self._joined_at,
            started_at=self.wall_at(started) if started is not None else None,
            ended_at=self.wall_at(ended),
            caller_join_seconds=(
                round(started - self._joined_monotonic, 3) if started is not None else None
            ),
            agent_joined_monotonic=self._joined_monotonic,
            started_monotonic=started,
            end_requested_monotonic=self._first.at_monotonic,
            ended_monotonic=ended,
            duration_seconds=duration,
            hung_up=cause,
            ignored_requests=tuple(self._ignored),
            participants=self.attendance(),
        )
        log.info(
            "call_ended",
            reason=self._first.reason.value,
            detail=self._first.detail,
            hung_up=cause,
            duration_seconds=round(duration, 3),
            answered=started is not None,
            ending_seconds=round(ended - self._first.at_monotonic, 3),
        )
        for listener in self._ended_listeners:
            self._run_listener(listener, self._record)
        try:
            self._actions.hang_up()
        except Exception:
            log.exception("hang_up_failed")

    @staticmethod
    def _run_listener(listener: Callable[[Any], None], arg: Any) -> None:
        try:
            listener(arg)
        except Exception:
            log.exception("lifecycle_listener_failed")
