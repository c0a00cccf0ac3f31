"""Turn-taking on whole simulated calls (the shipped config/scenarios/turn-*.yaml and booking.yaml,
run through run_scenario: the production call path, real silero, offline vendors), each
reporting exactly one signed end-of-call report to a real receiver on 127.0.0.1.

What each asserts is an outcome the caller hears (which rule ended a turn, whether the agent
answered inside a pause, whether its speech was heard whole) and the lower bound of a wait (a
rule's wait is never shorter than configured, however loaded the machine); the measured waits
themselves are the bench's (docs/benchmarks.md).
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
from agent.simulator.scenario import load_scenario
from agent.worker.settings import WorkerSettings
from tests.support.paths import SCENARIOS
from tests.support.receiver import SECRET, Receiver

pytestmark = pytest.mark.simulated_call


@pytest.fixture(autouse=True)
def _environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VOICE_AGENT_TURN_MODEL", raising=False)


async def simulate(
    name: str, receiver: Receiver, tmp_path: Path, **turn_config: Any
) -> tuple[ScenarioResult, EndOfCallReport]:
    """Run config/scenarios/NAME.yaml reporting to ``receiver``; the one report it received."""
    scenario = load_scenario(SCENARIOS / f"{name}.yaml")
    assistant = scenario.dispatch["assistant"]
    assistant |= {"webhook_url": receiver.url("/hook"), "webhook_secret": SECRET}
    if turn_config:
        assistant["turn_config"] = assistant.get("turn_config", {}) | turn_config
    sink = WebhookSink(TargetPolicy.loopback_allowed(), Outbox(tmp_path / "outbox"))
    try:
        result = await run_scenario(
            scenario, sink=sink, settings=WorkerSettings(), say=lambda _line: None
        )
    finally:
        await sink.aclose(timeout=10.0)
    bodies = [json.loads(r.body) for r in receiver.received]
    reports = [b for b in bodies if b["message"]["type"] == "end-of-call-report"]
    assert len(reports) == 1, "exactly one end-of-call report"
    assert all(r.signature_ok for r in receiver.received)
    assert reports[0] == json.loads(result.report_body)
    report = parse_envelope(result.report_body).message
    assert isinstance(report, EndOfCallReport)
    return result, report


def caller_turns(report: EndOfCallReport) -> list[tuple[str | None, float | None, float | None]]:
    """(rule, configured wait, measured wait) of each turn the caller began."""
    return [
        (t.end_of_turn_rule, t.end_of_turn_wait_ms, t.end_of_turn_ms)
        for t in report.metrics.turns
        if t.end_of_turn_rule is not None
    ]


def agent_lines(report: EndOfCallReport) -> list[tuple[str, bool]]:
    return [(m.message, m.interrupted) for m in report.messages if m.role == "assistant"]


def premature_replies(result: ScenarioResult) -> list[str]:
    assert result.timings is not None
    return [t.caller_text for t in result.timings.turns if t.continues and t.latency_ms]


async def test_a_finished_sentence_is_answered_after_the_terminal_wait(
    receiver: Receiver, tmp_path: Path
) -> None:
    result, report = await simulate("booking", receiver, tmp_path)
    assert result.end_reason == "user_hangup"
    turns = caller_turns(report)
    assert [(rule, wait) for rule, wait, _ in turns] == [("terminal", 200.0)] * 2
    # far under the number rule's 1.2 s: the caller was answered at once (the bench has the
    # figure: ~225 ms, against ~575 ms before turn plans)
    assert all(measured is not None and measured < 1000 for _, _, measured in turns)


async def test_each_rule_waits_its_own_time(receiver: Receiver, tmp_path: Path) -> None:
    _, report = await simulate("turn-rules", receiver, tmp_path)
    turns = caller_turns(report)
    assert [(rule, wait) for rule, wait, _ in turns] == [
        ("terminal", 200.0),
        ("number", 1200.0),
        ("mid_phrase", 1500.0),
    ]
    (_, _, terminal), (_, _, number), (_, _, mid_phrase) = turns
    assert terminal is not None
    assert terminal < 1000
    assert number is not None
    assert number >= 1200
    assert mid_phrase is not None
    assert mid_phrase >= 1500


async def test_no_reply_inside_a_pause_of_a_turn(receiver: Receiver, tmp_path: Path) -> None:
    result, report = await simulate("turn-pauses", receiver, tmp_path)
    assert premature_replies(result) == []
    # three turns, each the whole of what the caller said across its pause
    users = [m.message for m in report.messages if m.role == "user"]
    assert users == [
        "I'd like to book a table for two people on Friday.",
        "At eight, and a window table if you can.",
        "My number is 415 555 0134.",
    ]
    assert [rule for rule, _, _ in caller_turns(report)] == ["terminal", "terminal", "number"]
    assert [line for line, _ in agent_lines(report)][1:] == [
        "Sure. At what time?",
        "Noted. What number can we reach you on?",
        "Done. See you then!",
    ]


async def test_a_pause_between_number_groups_is_not_answered(
    receiver: Receiver, tmp_path: Path
) -> None:
    result, report = await simulate("turn-number-pause", receiver, tmp_path)
    assert premature_replies(result) == []
    assert [rule for rule, _, _ in caller_turns(report)] == ["number", "number"]


async def test_the_same_pause_is_answered_by_the_earlier_plan(
    receiver: Receiver, tmp_path: Path
) -> None:
    # what the default plan fixes: the fixed 0.5 s wait after a 0.55 s silence answers a
    # caller who paused for 1.0 s mid-sentence
    result, _ = await simulate(
        "turn-pauses",
        receiver,
        tmp_path,
        endpointing_mode="vad",
        min_silence_seconds=0.55,
        min_interruption_words=0,
        min_interruption_seconds=0.5,
    )
    assert premature_replies(result)


async def test_backchannels_never_stop_the_agent(receiver: Receiver, tmp_path: Path) -> None:
    result, report = await simulate("turn-backchannel", receiver, tmp_path)
    assert [(i.outcome, i.words) for i in report.metrics.interruptions] == [
        ("backchannel", 1),
        ("backchannel", 2),
    ]
    assert all(i.quiet_ms is None for i in report.metrics.interruptions)
    assert not any(interrupted for _, interrupted in agent_lines(report))
    assert result.timings is not None
    assert [o.agent_heard_whole for o in result.timings.overlaps] == [True, True]
    # nothing answered them: the caller's turns are the two questions
    assert [m.message for m in report.messages if m.role == "user"] == [
        "Do you have vegetarian dishes?",
        "And is there parking nearby?",
    ]


async def test_noise_over_the_agent_is_ignored(receiver: Receiver, tmp_path: Path) -> None:
    result, report = await simulate("turn-noise", receiver, tmp_path)
    [interruption] = report.metrics.interruptions
    assert (interruption.outcome, interruption.words, interruption.quiet_ms) == ("ignored", 0, None)
    assert result.timings is not None
    [overlap] = result.timings.overlaps
    assert overlap.kind == "noise"
    assert overlap.agent_speaking
    assert overlap.agent_heard_whole
    assert not any(interrupted for _, interrupted in agent_lines(report))


async def test_noise_stopped_the_agent_under_the_earlier_plan(
    receiver: Receiver, tmp_path: Path
) -> None:
    # the same laughter with any 0.5 s of sound interrupting (the plan before turn plans):
    # the VAD hears speech, so the agent pauses, and its sentence is not heard whole
    result, _ = await simulate(
        "turn-noise", receiver, tmp_path, min_interruption_words=0, min_interruption_seconds=0.5
    )
    assert result.timings is not None
    [overlap] = result.timings.overlaps
    assert not overlap.agent_heard_whole
    assert overlap.agent_quiet_ms is not None


async def test_a_real_interruption_stops_the_agent(receiver: Receiver, tmp_path: Path) -> None:
    result, report = await simulate("turn-interrupt", receiver, tmp_path)
    [interruption] = report.metrics.interruptions
    assert interruption.outcome == "stopped"
    assert interruption.words == 2
    assert interruption.quiet_ms is not None
    lines = agent_lines(report)
    cut = [line for line, interrupted in lines if interrupted]
    assert len(cut) == 1
    assert len(cut[0]) < 60
    assert lines[-1] == ("Of course, go ahead.", False)  # and the caller was answered
    assert result.timings is not None
    [overlap] = result.timings.overlaps
    assert overlap.agent_quiet_ms is not None
    assert not overlap.agent_heard_whole


async def test_a_false_interruption_is_resumed_after_the_timeout(
    receiver: Receiver, tmp_path: Path
) -> None:
    result, report = await simulate("turn-false-interruption", receiver, tmp_path)
    [interruption] = report.metrics.interruptions
    assert (interruption.outcome, interruption.words) == ("resumed", 0)
    # paused for the laughter, resumed no sooner than 1.0 s after it ended
    assert interruption.resumed_ms is not None
    assert interruption.resumed_ms >= 1000
    assert result.timings is not None
    [overlap] = result.timings.overlaps
    assert overlap.agent_resumed
    assert not overlap.agent_heard_whole
    # the sentence went on where it paused, to its end
    assert not any(interrupted for _, interrupted in agent_lines(report))


async def test_indian_english_backchannels_and_continuations(
    receiver: Receiver, tmp_path: Path
) -> None:
    result, report = await simulate("turn-en-in", receiver, tmp_path)
    assert [i.outcome for i in report.metrics.interruptions] == ["backchannel"]
    assert premature_replies(result) == []  # no answer after "matlab"
    assert "For four people, matlab two adults and two kids." in [
        m.message for m in report.messages if m.role == "user"
    ]


async def test_model_mode_is_refused_where_the_model_is_not_loaded(
    receiver: Receiver, tmp_path: Path
) -> None:
    result, report = await simulate("booking", receiver, tmp_path, endpointing_mode="model")
    assert result.end_reason == "config_error"
    assert report.end_detail is not None
    assert "assistant.turn_config.endpointing_mode" in report.end_detail
    assert "VOICE_AGENT_TURN_MODEL" in report.end_detail
