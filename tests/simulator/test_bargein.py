"""A caller barging in, through LiveCall, reporting to a real receiver on 127.0.0.1.

The scenario runs as `python -m agent simulate` runs it (LiveCall, offline vendors, silero,
signed webhooks): the caller speaks over the agent's long answer one second in. What the
caller heard must be what everyone else is told: the agent's audio stops, the report marks
its message interrupted and keeps only the part spoken, and the transcript published to the
caller is cut at the same place. Only outcomes are asserted, never timings.
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
from agent.simulator.offline import FALLBACK_REPLY
from agent.simulator.scenario import parse_scenario
from agent.worker.settings import WorkerSettings
from tests.support.receiver import SECRET, Receiver

pytestmark = pytest.mark.simulated_call

# ~5 s of speech at 15 characters a second: long enough to cut one second in, short enough
# to play out whole within the runner's 8 s answer wait (the caller hangs up after that)
LONG_REPLY = "We open at nine on Saturdays and at eleven on Sundays, until ten in the evening."
BARGE_IN = "Sorry, just Sunday?"


def barge_in_scenario(url: str) -> dict[str, Any]:
    return {
        "dispatch": {
            "call": {"id": "sim-barge-in", "type": "web_call"},
            "assistant": {
                "name": "Opening hours",
                "first_message": "Hello, Trattoria Roma.",
                "stt_config": {"provider": "deepgram"},
                "llm_config": {"model": "gpt-4.1-mini"},
                "tts_config": {"provider": "elevenlabs", "voice_id": "sim-voice"},
                "autonomous_silence_handling": {"timeout_seconds": 10, "max_prompts": 0},
                "max_duration_seconds": 60,
                "webhook_url": url,
                "webhook_secret": SECRET,
            },
        },
        "caller": [
            {"say": "When do you open?"},
            {"say": BARGE_IN, "barge_in": True, "after_seconds": 1.0},
            {"hangup": True},
        ],
        # the barge-in is answered by the offline LLM's fallback
        "llm": [{"say": LONG_REPLY}],
    }


async def simulate(scenario: dict[str, Any], tmp_path: Path) -> ScenarioResult:
    sink = WebhookSink(TargetPolicy.loopback_allowed(), Outbox(tmp_path / "outbox"))
    try:
        return await run_scenario(
            parse_scenario(scenario), sink=sink, settings=WorkerSettings(), say=lambda _: None
        )
    finally:
        await sink.aclose(timeout=10.0)


def reports(receiver: Receiver) -> list[dict[str, Any]]:
    bodies = [json.loads(r.body) for r in receiver.received]
    return [b for b in bodies if b["message"]["type"] == "end-of-call-report"]


async def test_barge_in_cuts_the_agent_in_the_report_and_the_published_transcript(
    receiver: Receiver, tmp_path: Path
) -> None:
    result = await simulate(barge_in_scenario(receiver.url("/hook")), tmp_path)

    assert result.end_reason == "user_hangup"
    assert receiver.received, "the receiver got nothing"
    assert all(r.signature_ok for r in receiver.received)
    [received_report] = reports(receiver)
    assert received_report == json.loads(result.report_body)

    report = parse_envelope(result.report_body).message
    assert isinstance(report, EndOfCallReport)
    agent_lines = [(m.message, m.interrupted) for m in report.messages if m.role == "assistant"]
    cut = [text for text, interrupted in agent_lines if interrupted]
    assert len(cut) == 1, agent_lines
    assert LONG_REPLY.startswith(cut[0].strip())
    assert len(cut[0]) < len(LONG_REPLY) / 2  # ~1.5 s heard of a ~5 s answer
    assert (LONG_REPLY, False) not in agent_lines
    assert agent_lines[-1] == (FALLBACK_REPLY, False)  # the barge-in was answered
    assert BARGE_IN in [m.message for m in report.messages if m.role == "user"]

    # what was published to the caller stopped where the audio stopped
    published = result.published_transcripts
    assert LONG_REPLY not in [text.strip() for text in published]
    assert any(text.strip() and LONG_REPLY.startswith(text.strip()) for text in published)

    # the runner's timings saw the barge-in as a turn of its own
    assert result.timings is not None
    assert [t.caller_text for t in result.timings.turns] == ["When do you open?", BARGE_IN]
    assert result.timings.turns[1].barge_in


async def test_without_a_barge_in_the_same_answer_plays_out_whole(
    receiver: Receiver, tmp_path: Path
) -> None:
    scenario = barge_in_scenario(receiver.url("/hook"))
    scenario["caller"] = [{"say": "When do you open?"}, {"hangup": True}]
    result = await simulate(scenario, tmp_path)

    report = parse_envelope(result.report_body).message
    assert isinstance(report, EndOfCallReport)
    agent_lines = [(m.message, m.interrupted) for m in report.messages if m.role == "assistant"]
    assert (LONG_REPLY, False) in agent_lines
    assert not any(interrupted for _, interrupted in agent_lines)
    assert LONG_REPLY in [text.strip() for text in result.published_transcripts]
