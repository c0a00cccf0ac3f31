"""CallMissed deliveries against a real receiver on 127.0.0.1 that runs the seed's own check.

A CallMissed-dialect document (config/examples/callmissed-session.json, its webhook pointed at
the receiver) gets ``voice_session.*`` events with ``X-CallMissed-*`` headers; every request
the receiver takes is verified with the "Verify the signature" snippet of seeds/004, copied
verbatim (tests/support/callmissed.py). Retries and outbox replay keep the delivery id and
re-sign in the same format. Backoff waits run on a virtual clock.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from agent.call.lifecycle.ending import CallEnd
from agent.contracts.end_reason import EndReason
from agent.contracts.events import EndOfCallReport, parse_session
from agent.delivery.call_events import CallEvents
from agent.delivery.outbox import Outbox, OutboxEntry
from agent.delivery.target_policy import TargetPolicy
from agent.delivery.webhook import WebhookSink
from agent.intake.dispatch import CallSpec, parse_dispatch
from agent.report.build import build_report
from agent.report.record import CallRecord
from agent.worker.ledger import report_delivery_id
from tests.support.paths import EXAMPLES
from tests.support.receiver import SECRET, Received, Receiver, Reply, VirtualClock

START = datetime(2026, 4, 19, 12, 0, 0, tzinfo=UTC)
T0 = START.timestamp()


def ended(reason: EndReason, detail: str | None, seconds: float) -> CallEnd:
    """The lifecycle's end record of a call that lasted ``seconds`` from START."""
    return CallEnd(
        reason=reason, detail=detail, agent_joined_at=START, started_at=START,
        ended_at=START + timedelta(seconds=seconds), caller_join_seconds=0.0,
        agent_joined_monotonic=0.0, started_monotonic=0.0,
        end_requested_monotonic=seconds, ended_monotonic=seconds, duration_seconds=seconds,
        hung_up="immediately", ignored_requests=(),
    )  # fmt: skip


async def callmissed_spec(url: str, **fields: Any) -> CallSpec:
    document = json.loads((EXAMPLES / "callmissed-session.json").read_text())
    document |= {"webhook_url": url, "webhook_secret": SECRET, "call": {"id": "cm-1"}} | fields
    return await parse_dispatch(document, room_name="voice-room-1")


def make_sink(clock: VirtualClock, outbox: Outbox, **options: Any) -> WebhookSink:
    return WebhookSink(
        TargetPolicy.loopback_allowed(),
        outbox,
        sleep=clock.sleep,
        clock=clock.monotonic,
        wall_clock=clock.wall,
        rand=lambda: 0.5,
        **options,
    )


def ended_call(spec: CallSpec, reason: EndReason, detail: str | None = None) -> EndOfCallReport:
    """A greeting, one caller turn, then ``reason`` at 30 s."""
    record = CallRecord(call_id=spec.call_id, llm_model="kimi-k2.5")
    record.add_message("assistant", "Namaste, how can I help?", T0 + 0.5, T0 + 2.0)
    record.add_message("user", "What are your hours?", T0 + 3.0, T0 + 4.0)
    record.add_message("assistant", "Nine to five.", T0 + 4.6, T0 + 5.5, metrics={"e2e_ms": 600.0})
    record.add_usage("stt", "deepgram", "nova-3", audio_seconds=12.5)
    return build_report(record, ended(reason, detail, 30.25), spec)


def events(received: list[Received]) -> list[str]:
    return [r.headers["X-CallMissed-Event"] for r in received]


async def test_a_call_is_started_then_ended_every_delivery_verified_by_the_seed_code(
    receiver: Receiver, tmp_path: Path
) -> None:
    spec = await callmissed_spec(receiver.url("/voice"), metadata={"UserID": "u-1"})
    assert spec.webhook_format == "callmissed"
    sink = make_sink(VirtualClock(), Outbox(tmp_path / "outbox"))
    call = CallEvents.for_call(spec, sink)

    call.emit(call.status_update("in-progress"))
    call.emit(call.transcript("user", "What are your hours?", 3.0, 4.0))  # no CallMissed event
    call.emit(call.status_update("ended"))  # the final event says it
    call.emit_report(ended_call(spec, EndReason.USER_HANGUP))
    await call.drain()
    await sink.aclose()

    assert events(receiver.received) == ["voice_session.started", "voice_session.ended"]
    assert all(r.signature_ok is True for r in receiver.received)
    assert not any(k.startswith("X-Webhook") for r in receiver.received for k in r.headers)
    started, ended = (parse_session(r.body) for r in receiver.received)
    assert (started.id, started.status, started.end_reason) == ("cm-1", "active", None)
    assert started.transcript == []
    assert started.ended_at is None
    assert ended.status == "completed"
    assert ended.end_reason == "user_hangup"
    assert (ended.duration_seconds, ended.turn_count, ended.total_audio_seconds) == (
        30.25,
        2,
        12.5,
    )
    assert [t.user_transcript for t in ended.transcript] == ["", "What are your hours?"]
    assert ended.metadata == started.metadata == {"UserID": "u-1"}
    assert ended.config is not None
    assert ended.config.livekit_room == "voice-room-1"
    final = receiver.received[-1].headers["X-CallMissed-Delivery"]
    assert final == report_delivery_id("cm-1")  # exactly once with the main process's report
    assert receiver.received[0].headers["X-CallMissed-Delivery"] != final


