"""The hard limit on a call's length, which the framework does not have.

At ``max_duration_seconds`` after the call started, the limit interrupts whatever is going on
(speech, thinking, a tool call), speaks ``max_duration_message`` and ends with
``max_duration``. ``CallEnding`` guarantees the hang-up even if that goodbye never plays.

The arithmetic, with the defaults (600 s limit, the 52-character default message):

    t = 600.0 s          limit reached: interrupt, queue the goodbye, arm the backstop
    t ≈ 603.5 s          goodbye heard (52 chars at ~15 chars/s), hang up    <- normal case
    t = 605.47 s         backstop: 600 + 52/15 + 2.0 s margin, hang up      <- TTS down
    t ≤ 610.0 s          the backstop never exceeds limit + 10 s (GoodbyeBudget.cap_seconds)

So no call outlives its limit by more than ``cap_seconds`` (10 s), ever. A call that was
already ending before the limit keeps its own reason; its own backstop (also at most 10 s
from when it started ending) bounds it, so the same guarantee holds.
"""

from __future__ import annotations

import structlog

from agent.call.lifecycle.ending import CallEnding
from agent.clock import Clock, TimerHandle
from agent.contracts.end_reason import EndReason

log = structlog.get_logger(__name__)


class MaxDurationPolicy:
    """One timer, armed at call start, that ends the call at its limit."""

    def __init__(
        self,
        clock: Clock,
        ending: CallEnding,
        *,
        max_duration_seconds: float,
        message: str | None,
    ) -> None:
        self._clock = clock
        self._ending = ending
        self._limit = max_duration_seconds
        self._message = message or None
        self._timer: TimerHandle | None = None
        self._deadline: float | None = None
        ending.add_ending_listener(lambda _reason: self.stop())

    def start(self) -> None:
        if self._timer is not None or self._ending.is_ending:
            return
        self._deadline = self._clock.now() + self._limit
        self._timer = self._clock.call_later(self._limit, self._on_limit)

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    @property
    def deadline(self) -> float | None:
        """Monotonic time at which the limit fires, once started."""
        return self._deadline

    def _on_limit(self) -> None:
        self._timer = None
        log.info("max_duration_reached", limit_seconds=self._limit)
        self._ending.request_end(
            EndReason.MAX_DURATION,
            f"limit of {self._limit:g} s reached",
            goodbye=self._message,
            interrupt=True,
        )
