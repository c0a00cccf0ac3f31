"""Time as a call sees it: a monotonic ``now()`` with cancellable timers, and a time base.

Silence prompts, the max-duration limit and the goodbye backstop are all timers. Written
against this small ``Clock`` protocol instead of ``asyncio`` directly, the same logic runs
on the event loop in production (``RealClock``) and on a ``VirtualClock`` in tests, where a
ten-minute call with three silence stages takes microseconds, never sleeps and never flakes.

The virtual clock is deterministic: timers fire in order of due time, and timers due at
the same instant fire in the order they were scheduled. ``advance`` also runs timers that
callbacks schedule inside the advanced window, each at its own due time, so a chain such as
"prompt at 7.5 s, next prompt 7.5 s after that" plays out exactly as it would on the loop.

A ``TimeBase`` is what a call stamps and measures with: epoch seconds for the call record's
times (on the same base as the framework's ``time.time()`` stamps on chat items, which the
record subtracts) and monotonic seconds for durations (``tool_ms``). Production uses
``REAL_TIME``; a simulated call sped up N times (agent/simulator/speed.py) hands the
composition root its call clock instead, so the report states call time.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

TimerCallback = Callable[[], None]


class TimeBase(Protocol):
    """The two readings a call stamps its record with, running at one pace."""

    def monotonic(self) -> float:
        """Seconds for durations; only differences mean anything."""

    def wall(self) -> float:
        """Epoch seconds: the base of the framework's ``time.time()`` stamps."""


class RealTime:
    """The wall's own pace: ``time.monotonic()`` and ``time.time()``."""

    def monotonic(self) -> float:
        return time.monotonic()

    def wall(self) -> float:
        return time.time()


REAL_TIME: TimeBase = RealTime()


class TimerHandle(Protocol):
    """A scheduled callback that can still be called off."""

    def cancel(self) -> None:
        """Stop the callback from running; a no-op once it ran or was cancelled."""


class Clock(Protocol):
    """Monotonic time plus one-shot timers: everything the lifecycle needs from time."""

    def now(self) -> float:
        """Monotonic seconds; only differences between two readings mean anything."""

    def call_later(self, delay: float, callback: TimerCallback) -> TimerHandle:
        """Run ``callback`` once, ``delay`` seconds from now (negative delays mean now)."""


class RealClock:
    """The production clock: the running asyncio loop's monotonic time and timers.

    ``now()`` is ``loop.time()`` so it agrees with the loop's own timer scheduling; outside a
    running loop it falls back to ``time.monotonic()`` (the default loop's clock).
    """

    def now(self) -> float:
        try:
            return asyncio.get_running_loop().time()
        except RuntimeError:
            return time.monotonic()

    def call_later(self, delay: float, callback: TimerCallback) -> TimerHandle:
        # Raises RuntimeError without a running loop: timers only make sense inside a job.
        return asyncio.get_running_loop().call_later(max(0.0, delay), callback)


@dataclass(order=True)
class _VirtualTimer:
    due: float
    seq: int
    callback: TimerCallback = field(compare=False)
    cancelled: bool = field(default=False, compare=False)

    def cancel(self) -> None:
        self.cancelled = True


class VirtualClock:
    """A clock that only moves when a test says so.

    Works the same from sync and async tests: callbacks run synchronously inside
    ``advance`` / ``run_until_idle``, in due-time order, ties in scheduling order.
    """

    def __init__(self, start: float = 0.0) -> None:
        self._now = start
        self._timers: list[_VirtualTimer] = []
        self._seq = itertools.count()
        self._running = False

    def now(self) -> float:
        return self._now

    def call_later(self, delay: float, callback: TimerCallback) -> TimerHandle:
        timer = _VirtualTimer(self._now + max(0.0, delay), next(self._seq), callback)
        heapq.heappush(self._timers, timer)
        return timer

    @property
    def pending(self) -> int:
        """Timers scheduled and not yet run or cancelled."""
        return sum(1 for t in self._timers if not t.cancelled)

    def next_due(self) -> float | None:
        """When the earliest live timer fires, or None when nothing is scheduled."""
        self._drop_cancelled()
        return self._timers[0].due if self._timers else None

    def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds``, running every timer that falls due on the way.

        Each callback sees ``now()`` equal to its own due time; timers that callbacks
        schedule inside the window run too. Afterwards ``now()`` is exactly start + seconds.
        """
        if seconds < 0:
            raise ValueError("a clock cannot go backwards")
        target = self._now + seconds
        self._run(until=target)
        self._now = target

    def advance_to(self, when: float) -> None:
        """Advance to the absolute time ``when`` (not earlier than now)."""
        self.advance(when - self._now)

    def run_until_idle(self, *, max_callbacks: int = 100_000) -> None:
        """Run timers until none is left, moving time to each one's due time.

        ``max_callbacks`` guards tests against a timer that always re-arms itself.
        """
        self._run(until=None, max_callbacks=max_callbacks)

    def _run(self, *, until: float | None, max_callbacks: int = 100_000) -> None:
        if self._running:
            raise RuntimeError("advance/run_until_idle called from inside a timer callback")
        self._running = True
        try:
            ran = 0
            while True:
                self._drop_cancelled()
                if not self._timers or (until is not None and self._timers[0].due > until):
                    return
                timer = heapq.heappop(self._timers)
                self._now = max(self._now, timer.due)
                ran += 1
                if ran > max_callbacks:
                    raise RuntimeError(f"more than {max_callbacks} timers ran: a timer loop?")
                timer.callback()
        finally:
            self._running = False

    def _drop_cancelled(self) -> None:
        while self._timers and self._timers[0].cancelled:
            heapq.heappop(self._timers)