async def test_an_error_is_voice_session_failed(receiver: Receiver, tmp_path: Path) -> None:
    spec = await callmissed_spec(receiver.url("/voice"))
    sink = make_sink(VirtualClock(), Outbox(tmp_path / "outbox"))
    call = CallEvents.for_call(spec, sink)
    call.emit(call.status_update("in-progress"))
    call.emit_report(ended_call(spec, EndReason.ERROR, "llm: APIConnectionError: refused"))
    await call.drain()
    await sink.aclose()

    assert events(receiver.received) == ["voice_session.started", "voice_session.failed"]
    assert all(r.signature_ok is True for r in receiver.received)
    failed = parse_session(receiver.received[-1].body)
    assert (failed.status, failed.end_reason) == ("failed", "error")
    assert failed.error == "llm: APIConnectionError: refused"
    assert failed.metadata is None  # the document sent none


async def test_retries_after_500_keep_the_delivery_id_and_verify(
    receiver: Receiver, tmp_path: Path
) -> None:
    url = receiver.script("/flaky", Reply(500), Reply(500), Reply(200))
    spec = await callmissed_spec(url)
    clock = VirtualClock()
    sink = make_sink(clock, Outbox(tmp_path / "outbox"), backoff_base=1.0)
    call = CallEvents.for_call(spec, sink)
    call.emit_report(ended_call(spec, EndReason.MAX_DURATION, "max_duration_seconds"))
    await call.drain()
    await sink.aclose()

    got = receiver.at("/flaky")
    assert len(got) == 3
    assert clock.sleeps == [0.5, 1.0]  # full jitter at 0.5: 0.5 x 1 s, then 0.5 x 2 s
    assert {r.headers["X-CallMissed-Delivery"] for r in got} == {report_delivery_id("cm-1")}
    assert all(r.signature_ok is True for r in got)
    assert len({r.body for r in got}) == 1
    timed_out = parse_session(got[0].body)
    assert (timed_out.status, timed_out.end_reason) == ("timeout", "max_duration")
    assert events(got) == ["voice_session.ended"] * 3


async def test_outbox_replay_re_signs_in_the_callmissed_format(
    receiver: Receiver, tmp_path: Path
) -> None:
    directory = tmp_path / "outbox"
    url = receiver.script("/down", Reply(503))
    spec = await callmissed_spec(url)
    clock = VirtualClock()
    sink = make_sink(clock, Outbox(directory), max_attempts=2)
    call = CallEvents.for_call(spec, sink)
    call.emit(call.status_update("in-progress"))
    call.emit_report(ended_call(spec, EndReason.USER_HANGUP))
    await call.drain()
    await sink.aclose()
    parked = Outbox(directory).pending()
    assert [p.entry.wire for p in parked] == ["callmissed", "callmissed"]
    sent_before = {r.headers["X-CallMissed-Delivery"]: r.body for r in receiver.at("/down")}

    # "restart": the receiver is back; a new Outbox object on the same directory replays
    receiver.script("/down", Reply(200))
    receiver.received.clear()
    clock.now += 3600
    result = await Outbox(directory).replay(
        TargetPolicy.loopback_allowed(), sleep=clock.sleep, wall_clock=clock.wall
    )
    assert (result.delivered, result.remaining) == (2, 0)
    got = receiver.at("/down")
    assert events(got) == ["voice_session.started", "voice_session.ended"]
    assert all(r.signature_ok is True for r in got)
    assert {r.headers["X-CallMissed-Delivery"]: r.body for r in got} == sent_before


def test_an_outbox_file_from_before_wire_formats_replays_as_hms(tmp_path: Path) -> None:
    old = {
        "version": 1, "delivery_id": "d-1", "call_id": "c-1", "event_type": "status-update",
        "seq": 1, "url": "https://hooks.example/x", "secret": "s", "body_text": "{}",
        "parked_at": 1.0, "reason": "retries_exhausted",
    }  # fmt: skip
    entry = OutboxEntry.model_validate_json(json.dumps(old))
    assert entry.wire == "hms"
    assert entry.delivery().wire == "hms"
