"""The `simulate` command's contract: exit codes, problems named by path, the report file."""

from __future__ import annotations

import argparse
import json
import re
from datetime import datetime
from pathlib import Path

import pytest
import yaml

from agent.simulator.command import register
from agent.simulator.scenario import ScenarioError, load_scenario, parse_scenario
from agent.simulator.script import (
    HangupStep,
    NoiseStep,
    SayStep,
    SilenceStep,
    parse_caller_script,
)
from tests.support.paths import SCENARIOS as SCENARIOS_DIR

SCENARIOS = SCENARIOS_DIR


def run_cli(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["simulate", *argv])
    code: int = args.func(args)
    return code


def write(tmp_path: Path, scenario: object) -> Path:
    path = tmp_path / "scenario.yaml"
    path.write_text(yaml.safe_dump(scenario), encoding="utf-8")
    return path


def test_unknown_key_exits_2_naming_its_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(
        tmp_path,
        {"dispatch": {}, "caller": [{"say": "Hi"}, {"sya": "Hello"}], "providres": {}},
    )
    assert run_cli(str(path)) == 2
    err = capsys.readouterr().err
    assert "caller.1.sya: unknown key" in err
    assert "providres: unknown key" in err


def test_unreadable_scenario_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(str(tmp_path / "missing.yaml")) == 2
    assert "cannot read" in capsys.readouterr().err


def test_caller_step_needs_exactly_one_action() -> None:
    with pytest.raises(ScenarioError) as exc:
        parse_scenario({"dispatch": {}, "caller": [{"say": "Hi", "silence": 2}]})
    assert exc.value.problems[0].startswith("caller.0:")


def test_short_forms_become_caller_steps() -> None:
    scenario = parse_scenario(
        {
            "dispatch": {},
            "caller": [
                {"say": "Yes please", "barge_in": True, "after_seconds": 0.5},
                {"silence": 6},
                {"hangup": "now"},
            ],
            "llm": [{"tool": {"name": "book_table", "arguments": {"day": "friday"}}}],
        }
    )
    assert scenario.caller_steps() == [
        SayStep(text="Yes please", barge_in=True, barge_in_after_seconds=0.5),
        SilenceStep(seconds=6),
        HangupStep(wait_for_agent=False),
    ]


def test_a_say_list_is_one_turn_with_pauses_and_noise_is_a_step() -> None:
    scenario = parse_scenario(
        {
            "dispatch": {},
            "caller": [
                {"say": ["I'd like a table for", "two."], "pause_seconds": 1.0},
                {"noise": 0.6, "barge_in": True, "after_seconds": 1.5},
                {"noise": 0.4},
            ],
        }
    )
    assert scenario.caller_steps() == [
        SayStep(text="I'd like a table for", more=("two.",), pause_seconds=1.0),
        NoiseStep(seconds=0.6, barge_in=True, barge_in_after_seconds=1.5),
        NoiseStep(seconds=0.4),
    ]
    # the script's own short form reads the same
    assert parse_caller_script([{"say": ["a", "b"]}, {"noise": 0.4}]) == [
        SayStep(text="a", more=("b",)),
        NoiseStep(seconds=0.4),
    ]


@pytest.mark.parametrize(
    "step",
    [
        {"say": "Hi", "pause_seconds": 1.0},  # a pause goes between the parts of a list
        {"say": []},
        {"say": ["Hi", ""]},
        {"noise": 0},
        {"noise": 0.5, "say": "Hi"},
    ],
)
def test_bad_say_lists_and_noises_are_refused(step: dict[str, object]) -> None:
    with pytest.raises(ScenarioError) as exc:
        parse_scenario({"dispatch": {}, "caller": [step]})
    assert exc.value.problems[0].startswith("caller.0")


@pytest.mark.parametrize("path", sorted(SCENARIOS.glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_scenarios_are_valid(path: Path) -> None:
    assert load_scenario(path).dispatch


def test_config_error_call_exits_0_and_writes_the_report(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        {
            "dispatch": {
                "call": {"id": "sim-broken", "type": "web_call"},
                "assistant": {
                    "stt_config": {"provider": "deepgram"},
                    "llm_config": {"model": "gpt-4.1-mini"},
                    "tts_config": {"provider": "elevenlabs"},
                },
            }
        },
    )
    report = tmp_path / "report.json"
    assert run_cli(str(path), "--report", str(report), "--outbox", str(tmp_path / "ob")) == 0
    message = json.loads(report.read_bytes())["message"]
    assert message["type"] == "end-of-call-report"
    assert message["end_reason"] == "config_error"
    assert "voice_id" in json.dumps(message)


@pytest.mark.parametrize("speed", ["0", "-2", "1000", "fast"])
def test_a_speed_out_of_range_is_a_usage_error(
    speed: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        run_cli(str(SCENARIOS / "end-phrase.yaml"), "--speed", speed)
    assert exited.value.code == 2
    assert "--speed" in capsys.readouterr().err


def test_speed_runs_the_call_faster_and_its_report_states_call_time(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = tmp_path / "report.json"
    argv = ["--speed", "8", "--report", str(report), "--outbox", str(tmp_path / "ob")]
    assert run_cli(str(SCENARIOS / "end-phrase.yaml"), *argv) == 0
    out = capsys.readouterr().out
    found = re.search(r"\(wall ([\d.]+) s, speed 8x\)", out)
    assert found, out
    wall = float(found.group(1))
    message = json.loads(report.read_bytes())["message"]
    assert (message["end_reason"], message["end_detail"]) == ("agent_hangup", "end_call_phrase")
    # A ~6.5 s call: at real time the wall is as long as the call, at 8x a fraction of it.
    call_seconds = message["duration_ms"] / 1000
    assert call_seconds > 5.0
    assert call_seconds > 2 * wall
    # the report's own clock is the call's: its start and end are a call duration apart
    span = datetime.fromisoformat(message["ended_at"]) - datetime.fromisoformat(
        message["started_at"]
    )
    assert abs(span.total_seconds() - call_seconds) < 0.01
    # the printed conversation is in call time too: the last agent line after 5 call s
    last_agent = [line for line in out.splitlines() if "  agent   " in line][-1]
    assert float(last_agent.split("s", 1)[0]) > 5.0
