"""Whole simulated calls through LiveCall, reporting to a real receiver on 127.0.0.1.

The scenario runs exactly as `python -m agent simulate` runs it: LiveCall owns the session,
the lifecycle, the events and the report; only the vendors and the room are simulated. Every
delivery the receiver gets is checked with the seed's signature verifier. Each call takes a
few seconds of real time (VAD and turn timers run for real); only outcomes are asserted.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from agent.contracts.events import EndOfCallReport, parse_envelope
from agent.delivery.outbox import Outbox
from agent.delivery.target_policy import TargetPolicy
from agent.delivery.webhook import WebhookSink
from agent.simulator.live import ScenarioResult, run_scenario
from agent.simulator.scenario import parse_scenario
from agent.worker.settings import WorkerSettings
from tests.support.receiver import verify_webhook_signature  # the seed's, verbatim

pytestmark = pytest.mark.slow


SECRET = "whsec_simulated_call_secret"
GREETING = "Hello, how can I help?"


@dataclass(frozen=True)
class Received:
    body: dict[str, Any]
    signature_ok: bool


class Receiver:
    """A webhook receiver that answers 200 and keeps every body with its verdict."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        raw = await request.text()
        ok = verify_webhook_signature(
            raw,
            request.headers.get("X-Webhook-Timestamp", ""),
            request.headers.get("X-Webhook-Signature", ""),
            SECRET,
        )
        self.received.append(Received(body=json.loads(raw), signature_ok=ok))
        return web.json_response({"ok": True})

    def of_type(self, event_type: str) -> list[dict[str, Any]]:
        return [r.body["message"] for r in self.received if r.body["message"]["type"] == event_type]


@pytest.fixture(autouse=True)
def _no_local_inference_preload(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIVEKIT_AGENTS_PRELOAD_LOCAL_INFERENCE", "0")
    monkeypatch.delenv("VOICE_AGENT_WEBHOOK_SECRET", raising=False)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    rx = Receiver()
    app = web.Application()
    app.router.add_post("/hook", rx.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    rx.url = f"http://127.0.0.1:{port}/hook"
    yield rx
    await runner.cleanup()


def assistant(url: str | None, **overrides: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "name": "Simulated",
        "first_message": GREETING,
        "stt_config": {"provider": "deepgram"},
        "llm_config": {"model": "gpt-4.1-mini"},
        "tts_config": {"provider": "elevenlabs", "voice_id": "sim-voice"},
        "autonomous_silence_handling": {"timeout_seconds": 2, "max_prompts": 0},
        "max_duration_seconds": 60,
        "webhook_secret": SECRET,
    }
    if url is not None:
        doc["webhook_url"] = url
    return doc | overrides


async def simulate(scenario: dict[str, Any], tmp_path: Path) -> ScenarioResult:
    sink = WebhookSink(TargetPolicy.loopback_allowed(), Outbox(tmp_path / "outbox"))
    lines: list[str] = []
    try:
        return await run_scenario(
            parse_scenario(scenario), sink=sink, settings=WorkerSettings(), say=lines.append
        )
    finally:
        await sink.aclose(timeout=10.0)


def report_of(result: ScenarioResult) -> EndOfCallReport:
    message = parse_envelope(result.report_body).message
    assert isinstance(message, EndOfCallReport)
    return message


async def test_greeting_then_caller_hangs_up(receiver: Receiver, tmp_path: Path) -> None:
    scenario = {
        "dispatch": {
            "call": {"id": "sim-hangup", "type": "web_call"},
            "assistant": assistant(receiver.url),
        },
        "caller": [{"hangup": True}],
    }
    result = await simulate(scenario, tmp_path)

    assert result.end_reason == "user_hangup"
    assert receiver.received, "the receiver got nothing"
    assert all(r.signature_ok for r in receiver.received)
    statuses = [m["status"] for m in receiver.of_type("status-update")]
    assert statuses == ["in-progress", "ended"]
    reports = receiver.of_type("end-of-call-report")
    assert len(reports) == 1
    assert reports[0]["end_reason"] == "user_hangup"
    assert reports[0]["call"]["id"] == "sim-hangup"
    assert any(GREETING in json.dumps(m) for m in reports[0]["messages"])
    # --report writes exactly what the receiver got
    assert json.loads(result.report_body) == receiver.received[-1].body


async def test_caller_turn_gets_the_scripted_reply(receiver: Receiver, tmp_path: Path) -> None:
    scenario = {
        "dispatch": {
            "call": {"id": "sim-turn", "type": "web_call"},
            "assistant": assistant(receiver.url),
        },
        "caller": [{"say": "I'd like to book a table for two"}, {"hangup": True}],
        "llm": [{"say": "Sure. For which day?"}],
    }
    result = await simulate(scenario, tmp_path)

    assert result.end_reason == "user_hangup"
    report = report_of(result)
    assert "I'd like to book a table for two" in report.transcript
    assert "Sure. For which day?" in report.transcript
    assert report.transcript.index("book a table") < report.transcript.index("For which day")
    assert receiver.of_type("end-of-call-report")[0]["transcript"] == report.transcript


async def test_silent_caller_ends_in_silence_timeout(receiver: Receiver, tmp_path: Path) -> None:
    scenario = {
        "dispatch": {
            "call": {"id": "sim-silent", "type": "web_call"},
            "assistant": assistant(receiver.url),
        },
        "caller": [],
    }
    result = await simulate(scenario, tmp_path)

    assert result.end_reason == "silence_timeout"
    assert [m["end_reason"] for m in receiver.of_type("end-of-call-report")] == ["silence_timeout"]


async def test_invalid_assistant_reports_config_error(receiver: Receiver, tmp_path: Path) -> None:
    broken = assistant(receiver.url)
    del broken["tts_config"]["voice_id"]
    scenario = {"dispatch": {"call": {"id": "sim-broken", "type": "web_call"}, "assistant": broken}}
    result = await simulate(scenario, tmp_path)

    assert result.end_reason == "config_error"
    reports = receiver.of_type("end-of-call-report")
    assert len(reports) == 1
    assert reports[0]["end_reason"] == "config_error"
    assert "voice_id" in json.dumps(reports[0])
    assert all(r.signature_ok for r in receiver.received)
