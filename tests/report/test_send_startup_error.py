"""A call that fails before it goes live still gets its report: `error`, naming the stage."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent.report.send import build_sink, report_startup_error
from agent.worker.ledger import report_delivery_id
from agent.worker.settings import WorkerSettings
from tests.support.receiver import SECRET, Receiver


async def test_start_failure_is_reported_as_error_with_its_stage(
    tmp_path: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VOICE_AGENT_OUTBOX_DIR", str(tmp_path / "outbox"))
    monkeypatch.setenv("VOICE_AGENT_ALLOWED_TARGETS", "127.0.0.1")
    settings = WorkerSettings()
    sink = build_sink(settings)
    document = {
        "call": {"id": "call-start-1"},
        "assistant": {"webhook_url": receiver.url("/hooks"), "webhook_secret": SECRET,
                      "metadata": {"UserID": "u-1"}},
    }  # fmt: skip
    await report_startup_error(
        json.dumps(document),
        ConnectionError("room unreachable"),
        stage="room",
        room_name="room-1",
        settings=settings,
        sink=sink,
    )
    await sink.aclose()
    kinds = [json.loads(r.body)["message"]["type"] for r in receiver.received]
    assert kinds == ["status-update", "end-of-call-report"]
    assert all(r.signature_ok for r in receiver.received)
    report = json.loads(receiver.received[-1].body)["message"]
    assert report["end_reason"] == "error"
    assert report["end_detail"] == "room: ConnectionError: room unreachable"
    assert report["assistant"]["metadata"] == {"UserID": "u-1"}
    assert receiver.received[-1].headers["X-Webhook-Id"] == report_delivery_id("call-start-1")
