"""The default sink: signed HTTP webhooks, in order per call, retried, never silently lost.

Each call gets one lane: a FIFO queue and, while it has work, one worker task. So a call's
status-update always reaches the receiver before its end-of-call report, and a receiver that
is down for one call never delays another call's events. A delivery is retried (backoff with
full jitter, ``Retry-After`` honoured) while it is worth it; once it is not, or when the
worker stops with work pending, it is parked in the outbox for replay.

All waiting goes through the injected ``sleep`` and all window arithmetic through the
injected ``clock``, so tests drive retries on a virtual clock.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import structlog

from agent.clock import RealClock
from agent.delivery.attempt import (
    SIGNATURE_UNAVAILABLE,
    AttemptRecord,
    Verdict,
    post_once,
    url_host,
)
from agent.delivery.base import Delivery
from agent.delivery.http_post import SessionFactory, SignedPost, default_session
from agent.delivery.retry import RetryPolicy
from agent.delivery.target_policy import TargetPolicy

if TYPE_CHECKING:
    from agent.delivery.outbox import Outbox

log = structlog.get_logger(__name__)

Outcome = Literal["delivered", "outboxed", "gone", "refused", "lost"]
"""``lost`` only when the outbox itself could not be written (disk full, read-only volume)."""
Sleep = Callable[[float], Awaitable[None]]

_KEPT_CALLS = 1024  # outcome stats of this many recent calls are kept for the lead to read

GONE = "gone: the receiver answered 410 Gone"
GONE_EARLIER = "gone: not sent, the receiver answered 410 Gone to an earlier delivery of this call"


@dataclass(frozen=True, slots=True)
class DeliveryOutcome:
    """How one delivery ended; the lead turns these into metrics and the call's summary line."""

    delivery_id: str
    call_id: str
    event_type: str
    seq: int
    outcome: Outcome
    attempts: int
    status: int | None
    """The last HTTP status received, None when no response ever arrived."""
    latency_seconds: float
    """From submit to outcome, backoff waits included."""
    reason: str | None = None
    """Why it was not delivered (``http_400``, ``retries_exhausted``, ``shutdown``...)."""


@dataclass(frozen=True, slots=True)
class SendResult:
    """The end of one delivery's attempts: DELIVERED, FAILED, GONE or REFUSED."""

    verdict: Verdict
    attempts: tuple[AttemptRecord, ...]
    reason: str | None


@dataclass(slots=True)
class _Queued:
    delivery: Delivery
    submitted: float
    attempts: list[AttemptRecord] = field(default_factory=list)
    finished: bool = False


@dataclass(slots=True)
class _Lane:
    queue: deque[_Queued] = field(default_factory=deque)
    task: asyncio.Task[None] | None = None
    idle: asyncio.Event = field(default_factory=asyncio.Event)
    gone_urls: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.idle.set()


