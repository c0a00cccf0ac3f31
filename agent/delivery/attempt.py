"""One HTTP attempt at a delivery, and what its result means for the next step.

Kept apart from the queueing in :mod:`agent.delivery.webhook` so the live sink and outbox replay
send through the same code: check the target, pin the connection to the checked addresses,
sign with a fresh timestamp, POST without following redirects, classify the answer.
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

import aiohttp
from pydantic import BaseModel, ConfigDict

from agent.delivery.base import Delivery
from agent.delivery.retry import is_retryable_status, parse_retry_after
from agent.delivery.signing import delivery_headers
from agent.delivery.target_policy import PinnedResolver, TargetPolicy, TargetRefused

_MAX_RESPONSE_BYTES = 64 * 1024

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
    session: aiohttp.ClientSession,
    resolver: PinnedResolver,
    policy: TargetPolicy,
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
        async with asyncio.timeout(attempt_timeout):
            target = await policy.check(delivery.url)
            resolver.pin(target)
            async with session.post(
                delivery.url,
                data=delivery.body,
                headers=delivery_headers(delivery, wall_clock()),
                allow_redirects=False,
            ) as response:
                status = response.status
                retry_after_header = response.headers.get("Retry-After")
                # The body is not ours to keep; reading a small one lets the connection go
                # back to the pool, and a huge one is cut off (the connection is then closed).
                await response.content.read(_MAX_RESPONSE_BYTES)
    except TargetRefused as exc:
        return AttemptResult(Verdict.REFUSED, record(None, f"refused: {exc.reason}"))
    except TimeoutError:
        return AttemptResult(Verdict.RETRY, record(None, "timeout"))
    except (aiohttp.ClientError, OSError) as exc:
        return AttemptResult(Verdict.RETRY, record(None, f"connection: {type(exc).__name__}"))

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
