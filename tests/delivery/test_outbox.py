"""The outbox: parked deliveries survive a restart and are replayed exactly once."""

from __future__ import annotations

import dataclasses
import fcntl
import json
import os
import stat
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from agent.delivery.attempt import AttemptRecord
from agent.delivery.outbox import Outbox, OutboxBusy
from agent.delivery.target_policy import TargetPolicy
from agent.delivery.webhook import WebhookSink
from tests.support.receiver import SECRET, Receiver, Reply, VirtualClock, make_delivery


def test_park_round_trips_the_exact_body_and_keeps_the_file_private(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox")
    text = make_delivery("http://127.0.0.1/x")
    binary = make_delivery("http://127.0.0.1/x", seq=2, body=b"\xff\x00not utf-8")
    history = [AttemptRecord(at=1.0, status=503, error="http_503", seconds=0.2)]
    path = outbox.park(text, reason="retries_exhausted", attempts=history, now=10.0)
    outbox.park(binary, reason="shutdown", now=11.0)

    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(outbox.directory.stat().st_mode) == 0o700
    assert [p.name for p in outbox.directory.iterdir() if p.name.endswith(".tmp")] == []
    first, second = outbox.pending()
    assert first.entry.delivery() == text
    assert first.entry.delivery().body == text.body
    assert first.entry.attempts == history
    assert second.entry.delivery().body == binary.body
    # an operator can read the event in the file
    assert json.loads(path.read_text())["body_text"] == text.body.decode()


def test_hostile_delivery_id_cannot_escape_the_directory(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox")
    delivery = make_delivery("http://127.0.0.1/x")
    hostile = dataclasses.replace(delivery, delivery_id="../../etc/passwd")
    path = outbox.park(hostile, reason="x")
    assert path.parent == outbox.directory
    assert outbox.remove("../../etc/passwd")
    assert outbox.pending() == []


def test_pending_orders_each_call_by_seq(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path)
    outbox.park(make_delivery("http://h/x", call_id="late", seq=1), reason="r", now=50.0)
    outbox.park(make_delivery("http://h/x", call_id="early", seq=3), reason="r", now=30.0)
    outbox.park(make_delivery("http://h/x", call_id="early", seq=1), reason="r", now=40.0)
    order = [(p.entry.call_id, p.entry.seq) for p in outbox.pending()]
    assert order == [("early", 1), ("early", 3), ("late", 1)]


def test_unreadable_files_are_moved_aside_and_reported(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path)
    outbox.park(make_delivery("http://h/x"), reason="r")
    (tmp_path / "garbage.json").write_text("{not json")
    (tmp_path / "wrong.json").write_text('{"version": 1, "call_id": "c"}')
    with capture_logs() as logs:
        assert len(outbox.pending()) == 1
    assert sorted(p.name for p in outbox.bad_files()) == ["garbage.json.bad", "wrong.json.bad"]
    assert (tmp_path / "garbage.json.bad").read_text() == "{not json"
    assert [e["event"] for e in logs] == ["outbox_file_bad", "outbox_file_bad"]


async def test_exhausted_retries_park_then_replay_after_restart_delivers_once(
    receiver: Receiver, tmp_path: Path
) -> None:
    directory = tmp_path / "outbox"
    clock = VirtualClock()
    url = receiver.script("/hook", Reply(503))
    deliveries = [
        make_delivery(url, call_id="c1", seq=1),
        make_delivery(url, call_id="c1", seq=2),
        make_delivery(url, call_id="c2", seq=1),
    ]
    sink = WebhookSink(
        TargetPolicy.loopback_allowed(),
        Outbox(directory),
        max_attempts=2,
        sleep=clock.sleep,
        clock=clock.monotonic,
        wall_clock=clock.wall,
    )
    for delivery in deliveries:
        await sink.submit(delivery)
    await sink.aclose()
    assert {o.outcome for c in ("c1", "c2") for o in sink.outcomes(c)} == {"outboxed"}
    assert len(receiver.received) == 6

    # "restart": new objects on the same directory; the receiver has recovered
    receiver.script("/hook", Reply(200))
    receiver.received.clear()
    clock.now += 3600  # an hour later: replay signs with a fresh timestamp
    result = await Outbox(directory).replay(
        TargetPolicy.loopback_allowed(), sleep=clock.sleep, wall_clock=clock.wall
    )
    assert (result.delivered, result.failed, result.remaining) == (3, 0, 0)

    got = receiver.at("/hook")
    assert sorted(r.headers["X-Webhook-Id"] for r in got) == sorted(
        d.delivery_id for d in deliveries
    )
    assert all(r.signature_ok for r in got)
    assert {r.headers["X-Webhook-Timestamp"] for r in got} == {str(int(clock.wall()))}
    c1 = [json.loads(r.body)["message"]["seq"] for r in got if b'"c1"' in r.body]
    assert c1 == [1, 2]

    again = await Outbox(directory).replay(TargetPolicy.loopback_allowed())
    assert (again.delivered, again.remaining) == (0, 0)
    assert len(receiver.at("/hook")) == 3


async def test_pending_work_is_parked_at_aclose(receiver: Receiver, tmp_path: Path) -> None:
    outbox = Outbox(tmp_path)
    url = receiver.script("/hang", Reply(hang=True))
    sink = WebhookSink(TargetPolicy.loopback_allowed(), outbox, attempt_timeout=60.0)
    first = make_delivery(url, seq=1)
    second = make_delivery(url, seq=2)
    await sink.submit(first)
    await sink.submit(second)
    await sink.aclose(timeout=0)

    parked = outbox.pending()
    assert [p.entry.delivery_id for p in parked] == [first.delivery_id, second.delivery_id]
    assert {p.entry.reason for p in parked} == {"shutdown"}
    assert [o.outcome for o in sink.outcomes("call-1")] == ["outboxed", "outboxed"]


async def test_flush_timeout_parks_only_that_call(receiver: Receiver, tmp_path: Path) -> None:
    outbox = Outbox(tmp_path)
    hang = receiver.script("/hang", Reply(hang=True))
    sink = WebhookSink(TargetPolicy.loopback_allowed(), outbox, attempt_timeout=60.0)
    await sink.submit(make_delivery(hang, call_id="stuck"))
    await sink.flush("stuck", timeout=0)
    assert [p.entry.reason for p in outbox.pending()] == ["flush_timeout"]
    # the sink still works for later deliveries of the same call
    ok = receiver.script("/ok", Reply(200))
    await sink.submit(make_delivery(ok, call_id="stuck", seq=2))
    await sink.flush("stuck")
    assert [o.outcome for o in sink.outcomes("stuck")] == ["outboxed", "delivered"]
    await sink.aclose()


async def test_replay_keeps_what_still_fails_with_its_history(
    receiver: Receiver, tmp_path: Path
) -> None:
    outbox = Outbox(tmp_path)
    clock = VirtualClock()
    url = receiver.script("/down", Reply(500))
    first = make_delivery(url, seq=1)
    outbox.park(first, reason="retries_exhausted", attempts=[AttemptRecord(at=1.0)])
    for seq in (2, 3):
        outbox.park(make_delivery(url, seq=seq), reason="retries_exhausted")
    result = await outbox.replay(
        TargetPolicy.loopback_allowed(), sleep=clock.sleep, clock=clock.monotonic
    )
    # the first exhausts its 3 replay attempts; the receiver is then known to be down, so
    # the later ones are not tried (and cannot overtake the first)
    assert (result.delivered, result.failed, result.skipped, result.remaining) == (0, 1, 2, 3)
    assert [r.headers["X-Webhook-Id"] for r in receiver.received] == [first.delivery_id] * 3
    parked = outbox.pending()
    assert len(parked[0].entry.attempts) == 1 + 3  # default replay: 3 attempts
    assert parked[0].entry.reason == "replay: retries_exhausted"
    assert [len(p.entry.attempts) for p in parked[1:]] == [0, 0]


async def test_replay_keeps_deliveries_the_receiver_called_gone_and_then_holds_them(
    receiver: Receiver, tmp_path: Path
) -> None:
    outbox = Outbox(tmp_path)
    url = receiver.script("/gone", Reply(410))
    for seq in (1, 2):
        outbox.park(make_delivery(url, seq=seq), reason="retries_exhausted")
    result = await outbox.replay(TargetPolicy.loopback_allowed())
    assert (result.delivered, result.gone, result.remaining) == (0, 2, 2)
    assert len(receiver.at("/gone")) == 1  # the second is not sent after the 410
    assert all(p.entry.gone and "410" in p.entry.reason for p in outbox.pending())
    # later replays hold them (the receiver asked for nothing more) unless asked
    again = await outbox.replay(TargetPolicy.loopback_allowed())
    assert (again.held, again.remaining, len(receiver.at("/gone"))) == (2, 2, 1)
    receiver.script("/gone", Reply(200))  # the receiver was fixed
    forced = await outbox.replay(TargetPolicy.loopback_allowed(), include_gone=True)
    assert (forced.delivered, forced.remaining) == (2, 0)


async def test_replay_reports_bad_files_without_deleting_them(tmp_path: Path) -> None:
    (tmp_path / "broken.json").write_text("[]")
    result = await Outbox(tmp_path).replay(TargetPolicy.loopback_allowed())
    assert [p.name for p in result.bad] == ["broken.json.bad"]
    assert (tmp_path / "broken.json.bad").exists()


async def test_a_second_replay_at_the_same_time_is_refused(tmp_path: Path) -> None:
    fd = os.open(tmp_path / ".replay.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(OutboxBusy):
            await Outbox(tmp_path).replay(TargetPolicy.loopback_allowed())
    finally:
        os.close(fd)


async def test_outbox_never_logs_the_secret(receiver: Receiver, tmp_path: Path) -> None:
    outbox = Outbox(tmp_path)
    outbox.park(make_delivery(receiver.script("/x", Reply(400))), reason="r")
    with capture_logs() as logs:
        await outbox.replay(TargetPolicy.loopback_allowed())
    assert logs
    assert SECRET not in repr(logs)
    assert SECRET not in repr(outbox.pending())