class WebhookSink:
    """Signed webhooks with per-call ordering, retries, and the outbox behind them.

    ``submit`` only enqueues. A delivery without a URL is skipped. A delivery that must be
    signed but has no secret is parked at once, never sent. A 410 stops delivery to that URL
    for the rest of the call: the delivery answered 410 and every later one to that URL are
    parked as ``gone`` (held in the outbox, listed, not replayed unless asked).
    ``flush``/``aclose`` wait up to ``timeout`` (real time: they bound a shutdown), then park
    whatever is still queued or in flight; a delivery cut off mid-request may therefore reach
    the receiver twice, with the same ``X-Webhook-Id``.
    """

    def __init__(
        self,
        policy: TargetPolicy,
        outbox: Outbox,
        *,
        attempt_timeout: float = 10.0,
        retry_window: float = 120.0,
        max_attempts: int = 8,
        backoff_base: float = 1.0,
        backoff_cap: float = 30.0,
        retry_after_cap: float = 60.0,
        max_queue_per_call: int = 1000,
        sleep: Sleep = asyncio.sleep,
        rand: Callable[[], float] = random.random,
        clock: Callable[[], float] | None = None,
        wall_clock: Callable[[], float] = time.time,
        session_factory: SessionFactory = default_session,
    ) -> None:
        self.policy = policy
        self.outbox = outbox
        self.retry = RetryPolicy(
            attempt_timeout=attempt_timeout,
            retry_window=retry_window,
            max_attempts=max_attempts,
            backoff_base=backoff_base,
            backoff_cap=backoff_cap,
            retry_after_cap=retry_after_cap,
        )
        self._max_queue = max_queue_per_call
        self._sleep = sleep
        self._rand = rand
        # Windows on the clock the waits run on: the loop's (call time on a sped-up
        # simulation's loop); signatures on the wall, as the receiver checks them.
        self._clock = clock or RealClock().now
        self._wall_clock = wall_clock
        self._poster = SignedPost(policy, session_factory=session_factory, wall_clock=wall_clock)
        self._lanes: dict[str, _Lane] = {}
        self._outcomes: OrderedDict[str, list[DeliveryOutcome]] = OrderedDict()
        self._closed = False

    # ---- the EventSink contract -------------------------------------------------------

    async def submit(self, delivery: Delivery) -> None:
        bound = log.bind(call_id=delivery.call_id, delivery_id=delivery.delivery_id)
        if delivery.url is None:
            bound.debug("webhook_skipped_no_url", event_type=delivery.event_type)
            return
        item = _Queued(delivery, self._clock())
        if delivery.unsigned_but_required:
            bound.error("webhook_not_sent_unsigned", event_type=delivery.event_type)
            await self._park(item, SIGNATURE_UNAVAILABLE)
            return
        if self._closed:
            await self._park(item, "sink_closed")
            return
        lane = self._lanes.setdefault(delivery.call_id, _Lane())
        if len(lane.queue) >= self._max_queue:
            # A receiver down for a long call must not grow memory without bound; replay
            # orders the outbox by seq, so the order is restored there.
            await self._park(item, "queue_full")
            return
        lane.queue.append(item)
        lane.idle.clear()
        if lane.task is None:
            lane.task = asyncio.create_task(
                self._run_lane(lane), name=f"webhook-lane-{delivery.call_id}"
            )

    async def flush(self, call_id: str | None = None, timeout: float = 30.0) -> None:  # noqa: ASYNC109
        await self._drain(call_id, timeout, "flush_timeout")

    async def aclose(self, timeout: float = 30.0) -> None:  # noqa: ASYNC109
        self._closed = True
        await self._drain(None, timeout, "shutdown")
        await self._poster.aclose()

    async def _drain(self, call_id: str | None, within: float, reason: str) -> None:
        lanes = list(self._lanes.values()) if call_id is None else [self._lanes.get(call_id)]
        busy = [lane for lane in lanes if lane is not None and not lane.idle.is_set()]
        if not busy:
            return
        try:
            async with asyncio.timeout(within):
                await asyncio.gather(*(lane.idle.wait() for lane in busy))
        except TimeoutError:
            for lane in busy:
                await self._stop_lane(lane, reason)

    # ---- stats ------------------------------------------------------------------------

    def outcomes(self, call_id: str) -> list[DeliveryOutcome]:
        """Outcomes recorded so far for ``call_id``, in the order they happened."""
        return list(self._outcomes.get(call_id, ()))

    def forget(self, call_id: str) -> None:
        """Drop a finished call's stats and 410 memory (call after reading ``outcomes``)."""
        self._outcomes.pop(call_id, None)
        lane = self._lanes.get(call_id)
        if lane is not None and lane.idle.is_set():
            del self._lanes[call_id]

    # ---- sending ----------------------------------------------------------------------

    async def send(self, delivery: Delivery) -> SendResult:
        """Try ``delivery`` until it is delivered or not worth retrying; never parks it.

        Used by the lanes and by outbox replay, so both retry the same way.
        """
        bound = log.bind(
            call_id=delivery.call_id,
            delivery_id=delivery.delivery_id,
            event_type=delivery.event_type,
            seq=delivery.seq,
            host=url_host(delivery.url),
        )
        first_attempt = self._clock()
        attempts: list[AttemptRecord] = []
        while True:
            result = await post_once(
                self._poster,
                delivery,
                attempt_timeout=self.retry.attempt_timeout,
                wall_clock=self._wall_clock,
                clock=self._clock,
            )
            attempts.append(result.record)
            if result.verdict is not Verdict.RETRY:
                return SendResult(result.verdict, tuple(attempts), result.record.error)
            if len(attempts) >= self.retry.max_attempts:
                return SendResult(Verdict.FAILED, tuple(attempts), "retries_exhausted")
            if result.retry_after is not None:
                delay = self.retry.honour_retry_after(result.retry_after)
            else:
                delay = self.retry.backoff(len(attempts), self._rand())
            # No attempt starts after the window: e.g. window 120 s, 100 s spent, a 30 s
            # wait would start attempt n+1 at 130 s -> park now instead of sleeping.
            if self._clock() - first_attempt + delay > self.retry.retry_window:
                return SendResult(Verdict.FAILED, tuple(attempts), "retry_window_ended")
            bound.info(
                "webhook_retry",
                attempt=len(attempts),
                status=result.record.status,
                error=result.record.error,
                delay_seconds=round(delay, 3),
            )
            await self._sleep(delay)

    async def _run_lane(self, lane: _Lane) -> None:
        while lane.queue:
            # Peek, pop only when done: a flush timeout that cancels this task finds the
            # in-flight delivery still queued and parks it.
            item = lane.queue[0]
            try:
                await self._handle(lane, item)
            except Exception:
                # A bug here must not wedge the call's lane: park and carry on.
                log.exception(
                    "webhook_lane_error",
                    call_id=item.delivery.call_id,
                    delivery_id=item.delivery.delivery_id,
                )
                if not item.finished:
                    await self._park(item, "internal_error")
            lane.queue.popleft()
        lane.task = None
        lane.idle.set()

    async def _handle(self, lane: _Lane, item: _Queued) -> None:
        delivery = item.delivery
        assert delivery.url is not None
        if delivery.url in lane.gone_urls:
            await self._park(item, GONE_EARLIER, outcome="gone")
            return
        result = await self.send(delivery)
        item.attempts.extend(result.attempts)
        if result.verdict is Verdict.DELIVERED:
            self._record(item, "delivered", None)
        elif result.verdict is Verdict.GONE:
            lane.gone_urls.add(delivery.url)
            await self._park(item, GONE, outcome="gone")
        elif result.verdict is Verdict.REFUSED:
            # Parked all the same: the operator may allow the target and replay.
            await self._park(item, result.reason or "refused", outcome="refused")
        else:
            await self._park(item, result.reason or "failed")

    async def _stop_lane(self, lane: _Lane, reason: str) -> None:
        task = lane.task
        if task is not None and not task.done():
            task.cancel()
            await asyncio.wait([task])
        while lane.queue:
            item = lane.queue.popleft()
            if not item.finished:
                await self._park(item, reason)
        lane.task = None
        lane.idle.set()

    async def _park(self, item: _Queued, reason: str, outcome: Outcome = "outboxed") -> None:
        # Claimed before the first await: a lane stopped while this write runs in its thread
        # must not park the same item a second time (and replay it twice).
        item.finished = True
        delivery = item.delivery
        bound = _delivery_log(delivery).bind(reason=reason, attempts=len(item.attempts))
        try:
            # File I/O with fsync runs in a thread so the event loop (and audio) never waits.
            path = await asyncio.shield(
                asyncio.to_thread(
                    self.outbox.park,
                    delivery,
                    reason=reason,
                    attempts=item.attempts,
                    gone=outcome == "gone",
                )
            )
        except OSError as exc:
            bound.error("webhook_lost", error=f"outbox write failed: {type(exc).__name__}")
            self._record(item, "lost", f"{reason}; outbox write failed")
            return
        if outcome == "refused":
            bound.error("webhook_refused", file=path.name)
        elif outcome == "gone":
            bound.warning("webhook_gone", file=path.name)
        else:
            bound.warning("webhook_parked", file=path.name)
        self._record(item, outcome, reason)

    def _record(self, item: _Queued, outcome: Outcome, reason: str | None) -> None:
        item.finished = True
        delivery = item.delivery
        last_status = _last_status(item.attempts)
        record = DeliveryOutcome(
            delivery_id=delivery.delivery_id,
            call_id=delivery.call_id,
            event_type=delivery.event_type,
            seq=delivery.seq,
            outcome=outcome,
            attempts=len(item.attempts),
            status=last_status,
            latency_seconds=self._clock() - item.submitted,
            reason=reason,
        )
        if outcome == "delivered":
            log.info(
                "webhook_delivered",
                call_id=delivery.call_id,
                delivery_id=delivery.delivery_id,
                event_type=delivery.event_type,
                seq=delivery.seq,
                status=last_status,
                attempts=record.attempts,
            )
        self._outcomes.setdefault(delivery.call_id, []).append(record)
        self._outcomes.move_to_end(delivery.call_id)
        while len(self._outcomes) > _KEPT_CALLS:
            evicted, _ = self._outcomes.popitem(last=False)
            lane = self._lanes.get(evicted)
            if lane is not None and lane.idle.is_set():
                del self._lanes[evicted]


def _delivery_log(delivery: Delivery) -> structlog.stdlib.BoundLogger:
    """A logger carrying what identifies a delivery (never its body, URL path or query)."""
    bound: structlog.stdlib.BoundLogger = log.bind(
        call_id=delivery.call_id,
        delivery_id=delivery.delivery_id,
        event_type=delivery.event_type,
        seq=delivery.seq,
        host=url_host(delivery.url),
    )
    return bound


def _last_status(attempts: Sequence[AttemptRecord]) -> int | None:
    for attempt in reversed(attempts):
        if attempt.status is not None:
            return attempt.status
    return None
