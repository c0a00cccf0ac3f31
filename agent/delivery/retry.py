"""When to try a webhook again, and how long to wait first.

Exponential backoff with full jitter (AWS architecture blog's "full jitter"): the n-th wait is
uniform in [0, min(cap, base * 2**(n-1))], so many calls retrying against one recovering
receiver spread out instead of arriving in waves. A receiver's ``Retry-After`` (seconds or an
HTTP date) replaces the computed wait, capped so a hostile header cannot park a delivery
for a day. Everything here is arithmetic; the waiting happens in the sink through an injected
``sleep`` so tests run it on a virtual clock.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

RETRYABLE_STATUSES = frozenset({408, 429})
"""Besides every 5xx: request timeout and rate limiting are worth another try."""


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How hard one delivery is tried before it is parked in the outbox.

    Defaults: base 1 s, cap 30 s -> waits of at most 1, 2, 4, 8, 16, 30, 30 s between
    8 attempts (~91 s worst case), inside a 120 s window that also bounds ``Retry-After``
    waits. The window keeps a down receiver from holding a call's report past the
    300 s session-end budget.
    """

    attempt_timeout: float = 10.0
    """Seconds one attempt (resolve + connect + send + response headers) may take."""
    retry_window: float = 120.0
    """Seconds from the first attempt after which no new attempt starts."""
    max_attempts: int = 8
    """Attempts per delivery, the first one included."""
    backoff_base: float = 1.0
    """Ceiling of the first wait, doubled per attempt."""
    backoff_cap: float = 30.0
    """Largest computed wait."""
    retry_after_cap: float = 60.0
    """Largest wait a receiver's ``Retry-After`` may ask for."""

    def backoff(self, failed_attempts: int, rand: float) -> float:
        """The wait after ``failed_attempts`` failures; ``rand`` is uniform in [0, 1)."""
        exponent = min(failed_attempts - 1, 62)  # 2**62 s is past any cap; avoids overflow
        ceiling = min(self.backoff_cap, self.backoff_base * 2.0**exponent)
        return max(0.0, rand) * ceiling

    def honour_retry_after(self, seconds: float) -> float:
        return min(max(0.0, seconds), self.retry_after_cap)


def is_retryable_status(status: int) -> bool:
    return status in RETRYABLE_STATUSES or 500 <= status <= 599


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP date
    (relative to ``now``, unix seconds). None when absent or unreadable."""
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return seconds if math.isfinite(seconds) and seconds >= 0 else None
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # HTTP dates are GMT by definition
        return None
    return max(0.0, when.timestamp() - now)
