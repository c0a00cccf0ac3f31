"""Sink selection from settings: VOICE_AGENT_SINKS and VOICE_AGENT_JSONL_PATH drive build_sink."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent.delivery.base import FanOutSink
from agent.delivery.jsonl import JsonlSink
from agent.delivery.webhook import WebhookSink
from agent.errors import ConfigError
from agent.intake.dispatch import parse_dispatch
from agent.report.send import build_sink, report_config_error
from agent.worker.ledger import report_delivery_id
from agent.worker.settings import WorkerSettings
from tests.support.receiver import SECRET, Receiver


def test_default_is_the_webhook_sink_alone() -> None:
    assert isinstance(build_sink(WorkerSettings()), WebhookSink)


async def test_jsonl_and_webhook_both_get_the_config_error_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, receiver: Receiver
) -> None:
    monkeypatch.setenv("VOICE_AGENT_SINKS", "jsonl, webhook")
    monkeypatch.setenv("VOICE_AGENT_JSONL_PATH", str(tmp_path / "events.jsonl"))
    monkeypatch.setenv("VOICE_AGENT_OUTBOX_DIR", str(tmp_path / "outbox"))
    monkeypatch.setenv("VOICE_AGENT_ALLOWED_TARGETS", "127.0.0.0/8")
    settings = WorkerSettings()
    sink = build_sink(settings)
    assert isinstance(sink, FanOutSink)
    assert [type(s) for s in sink.sinks] == [JsonlSink, WebhookSink]

    broken = json.dumps(
        {
            "call": {"id": "call-7"},
            "assistant": {
                "webhook_url": receiver.url("/hooks"),
                "webhook_secret": SECRET,
                "tts_config": {"provider": "nope"},
            },
        }
    )
    with pytest.raises(ConfigError) as caught:
        await parse_dispatch(broken, room_name="room-7")
    await report_config_error(
        broken, caught.value, room_name="room-7", settings=settings, sink=sink
    )
    await sink.aclose()

    (webhook,) = [
        r for r in receiver.received if r.headers["X-Webhook-Event"] == "end-of-call-report"
    ]
    assert webhook.signature_ok is True
    assert json.loads(webhook.body)["message"]["end_reason"] == "config_error"

    lines = [json.loads(line) for line in (tmp_path / "events.jsonl").read_text().splitlines()]
    assert [line["event_type"] for line in lines] == ["status-update", "end-of-call-report"]
    report = lines[-1]
    assert report["delivery_id"] == report_delivery_id("call-7")
    assert report["event"] == json.loads(webhook.body)
    assert "assistant.tts_config: unknown provider" in report["event"]["message"]["end_detail"]
    assert SECRET not in (tmp_path / "events.jsonl").read_text()


def test_jsonl_without_a_path_and_unknown_sinks_stop_the_worker() -> None:
    with pytest.raises(ConfigError, match="jsonl sink needs a file path"):
        build_sink(WorkerSettings(sinks=["jsonl"]))
    with pytest.raises(ConfigError, match="unknown sink 'kafka'"):
        build_sink(WorkerSettings(sinks=["webhook", "kafka"]))
