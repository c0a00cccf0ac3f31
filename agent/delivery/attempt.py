"""One HTTP attempt at a delivery, and what its result means for the next step.

Kept apart from the queueing in :mod:`agent.delivery.webhook` so the live sink and outbox replay
send through the same code: the one signed POST (:mod:`agent.delivery.http_post`: check the
target, pin the connection, sign with a fresh timestamp, no redirects, the answer read whole up
to 64 KB), then the answer classified. A receiver's body is not ours to keep; reading it lets
the connection go back to the pool, and one over the cap is dropped with its connection (the
delivery still counts by its status: the receiver did get it).
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict

from agent.delivery.base import Delivery
from agent.delivery.http_post import PostFailed, PostFailure, SignedPost
from agent.delivery.retry import is_retryable_status, parse_retry_after

MAX_RESPONSE_BYTES = 64 * 1024

SIGNATURE_UNAVAILABLE = "signature_unavailable"
"""Why a delivery the document asked to be signed was not sent: its secret did not resolve and
the worker has no default secret (`VOICE_AGENT_WEBHOOK_SECRET`) to sign it with."""


class Verdict(enum.StrEnum):
    DELIVERED = "delivered"
    RETRY = "retry"
    """Connection error, timeout, 408, 429 or 5xx: try again after a wait."""
    FAILED = "failed"
    """Any other 4xx, or a redirect (never followed): trying again will not help."""
    GONE = "gone"
    """410: the receiver wants nothing more at this URL for this call."""
    REFUSED = "refused"
    """The SSRF policy refused the target; nothing was sent."""


class AttemptRecord(BaseModel):
    """One attempt, as stored in the outbox file and counted in the stats."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    at: float
    """Unix time the attempt started."""
    status: int | None = None
    """HTTP status, None when no response arrived."""
    error: str | None = None
    """Short cause when not delivered (``timeout``, ``connection``, ``http_500``, ...)."""
    seconds: float = 0.0
    """How long the attempt took."""


@dataclass(frozen=True, slots=True)
class AttemptResult:
    verdict: Verdict
    record: AttemptRecord
    retry_after: float | None = None
    """Seconds the receiver asked us to wait (``Retry-After``), when it did."""


def url_host(url: str | None) -> str:
    """The host of ``url`` for logs: never the path or query, which may carry tokens."""
    if not url:
        return "<none>"
    try:
        return urlsplit(url).hostname or "<none>"
    except ValueError:
        return "<invalid>"


async def post_once(
    poster: SignedPost,
    delivery: Delivery,
    *,
    attempt_timeout: float,
    wall_clock: Callable[[], float],
    clock: Callable[[], float],
) -> AttemptResult:
    """Send ``delivery`` once. Never raises for a receiver's or the network's failure."""
    assert delivery.url is not None  # callers skip deliveries without a receiver
    started_at = wall_clock()
    started = clock()

    def record(status: int | None, error: str | None) -> AttemptRecord:
        return AttemptRecord(at=started_at, status=status, error=error, seconds=clock() - started)

    if delivery.unsigned_but_required:
        # Signed means signed: the live sink parks these before trying; replay ends up here.
        return AttemptResult(Verdict.REFUSED, record(None, SIGNATURE_UNAVAILABLE))

    try:
        answer = await poster.post(delivery, max_body=MAX_RESPONSE_BYTES, timeout=attempt_timeout)
    except PostFailed as exc:
        if exc.failure is PostFailure.REFUSED:
            return AttemptResult(Verdict.REFUSED, record(None, f"refused: {exc.detail}"))
        if exc.failure is PostFailure.TIMEOUT:
            return AttemptResult(Verdict.RETRY, record(None, "timeout"))
        return AttemptResult(Verdict.RETRY, record(None, f"connection: {exc.detail}"))

    status, retry_after_header = answer.status, answer.retry_after
    if 200 <= status <= 299:
        return AttemptResult(Verdict.DELIVERED, record(status, None))
    if status == 410:
        return AttemptResult(Verdict.GONE, record(status, "gone"))
    if is_retryable_status(status):
        retry_after = parse_retry_after(retry_after_header, wall_clock())
        return AttemptResult(Verdict.RETRY, record(status, f"http_{status}"), retry_after)
    if 300 <= status <= 399:
        return AttemptResult(Verdict.FAILED, record(status, "redirect_not_followed"))
    return AttemptResult(Verdict.FAILED, record(status, f"http_{status}"))
