"""Reports of calls that never ran in this process, in the format their backend verifies.

A config_error, a start-up failure and a crash report (the main process's) are built from the
salvaged document. For a CallMissed document they are one `voice_session.failed`, under the
call's one report delivery id; for an HMS one `status-update: failed` then the report with
`call.status: failed` (seed 002) when the call never went live, and a crash after it went live
stays `ended`. Every delivery goes to a real receiver on 127.0.0.1 that verifies it with the
seed's own code; CallMissed documents carry no secret, so the operator's default signs.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from agent.contracts.events import EndOfCallReport, parse_envelope, parse_session
from agent.delivery.base import EventSink
from agent.errors import ConfigError
from agent.intake.dispatch import parse_dispatch
from agent.report.send import build_sink, report_config_error, report_startup_error
from agent.worker.ledger import LedgerEntry, OrphanedCall, report_delivery_id
from agent.worker.recovery import report_crash
from agent.worker.settings import WorkerSettings
from tests.support.receiver import SECRET, Received, Receiver


def settings_for(tmp_path: Path) -> WorkerSettings:
    return WorkerSettings(
        outbox_dir=tmp_path / "outbox",
        allowed_targets=["127.0.0.0/8"],
        webhook_secret=SecretStr(SECRET),  # CallMissed documents have no secret of their own
    )


def callmissed(url: str, **fields: Any) -> str:
    return json.dumps(
        {"system_prompt": "Hi.", "voice": "shubh", "webhook_url": url, "call": {"id": "cm-9"}}
        | fields
    )


def hms(url: str) -> str:
    return json.dumps(
        {
            "call": {"id": "hms-9"},
            "assistant": {
                "name": "front desk",
                "webhook_url": url,
                "stt_config": {"provider": "deepgram"},
                "llm_config": {"model": "gpt-4.1-mini"},
                "tts_config": {"provider": "openai"},
            },
        }
    )


def kinds(received: list[Received]) -> list[str]:
    return [
        r.headers.get("X-CallMissed-Event") or r.headers.get("X-Webhook-Event", "")
        for r in received
    ]


async def test_config_error_of_a_callmissed_document_is_voice_session_failed(
    receiver: Receiver, tmp_path: Path
) -> None:
    settings = settings_for(tmp_path)
    raw = callmissed(receiver.url("/cm"), tts_provider="polly", metadata={"UserID": "u-9"})
    with pytest.raises(ConfigError) as caught:
        await parse_dispatch(raw, room_name="room-9")
    sink = build_sink(settings)
    await report_config_error(raw, caught.value, room_name="room-9", settings=settings, sink=sink)
    await sink.aclose()

    assert kinds(receiver.received) == ["voice_session.failed"]  # never started
    (failed,) = receiver.received
    assert failed.signature_ok is True
    assert failed.headers["X-CallMissed-Delivery"] == report_delivery_id("cm-9")
    session = parse_session(failed.body)
    assert (session.id, session.status, session.end_reason) == ("cm-9", "failed", "config_error")
    assert session.error is not None
    assert session.error.startswith("tts_provider:")
    assert session.metadata == {"UserID": "u-9"}
    assert (session.started_at, session.config) == (None, None)


async def test_start_failure_of_a_callmissed_document_is_voice_session_failed(
    receiver: Receiver, tmp_path: Path
) -> None:
    settings = settings_for(tmp_path)
    sink = build_sink(settings)
    await report_startup_error(
        callmissed(receiver.url("/cm")), ValueError("no such speaker"), stage="providers",
        room_name="room-9", settings=settings, sink=sink,
    )  # fmt: skip
    await sink.aclose()
    assert kinds(receiver.received) == ["voice_session.failed"]
    assert receiver.received[0].signature_ok is True
    session = parse_session(receiver.received[0].body)
    assert (session.status, session.end_reason) == ("failed", "error")
    assert session.error == "providers: ValueError: no such speaker"
    assert session.metadata is None  # the document sent none


async def test_start_failure_of_an_hms_document_is_a_failed_call(
    receiver: Receiver, tmp_path: Path
) -> None:
    settings = settings_for(tmp_path)
    sink = build_sink(settings)
    await report_startup_error(
        hms(receiver.url("/hms")), ConnectionError("room unreachable"), stage="room",
        room_name="room-9", settings=settings, sink=sink,
    )  # fmt: skip
    await sink.aclose()
    assert kinds(receiver.received) == ["status-update", "end-of-call-report"]
    assert all(r.signature_ok is True for r in receiver.received)
    status, report = (parse_envelope(r.body).message for r in receiver.received)
    assert getattr(status, "status", None) == "failed"
    assert report.call.status == "failed"


def orphan(raw: str, *, live: bool) -> OrphanedCall:
    started = datetime(2026, 4, 19, 12, 0, tzinfo=UTC).isoformat()
    entry = LedgerEntry(
        job_id="AJ_9", call_id=json.loads(raw)["call"]["id"], room="room-9", started_at=started,
        pid=1, dispatch_metadata=raw, live_at=started if live else "",
    )  # fmt: skip
    return OrphanedCall(entry, -9, raw, "")


async def test_crash_report_of_a_callmissed_call_is_voice_session_failed_once(
    receiver: Receiver, tmp_path: Path
) -> None:
    settings = settings_for(tmp_path)
    sink = build_sink(settings)
    await report_crash(orphan(callmissed(receiver.url("/cm")), live=True), settings=settings,
                       sink=sink)  # fmt: skip
    await sink.aclose()
    (crash,) = receiver.received
    assert crash.headers["X-CallMissed-Event"] == "voice_session.failed"
    assert crash.signature_ok is True
    # The job's own final event would carry the same id: the receiver keeps one of the two.
    assert crash.headers["X-CallMissed-Delivery"] == report_delivery_id("cm-9")
    session = parse_session(crash.body)
    assert (session.status, session.end_reason) == ("failed", "error")
    assert session.error == "job_process_died (exit code -9)"


@pytest.mark.parametrize(("live", "status"), [(False, "failed"), (True, "ended")])
async def test_crash_report_status_follows_whether_the_call_went_live(
    receiver: Receiver, tmp_path: Path, live: bool, status: str
) -> None:
    settings = settings_for(tmp_path)
    sink = build_sink(settings)
    await report_crash(orphan(hms(receiver.url("/hms")), live=live), settings=settings, sink=sink)
    await sink.aclose()
    (crash,) = receiver.received
    assert crash.signature_ok is True
    report = parse_envelope(crash.body).message
    assert (report.type, report.call.status) == ("end-of-call-report", status)


TAKEN = datetime(2026, 4, 19, 12, 0, tzinfo=UTC)
"""When the job took the call, as job.py passes it: minutes before the report is sent."""


async def refused(raw: str, settings: WorkerSettings, sink: EventSink) -> None:
    with pytest.raises(ConfigError) as caught:
        await parse_dispatch(raw, room_name="room-9")
    await report_config_error(
        raw, caught.value, room_name="room-9", settings=settings, sink=sink, taken_at=TAKEN
    )


async def failed_to_start(raw: str, settings: WorkerSettings, sink: EventSink) -> None:
    await report_startup_error(
        raw, ConnectionError("room unreachable"), stage="room", room_name="room-9",
        settings=settings, sink=sink, taken_at=TAKEN,
    )  # fmt: skip


def broken_hms(url: str) -> str:
    document = json.loads(hms(url))
    document["assistant"]["tts_config"] = {"provider": "polly"}
    return json.dumps(document)


@pytest.mark.parametrize(
    ("send", "document"),
    [(refused, broken_hms), (failed_to_start, hms)],
    ids=["config_error", "startup_error"],
)
async def test_a_call_that_never_went_live_has_no_start_and_no_duration(
    receiver: Receiver,
    tmp_path: Path,
    send: Callable[[str, WorkerSettings, EventSink], Awaitable[None]],
    document: Callable[[str], str],
) -> None:
    # Issue 13: `started_at` is when the call was answered. The job's own start (when it took
    # the call) is not that: it must not become the report's start, nor count as its duration.
    settings = settings_for(tmp_path)
    sink = build_sink(settings)
    await send(document(receiver.url("/hms")), settings, sink)
    await sink.aclose()
    report = parse_envelope(receiver.received[-1].body).message
    assert isinstance(report, EndOfCallReport)
    assert report.call.status == "failed"
    assert (report.started_at, report.duration_seconds, report.duration_ms) == (None, 0, 0)
    assert report.ended_at is not None
    assert report.ended_at > TAKEN


@pytest.mark.parametrize("send", [refused, failed_to_start], ids=["config_error", "startup_error"])
async def test_a_callmissed_session_that_never_went_live_was_created_when_taken(
    receiver: Receiver,
    tmp_path: Path,
    send: Callable[[str, WorkerSettings, EventSink], Awaitable[None]],
) -> None:
    settings = settings_for(tmp_path)
    sink = build_sink(settings)
    await send(callmissed(receiver.url("/cm"), tts_provider="polly"), settings, sink)
    await sink.aclose()
    session = parse_session(receiver.received[-1].body)
    assert session.status == "failed"
    assert (session.created_at, session.started_at) == (TAKEN, None)
    assert session.duration_seconds in (None, 0)
