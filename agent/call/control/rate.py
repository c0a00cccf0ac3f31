"""At most N control commands per window per call: a sliding window on an injectable clock.

A command is counted when it is accepted for execution; a refused one (rate, sender,
validation) is not, so a flood of junk cannot lock out the backend's real commands for long.
With 10 per 60 s: commands at t = 0..9 s are taken, the 11th at t = 30 s is refused, and at
t = 60 s the first has left the window (60 - 0 >= 60), so one more is taken.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

COMMANDS_PER_WINDOW = 10
WINDOW_SECONDS = 60.0


class SlidingWindowLimit:
    def __init__(
        self,
        now: Callable[[], float],
        *,
        limit: int = COMMANDS_PER_WINDOW,
        window_seconds: float = WINDOW_SECONDS,
    ) -> None:
        self._now = now
        self._limit = limit
        self._window = window_seconds
        self._taken: deque[float] = deque()

    def try_take(self) -> bool:
        """Count one command if the window has room; False (nothing counted) otherwise."""
        now = self._now()
        while self._taken and now - self._taken[0] >= self._window:
            self._taken.popleft()
        if len(self._taken) >= self._limit:
            return False
        self._taken.append(now)
        return True
