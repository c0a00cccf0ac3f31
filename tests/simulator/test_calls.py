"""Whole simulated calls through LiveCall, reporting to a real receiver on 127.0.0.1.

The scenario runs exactly as `python -m agent simulate` runs it: LiveCall owns the session,
the lifecycle, the events and the report; only the vendors and the room are simulated. Every
delivery the receiver gets is checked with the seed's signature verifier. Each call takes a
few seconds of call time (VAD and turn timers run for real, on the suite's call clock); only
outcomes are asserted.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from agent.contracts.events import EndOfCallReport, parse_envelope
from agent.delivery.outbox import Outbox
from agent.delivery.target_policy import TargetPolicy
from agent.delivery.webhook import WebhookSink
from agent.simulator.live import ScenarioResult, run_scenario
from agent.simulator.scenario import parse_scenario
from agent.worker.settings import WorkerSettings
from tests.support.receiver import SECRET, Receiver  # checks with the seed's verifier

pytestmark = pytest.mark.simulated_call


GREETING = "Hello, how can I help?"


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
            "assistant": assistant(receiver.url("/hook")),
        },
        "caller": [{"hangup": True}],
    }
    result = await simulate(scenario, tmp_path)

    assert result.end_reason == "user_hangup"
    assert receiver.received, "the receiver got nothing"
    assert all(r.signature_ok for r in receiver.received)
    statuses = [m["status"] for m in receiver.messages("status-update")]
    assert statuses == ["in-progress", "ended"]
    reports = receiver.messages("end-of-call-report")
    assert len(reports) == 1
    assert reports[0]["end_reason"] == "user_hangup"
    assert reports[0]["call"]["id"] == "sim-hangup"
    assert any(GREETING in json.dumps(m) for m in reports[0]["messages"])
    # --report writes exactly what the receiver got
    assert json.loads(result.report_body) == json.loads(receiver.received[-1].body)


async def test_caller_turn_gets_the_scripted_reply(receiver: Receiver, tmp_path: Path) -> None:
    scenario = {
        "dispatch": {
            "call": {"id": "sim-turn", "type": "web_call"},
            "assistant": assistant(receiver.url("/hook")),
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
    assert receiver.messages("end-of-call-report")[0]["transcript"] == report.transcript


async def test_silent_caller_ends_in_silence_timeout(receiver: Receiver, tmp_path: Path) -> None:
    scenario = {
        "dispatch": {
            "call": {"id": "sim-silent", "type": "web_call"},
            "assistant": assistant(receiver.url("/hook")),
        },
        "caller": [],
    }
    result = await simulate(scenario, tmp_path)

    assert result.end_reason == "silence_timeout"
    assert [m["end_reason"] for m in receiver.messages("end-of-call-report")] == ["silence_timeout"]


async def test_invalid_assistant_reports_config_error(receiver: Receiver, tmp_path: Path) -> None:
    broken = assistant(receiver.url("/hook"))
    del broken["tts_config"]["voice_id"]
    scenario = {"dispatch": {"call": {"id": "sim-broken", "type": "web_call"}, "assistant": broken}}
    result = await simulate(scenario, tmp_path)

    assert result.end_reason == "config_error"
    reports = receiver.messages("end-of-call-report")
    assert len(reports) == 1
    assert reports[0]["end_reason"] == "config_error"
    assert "voice_id" in json.dumps(reports[0])
    assert all(r.signature_ok for r in receiver.received)
