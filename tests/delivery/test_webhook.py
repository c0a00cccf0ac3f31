"""The webhook sink against real receivers on 127.0.0.1: retries, ordering, ids, signing.

Backoff waits run on a virtual clock (``VirtualClock.sleep`` records and returns); the only
real waiting is the tiny per-attempt timeout of the slow-receiver test, which is a network
timeout, not a timer under test.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from structlog.testing import capture_logs

from agent.delivery.outbox import Outbox
from agent.delivery.target_policy import TargetPolicy
from agent.delivery.webhook import WebhookSink
from tests.support.receiver import SECRET, Receiver, Reply, VirtualClock, make_delivery


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


@pytest.fixture
def outbox(tmp_path: Path) -> Outbox:
    return Outbox(tmp_path / "outbox")


def make_sink(clock: VirtualClock, outbox: Outbox, **options: Any) -> WebhookSink:
    options.setdefault("rand", lambda: 0.5)
    return WebhookSink(
        TargetPolicy.loopback_allowed(),
        outbox,
        sleep=clock.sleep,
        clock=clock.monotonic,
        wall_clock=clock.wall,
        **options,
    )


async def test_flaky_receiver_is_retried_with_jittered_backoff(
    receiver: Receiver, clock: VirtualClock, outbox: Outbox
) -> None:
    url = receiver.script("/flaky", Reply(500), Reply(500), Reply(200))
    sink = make_sink(clock, outbox, backoff_base=1.0)
    delivery = make_delivery(url)
    await sink.submit(delivery)
    await sink.flush(delivery.call_id)
    await sink.aclose()

    got = receiver.at("/flaky")
    assert len(got) == 3
    # full jitter with rand 0.5: 0.5 * min(cap, 1 * 2**0), then 0.5 * 2**1
    assert clock.sleeps == [0.5, 1.0]
    assert {r.headers["X-Webhook-Id"] for r in got} == {delivery.delivery_id}
    assert all(r.signature_ok for r in got)
    assert all(r.body == delivery.body for r in got)
    assert all(r.headers["X-Webhook-Event"] == "status-update" for r in got)
    assert all(r.headers["Content-Type"] == "application/json" for r in got)
    # each attempt is signed with its own (virtual) time
    assert [r.headers["X-Webhook-Timestamp"] for r in got] == [
        "1700000000",
        "1700000000",
        "1700000001",
    ]
    [outcome] = sink.outcomes(delivery.call_id)
    assert (outcome.outcome, outcome.attempts, outcome.status) == ("delivered", 3, 200)
    assert outbox.pending() == []


async def test_a_receiver_answering_a_huge_body_still_counts_as_delivered(
    receiver: Receiver, clock: VirtualClock, outbox: Outbox
) -> None:
    # The body is read whole only up to 64 KB; past that the connection is dropped, unread.
    url = receiver.script("/chatty", Reply(200, body=b"x" * 1_000_000))
    sink = make_sink(clock, outbox)
    first, second = make_delivery(url, seq=1), make_delivery(url, seq=2)
    await sink.submit(first)
    await sink.submit(second)  # a fresh connection after the dropped one
    await sink.flush(first.call_id)
    await sink.aclose()

    assert [r.body for r in receiver.at("/chatty")] == [first.body, second.body]
    outcomes = sink.outcomes(first.call_id)
    assert [(o.outcome, o.attempts, o.status) for o in outcomes] == [("delivered", 1, 200)] * 2
    assert outbox.pending() == []


async def test_slow_receiver_times_out_and_the_retry_delivers(
    receiver: Receiver, clock: VirtualClock, outbox: Outbox
) -> None:
    url = receiver.script("/slow", Reply(hang=True), Reply(200))
    sink = make_sink(clock, outbox, attempt_timeout=0.05)
    delivery = make_delivery(url)
    await sink.submit(delivery)
    await sink.flush(delivery.call_id)
    await sink.aclose()

    [outcome] = sink.outcomes(delivery.call_id)
    assert (outcome.outcome, outcome.attempts) == ("delivered", 2)
    assert len(receiver.at("/slow")) == 2
    assert len(clock.sleeps) == 1


@pytest.mark.parametrize(
    ("retry_after", "expected_wait"),
    [
        ("7", 7.0),
        (format_datetime(datetime.fromtimestamp(1_700_000_012, UTC), usegmt=True), 12.0),
        ("3600", 60.0),  # capped by retry_after_cap
    ],
)
async def test_429_honours_retry_after(
    receiver: Receiver,
    clock: VirtualClock,
    outbox: Outbox,
    retry_after: str,
    expected_wait: float,
) -> None:
    url = receiver.script("/busy", Reply(429, {"Retry-After": retry_after}), Reply(204))
    sink = make_sink(clock, outbox, retry_after_cap=60.0, retry_window=300.0)
    delivery = make_delivery(url)
    await sink.submit(delivery)
    await sink.aclose()

    assert clock.sleeps == [expected_wait]
    assert [o.outcome for o in sink.outcomes(delivery.call_id)] == ["delivered"]


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        (Reply(400), "http_400"),
        (Reply(401), "http_401"),
        (Reply(404), "http_404"),
        (Reply(302, {"Location": "/elsewhere"}), "redirect_not_followed"),
    ],
)
async def test_non_retryable_answers_are_parked_after_one_attempt(
    receiver: Receiver, clock: VirtualClock, outbox: Outbox, reply: Reply, reason: str
) -> None:
    url = receiver.script("/hook", reply)
    sink = make_sink(clock, outbox)
    delivery = make_delivery(url)
    await sink.submit(delivery)
    await sink.aclose()

    assert len(receiver.at("/hook")) == 1
    assert receiver.at("/elsewhere") == []  # a redirect is never followed
    assert clock.sleeps == []
    [outcome] = sink.outcomes(delivery.call_id)
    assert (outcome.outcome, outcome.attempts, outcome.reason) == ("outboxed", 1, reason)
    [parked] = outbox.pending()
    assert parked.entry.delivery_id == delivery.delivery_id
    assert parked.entry.reason == reason


async def test_410_stops_delivery_to_that_url_for_that_call_only(
    receiver: Receiver, clock: VirtualClock, outbox: Outbox
) -> None:
    url = receiver.script("/gone", Reply(410), Reply(200))
    sink = make_sink(clock, outbox)
    first, second, third = (make_delivery(url, seq=n) for n in (1, 2, 3))
    other_call = make_delivery(url, call_id="call-2")
    for delivery in (first, second, third):
        await sink.submit(delivery)
    await sink.flush("call-1")
    await sink.submit(other_call)
    await sink.aclose()

    received_ids = [r.headers["X-Webhook-Id"] for r in receiver.at("/gone")]
    assert received_ids == [first.delivery_id, other_call.delivery_id]
    outcomes = sink.outcomes("call-1")
    assert [o.outcome for o in outcomes] == ["gone", "gone", "gone"]
    assert [o.attempts for o in outcomes] == [1, 0, 0]
    assert [o.outcome for o in sink.outcomes("call-2")] == ["delivered"]
    # nothing dropped silently: all three are parked as gone, with why
    parked = outbox.pending()
    assert [p.entry.delivery_id for p in parked] == [d.delivery_id for d in (first, second, third)]
    assert all(p.entry.gone for p in parked)
    assert parked[0].entry.reason == "gone: the receiver answered 410 Gone"
    assert "earlier delivery" in parked[1].entry.reason


async def test_each_call_keeps_its_order_under_retries(
    receiver: Receiver, clock: VirtualClock, outbox: Outbox
) -> None:
    # Every delivery fails once before it succeeds, so a sink that retried out of order
    # (or in parallel within a call) would deliver a later seq first.
    seen: set[str] = set()

    def fail_first_time(request: web.Request) -> None:
        delivery_id = request.headers["X-Webhook-Id"]
        receiver.scripts[request.path] = [Reply(200 if delivery_id in seen else 503)]
        seen.add(delivery_id)

    receiver.before = fail_first_time
    url_a, url_b = receiver.url("/a"), receiver.url("/b")
    sink = make_sink(clock, outbox)
    for seq in range(1, 6):
        await sink.submit(make_delivery(url_a, call_id="A", seq=seq))
        await sink.submit(make_delivery(url_b, call_id="B", seq=seq))
    await sink.aclose()

    def delivered_seqs(path: str) -> list[int]:
        # Each delivery arrives twice (503, then 200); its second arrival is the success.
        arrivals: dict[str, int] = {}
        successes: list[int] = []
        for r in receiver.at(path):
            delivery_id = r.headers["X-Webhook-Id"]
            arrivals[delivery_id] = arrivals.get(delivery_id, 0) + 1
            if arrivals[delivery_id] == 2:
                successes.append(json.loads(r.body)["message"]["seq"])
        return successes

    assert delivered_seqs("/a") == [1, 2, 3, 4, 5]
    assert delivered_seqs("/b") == [1, 2, 3, 4, 5]
    assert [o.seq for o in sink.outcomes("A")] == [1, 2, 3, 4, 5]
    assert all(o.outcome == "delivered" and o.attempts == 2 for o in sink.outcomes("A"))
    ids = [r.headers["X-Webhook-Id"] for r in receiver.received]
    assert len(set(ids)) == 10  # distinct between deliveries, stable across retries


async def test_a_stuck_receiver_does_not_hold_up_another_call(
    receiver: Receiver, clock: VirtualClock, outbox: Outbox
) -> None:
    stuck = receiver.script("/stuck", Reply(hang=True))
    fine = receiver.script("/fine", Reply(200))
    sink = make_sink(clock, outbox, attempt_timeout=60.0)
    await sink.submit(make_delivery(stuck, call_id="slow-call"))
    await sink.submit(make_delivery(fine, call_id="quick-call"))
    await sink.flush("quick-call")

    assert [o.outcome for o in sink.outcomes("quick-call")] == ["delivered"]
    assert sink.outcomes("slow-call") == []
    await sink.aclose(timeout=0)
    assert [o.reason for o in sink.outcomes("slow-call")] == ["shutdown"]


async def test_retries_stop_at_max_attempts(
    receiver: Receiver, clock: VirtualClock, outbox: Outbox
) -> None:
    url = receiver.script("/down", Reply(502))
    sink = make_sink(clock, outbox, max_attempts=3)
    delivery = make_delivery(url)
    await sink.submit(delivery)
    await sink.aclose()

    assert len(receiver.at("/down")) == 3
    assert len(clock.sleeps) == 2
    [outcome] = sink.outcomes(delivery.call_id)
    assert (outcome.outcome, outcome.reason, outcome.status) == (
        "outboxed",
        "retries_exhausted",
        502,
    )
    [parked] = outbox.pending()
    assert [a.status for a in parked.entry.attempts] == [502, 502, 502]


async def test_retries_stop_when_the_window_ends(
    receiver: Receiver, clock: VirtualClock, outbox: Outbox
) -> None:
    url = receiver.script("/down", Reply(500))
    # rand 1.0 -> waits of 1, 2, 4 s (7 s spent); the next 8 s wait would end at 15 s > 10 s
    sink = make_sink(clock, outbox, rand=lambda: 1.0, retry_window=10.0, max_attempts=100)
    delivery = make_delivery(url)
    await sink.submit(delivery)
    await sink.aclose()

    assert clock.sleeps == [1.0, 2.0, 4.0]
    assert len(receiver.at("/down")) == 4
    [outcome] = sink.outcomes(delivery.call_id)
    assert outcome.reason == "retry_window_ended"


async def test_connection_errors_are_retried_then_parked(
    clock: VirtualClock, outbox: Outbox
) -> None:
    closed = Receiver()
    await closed.start()
    url = closed.url("/nobody")
    await closed.stop()  # the port now refuses connections
    sink = make_sink(clock, outbox, max_attempts=2)
    delivery = make_delivery(url)
    await sink.submit(delivery)
    await sink.aclose()

    [parked] = outbox.pending()
    assert [a.error for a in parked.entry.attempts] == [
        "connection: ClientConnectorError",
        "connection: ClientConnectorError",
    ]
    assert sink.outcomes(delivery.call_id)[0].status is None


async def test_delivery_without_url_is_skipped(
    receiver: Receiver, clock: VirtualClock, outbox: Outbox
) -> None:
    sink = make_sink(clock, outbox)
    with capture_logs() as logs:
        await sink.submit(make_delivery(None))
        await sink.aclose()
    assert receiver.received == []
    assert sink.outcomes("call-1") == []
    assert outbox.pending() == []
    assert [e["log_level"] for e in logs if e["event"] == "webhook_skipped_no_url"] == ["debug"]


async def test_unsigned_delivery_has_no_signature_header(
    receiver: Receiver, clock: VirtualClock, outbox: Outbox
) -> None:
    url = receiver.script("/plain", Reply(200))
    sink = make_sink(clock, outbox)
    await sink.submit(make_delivery(url, secret=None))
    await sink.aclose()
    [got] = receiver.at("/plain")
    assert "X-Webhook-Signature" not in got.headers
    assert got.signature_ok is None
    assert got.headers["X-Webhook-Timestamp"] == "1700000000"


async def test_submit_after_close_parks_instead_of_losing(
    receiver: Receiver, clock: VirtualClock, outbox: Outbox
) -> None:
    sink = make_sink(clock, outbox)
    await sink.aclose()
    late = make_delivery(receiver.url("/late"))
    await sink.submit(late)
    assert receiver.received == []
    assert [p.entry.reason for p in outbox.pending()] == ["sink_closed"]


async def test_no_secret_token_or_body_in_logs(
    receiver: Receiver, clock: VirtualClock, outbox: Outbox
) -> None:
    token = f"tok-{uuid.uuid4().hex}"
    flaky = receiver.script("/f", Reply(500), Reply(200))
    bad = receiver.script("/b", Reply(400))
    secret_body = b'{"message":{"type":"transcript","transcript":"my card is 4111"}}'
    with capture_logs() as logs:
        sink = make_sink(clock, outbox)
        await sink.submit(make_delivery(f"{flaky}?token={token}", body=secret_body))
        await sink.submit(make_delivery(f"{bad}?token={token}", seq=2))
        await sink.submit(make_delivery(f"http://10.0.0.1/x?token={token}", seq=3))
        await sink.aclose()
    text = repr(logs)
    assert {"webhook_retry", "webhook_delivered", "webhook_parked", "webhook_refused"} <= {
        e["event"] for e in logs
    }
    assert SECRET not in text
    assert token not in text
    assert "4111" not in text
    assert "127.0.0.1" in text  # hosts are logged, so the check above is meaningful
