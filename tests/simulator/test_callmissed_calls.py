"""Whole simulated calls of a CallMissed backend, verified with CallMissed's own code.

The dispatch document is the seed's own Create Session body (config/examples/
callmissed-session.json, copied from seeds/004), with only its `webhook_url` pointed at a real
receiver on 127.0.0.1. The seed's body has no secret field, so the operator's default
(`VOICE_AGENT_WEBHOOK_SECRET`) signs, and the receiver checks every request with the seed's
"Verify the signature" snippet, verbatim. The call runs through LiveCall as `python -m agent
simulate` runs it (offline vendors, real VAD and turn timers: a few seconds each).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from agent.contracts.events import parse_session
from agent.delivery.outbox import Outbox
from agent.delivery.target_policy import TargetPolicy
from agent.delivery.webhook import WebhookSink
from agent.simulator.live import ScenarioResult, run_scenario
from agent.simulator.scenario import parse_scenario
from agent.worker.ledger import report_delivery_id
from agent.worker.settings import WorkerSettings
from tests.support.paths import EXAMPLES
from tests.support.receiver import SECRET, Received, Receiver

pytestmark = pytest.mark.simulated_call

EXAMPLE = EXAMPLES / "callmissed-session.json"


def seed_document(url: str, **changes: Any) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(EXAMPLE.read_text())
    assert document["webhook_url"] == "https://your-app.com/webhooks/voice"  # the seed's own
    return document | {"webhook_url": url} | changes


async def simulate(scenario: dict[str, Any], tmp_path: Path) -> ScenarioResult:
    sink = WebhookSink(TargetPolicy.loopback_allowed(), Outbox(tmp_path / "outbox"))
    try:
        return await run_scenario(
            parse_scenario(scenario),
            sink=sink,
            settings=WorkerSettings(webhook_secret=SecretStr(SECRET)),
            say=lambda _line: None,
        )
    finally:
        await sink.aclose(timeout=10.0)


def events(received: list[Received]) -> list[str]:
    return [r.headers.get("X-CallMissed-Event", "not callmissed") for r in received]


async def test_the_seeds_session_ends_with_one_verified_voice_session_ended(
    receiver: Receiver, tmp_path: Path
) -> None:
    scenario = {
        "dispatch": seed_document(receiver.url("/webhooks/voice")),
        "caller": [{"say": "What time do you open?"}, {"hangup": True}],
        "llm": [{"say": "Namaste! How can I help you?"}, {"say": "We open at nine."}],
    }
    result = await simulate(scenario, tmp_path)

    assert events(receiver.received) == ["voice_session.started", "voice_session.ended"]
    assert all(r.signature_ok is True for r in receiver.received)  # the seed's snippet
    ended = receiver.received[-1]
    assert ended.headers["X-CallMissed-Delivery"] == report_delivery_id("simulator")
    assert result.report_body == ended.body
    assert result.end_reason == "user_hangup"
    session = parse_session(ended.body)
    assert (session.id, session.status, session.end_reason) == (
        "simulator",
        "completed",
        "user_hangup",
    )
    assert session.turn_count == len(session.transcript) >= 2
    assert session.transcript[0].agent_response == "Namaste! How can I help you?"
    assert session.transcript[1].user_transcript == "What time do you open?"
    assert session.transcript[1].created_at is not None
    assert session.started_at is not None
    assert session.ended_at is not None
    assert session.duration_seconds == result.duration_seconds
    assert session.metadata is None  # the seed's body sends none
    expected = {k: v for k, v in seed_document("").items() if k != "webhook_url"}
    assert session.config is not None
    assert session.config.model_dump() == expected | {"livekit_room": "simulator"}


async def test_the_backends_end_call_is_its_delete(receiver: Receiver, tmp_path: Path) -> None:
    scenario = {
        "dispatch": seed_document(receiver.url("/webhooks/voice"), call={"id": "cm-delete"}),
        "caller": [
            {"say": "Hello?"},
            {"control": {"type": "end-call", "message": "Goodbye."}, "from": "server"},
        ],
        "llm": [{"say": "Namaste!"}, {"say": "Yes, I am here."}],
    }
    result = await simulate(scenario, tmp_path)
    assert events(receiver.received) == ["voice_session.started", "voice_session.ended"]
    assert all(r.signature_ok is True for r in receiver.received)
    session = parse_session(receiver.received[-1].body)
    assert (session.status, session.end_reason) == ("completed", "api_delete")
    assert result.end_reason == "agent_hangup"


async def test_a_broken_session_is_one_verified_voice_session_failed(
    receiver: Receiver, tmp_path: Path
) -> None:
    scenario = {
        "dispatch": seed_document(receiver.url("/webhooks/voice"), tts_provider="polly"),
        "caller": [{"hangup": True}],
    }
    result = await simulate(scenario, tmp_path)

    assert events(receiver.received) == ["voice_session.failed"]
    (failed,) = receiver.received
    assert failed.signature_ok is True
    assert result.end_reason == "config_error"
    session = parse_session(failed.body)
    assert (session.status, session.end_reason) == ("failed", "config_error")
    assert session.error is not None
    assert session.error.startswith("tts_provider:")
    assert session.started_at is None
