"""A worker that died with calls open: the next run reports them at start-up, exactly once.

The ledger entry keeps the dispatch document (0600), so the report is addressed and signed as
the call itself would have done, and it carries the call's one report delivery id.
"""

from __future__ import annotations

import json
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from agent.worker.ledger import CallLedger, report_delivery_id
from agent.worker.recovery import report_stale_calls
from agent.worker.settings import WorkerSettings
from tests.support.receiver import SECRET, Receiver


def _document(url: str) -> str:
    return json.dumps(
        {
            "call": {"id": "call-restart-1", "type": "inbound_phone_call"},
            "assistant": {
                "name": "Front desk",
                "webhook_url": url,
                "webhook_secret": SECRET,
                "metadata": {"UserID": "u-7"},
                "stt_config": {"provider": "deepgram"},
                "llm_config": {"model": "m"},
                "tts_config": {"provider": "openai"},
            },
        }
    )


async def test_calls_left_open_by_a_dead_worker_are_reported_at_start_up(
    tmp_path: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VOICE_AGENT_OUTBOX_DIR", str(tmp_path / "outbox"))
    monkeypatch.setenv("VOICE_AGENT_ALLOWED_TARGETS", "127.0.0.1")
    settings = WorkerSettings()
    ledger = CallLedger(settings.outbox_dir / "ledger")
    started = datetime.now(UTC) - timedelta(seconds=42)
    ledger.open("AJ_dead", "call-restart-1", "room-1", started,
                dispatch_metadata=_document(receiver.url("/hooks")))  # fmt: skip
    ledger.mark_live("AJ_dead", started + timedelta(seconds=2))  # the caller answered 2 s in
    entry_file = next((settings.outbox_dir / "ledger").glob("*.json"))
    assert stat.S_IMODE(entry_file.stat().st_mode) == 0o600  # it may hold a secret

    # The next run of the worker: entries are listed before any call is taken.
    stale = ledger.open_entries()
    assert await report_stale_calls(stale, ledger, settings=settings) == 1

    (sent,) = receiver.received
    assert sent.signature_ok is True
    assert sent.headers["X-Webhook-Id"] == report_delivery_id("call-restart-1")
    message = json.loads(sent.body)["message"]
    assert message["type"] == "end-of-call-report"
    assert message["end_reason"] == "error"
    assert message["end_detail"].startswith("worker_restarted")
    assert message["assistant"]["metadata"] == {"UserID": "u-7"}
    assert message["duration_seconds"] >= 40  # from the answer
    assert message["caller_join_seconds"] == 2.0
    assert ledger.open_entries() == []  # reported once: a further restart sends nothing
    assert await report_stale_calls(ledger.open_entries(), ledger, settings=settings) == 0
    assert len(receiver.received) == 1


def test_the_ledger_records_when_the_call_went_live(tmp_path: Path) -> None:
    ledger = CallLedger(tmp_path / "ledger")
    ledger.open("AJ_1", "call-1", "room-1", dispatch_metadata='{"call": {}}')
    opened = ledger.get("AJ_1")
    assert opened is not None
    assert opened.live_at == ""
    live = datetime(2026, 4, 19, 12, 0, 5, tzinfo=UTC)
    ledger.mark_live("AJ_1", live)
    marked = ledger.get("AJ_1")
    assert marked is not None
    assert (marked.live_at, marked.dispatch_metadata) == (live.isoformat(), '{"call": {}}')
    assert stat.S_IMODE((tmp_path / "ledger" / "AJ_1.json").stat().st_mode) == 0o600
    ledger.close("AJ_1")
    ledger.mark_live("AJ_1")  # the call already reported: nothing comes back
    assert ledger.open_entries() == []
