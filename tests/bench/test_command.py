"""`python -m agent bench`: the JSON contract, the benchmark call, when a level counts.

The end-to-end test runs the real command at its smallest (one call, one level, one turn) in a
child process, as an operator would, and checks only the shape of what it prints: the figures
themselves are measurements, asserted nowhere (docs/benchmarks.md records them).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest

from agent.bench.figures import FloorFigures, LevelFigures, RoomAudioFigures, Spread, carried
from agent.bench.scenario import (
    AGENT_REPLIES,
    BACKCHANNEL,
    CALLER_LINES,
    INTERRUPTION,
    MAX_TURNS,
    bench_scenario,
)
from agent.cli import main
from agent.simulator.script import HangupStep, NoiseStep, SayStep
from tests.support.paths import REPO as REPO_ROOT

REPO = REPO_ROOT


def _spread_ok(value: Any) -> None:
    assert set(value) == {"p50", "p95", "mean", "samples"}
    assert isinstance(value["samples"], int)
    for key in ("p50", "p95", "mean"):
        assert value[key] is None or isinstance(value[key], float | int)


@pytest.mark.realtime
def test_one_call_prints_the_figures_as_the_last_thing_on_stdout() -> None:
    env = dict(os.environ, LIVEKIT_AGENTS_PRELOAD_LOCAL_INFERENCE="0")
    env.pop("VOICE_AGENT_WEBHOOK_SECRET", None)
    run = subprocess.run(
        [sys.executable, "-m", "agent", "bench", "--levels", "1", "--calls", "1", "--turns", "1"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    figures = json.loads(run.stdout)  # nothing but the JSON object on stdout

    assert isinstance(figures, dict)
    _spread_ok(figures["turn_overhead_ms"])
    _spread_ok(figures["greeting_ms"])
    assert figures["turn_overhead_ms"]["samples"] == 1
    assert figures["greeting_ms"]["samples"] == 1
    assert set(figures["cpu_ms_per_call_second"]) == {"1"}
    assert isinstance(figures["cpu_ms_per_call_second"]["1"], float | int)
    assert set(figures["rss_mb_per_call"]) == {"1"}
    assert isinstance(figures["rss_mb_per_call"]["1"], float | int)
    assert isinstance(figures["max_concurrent_calls"], int)
    assert figures["max_concurrent_calls"] in (0, 1)
    assert figures["cpus"] >= 1
    assert figures["process_baseline_rss_mb"] > 0

    [level] = figures["levels"]
    assert level["concurrency"] == 1
    assert level["calls"] == 1
    assert level["end_reasons"] == {"user_hangup": 1}
    assert level["turns"] == 1
    assert level["unanswered_turns"] == 0
    assert level["reports_received"] == 1  # signed, at the parent's loopback receiver
    for key in ("turn_latency_ms", "vad_detection_ms", "loop_lag_ms"):
        _spread_ok(level[key])
    assert level["cpu_ms_per_call_second"] > 0
    taking = level["turn_taking"]
    for key in ("finished_sentence_wait_ms", "mid_phrase_wait_ms", "interruption_quiet_ms"):
        _spread_ok(taking[key])
    assert (taking["pauses"], taking["overlaps"]) == (1, 2)  # each probe once
    assert isinstance(taking["premature_replies"], int)
    assert isinstance(figures["false_interruptions"], int)
    assert level["rss_peak_mb"] >= level["rss_baseline_mb"] > 0


def test_bad_arguments_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--turns", str(MAX_TURNS + 1)]) == 2
    assert main(["bench", "--levels", "1,x"]) == 2
    assert main(["bench", "--levels", "0"]) == 2
    assert main(["bench", "--levels", "1", "--floor-levels", "1,x"]) == 2
    assert main(["bench", "--levels", "1", "--floor-levels", "0"]) == 2
    assert main(["bench", "--levels", "1", "--production", "process,fibre"]) == 2
    assert capsys.readouterr().out == ""


def test_the_benchmark_call_is_a_greeting_turns_and_a_hang_up() -> None:
    scenario = bench_scenario(
        call_id="c1", turns=2, webhook_url="http://127.0.0.1:9/hook", webhook_secret="s3cret"
    )
    steps = scenario.caller_steps()
    said = [s for s in steps if isinstance(s, SayStep)]
    # the ordinary turns first, waiting their turn, then the turn-taking probes
    assert [s.text for s in said[:2]] == list(CALLER_LINES[:2])
    assert not any(s.barge_in or s.more for s in said[:2])
    assert said[2].more  # a pause inside one turn
    assert [s.text for s in said if s.barge_in] == [BACKCHANNEL, INTERRUPTION]
    assert [s for s in steps if isinstance(s, NoiseStep) and s.barge_in]
    assert isinstance(steps[-1], HangupStep)
    assert steps[-1].wait_for_agent
    assert [r.say for r in scenario.llm[:2]] == list(AGENT_REPLIES[:2])
    assistant = scenario.dispatch["assistant"]
    assert assistant["first_message"]
    assert assistant["webhook_url"] == "http://127.0.0.1:9/hook"
    assert assistant["webhook_secret"] == "s3cret"
    # what the bench subtracts as configured must be what the stand-ins wait
    assert scenario.providers.stt_final_ms == 150
    assert scenario.providers.llm_ttft_ms == 250
    assert scenario.providers.tts_ttfb_ms == 120

    greeting_only = bench_scenario(call_id="c2", turns=0, webhook_url=None, webhook_secret=None)
    assert [type(s) for s in greeting_only.caller_steps()] == [HangupStep]
    assert "webhook_url" not in greeting_only.dispatch["assistant"]
    with pytest.raises(ValueError, match="turns"):
        bench_scenario(call_id="c3", turns=MAX_TURNS + 1, webhook_url=None, webhook_secret=None)


def _level(**overrides: Any) -> LevelFigures:
    values: dict[str, Any] = {
        "concurrency": 4, "calls": 4, "wall_seconds": 20.0, "call_seconds": 80.0,
        "end_reasons": {"user_hangup": 4}, "turns": 12, "unanswered_turns": 0,
        "turn_latency_ms": Spread.of([700.0, 720.0]),
        "turn_overhead_ms": Spread.of([10.0, 20.0]),
        "vad_detection_ms": Spread.of([100.0, 120.0]),
        "greeting_ms": Spread.of([130.0]),
        "cpu_ms_per_call_second": 80.0, "cpu_cores_busy": 0.3,
        "rss_baseline_mb": 180.0, "rss_peak_mb": 220.0, "rss_mb_per_call": 10.0,
        "loop_lag_ms": Spread.of([1.0]), "reports_received": 4,
    }  # fmt: skip
    return LevelFigures(**(values | overrides))


def test_a_level_is_carried_only_with_every_call_whole_and_overhead_in_budget() -> None:
    assert carried(_level(), 50.0, idle_vad_mean_ms=100.0)
    assert not carried(
        _level(turn_overhead_ms=Spread.of([10.0, 60.0])), 50.0, idle_vad_mean_ms=100.0
    )
    assert not carried(_level(turn_overhead_ms=Spread.of([])), 50.0, idle_vad_mean_ms=100.0)
    assert not carried(_level(unanswered_turns=1), 50.0, idle_vad_mean_ms=100.0)
    assert not carried(_level(reports_received=3), 50.0, idle_vad_mean_ms=100.0)
    # the VAD falling behind its audio under load is the worker making callers wait
    behind = _level(vad_detection_ms=Spread.of([160.0, 170.0]))
    assert carried(behind, 50.0, idle_vad_mean_ms=120.0)
    assert not carried(behind, 50.0, idle_vad_mean_ms=100.0)


def test_spread_is_p50_and_p95_of_the_samples() -> None:
    spread = Spread.of([100.0, 200.0, 300.0, 400.0])
    assert (spread.p50, spread.p95, spread.mean, spread.samples) == (250.0, 385.0, 250.0, 4)
    assert Spread.of([]) == Spread(p50=None, p95=None, mean=None, samples=0)


def _child(*args: str) -> dict[str, Any]:
    env = dict(os.environ, LIVEKIT_AGENTS_PRELOAD_LOCAL_INFERENCE="0")
    run = subprocess.run(  # noqa: S603 - this interpreter, the bench's own modules
        [sys.executable, "-m", *args], cwd=REPO, env=env, capture_output=True, text=True,
        timeout=300, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    figures: dict[str, Any] = json.loads(run.stdout.strip().splitlines()[-1])
    return figures


@pytest.mark.realtime
def test_the_floor_runs_ours_and_a_bare_session_interleaved() -> None:
    figures = FloorFigures.model_validate(
        _child("agent.bench.floor", "--concurrency", "1", "--calls", "1", "--rounds", "2")
    )
    # round 1: ours then the floor; round 2: the floor then ours; 3 turns a call each time
    assert [list(r) for r in figures.overhead_mean_ms_by_round] == [
        ["ours", "floor"],
        ["floor", "ours"],
    ]
    assert figures.ours.turns == figures.floor.turns == 6
    assert figures.ours.cpu_ms_per_call_second > 0
    assert figures.floor.cpu_ms_per_call_second > 0
    assert figures.overhead_mean_ratio is not None
    assert figures.cpu_ratio > 0
    assert len(figures.cpu_ratio_by_round) == 2
    assert len(figures.loadavg_before) == 3


@pytest.mark.realtime
def test_the_room_audio_path_runs_in_real_time_without_a_server() -> None:
    figures = RoomAudioFigures.model_validate(
        _child("agent.bench.room_audio", "--calls", "2", "--seconds", "2")
    )
    # RoomIO's input stream delivered its 10 ms frames at 24 kHz in real time, and the
    # agent's speech went out in 50 ms chunks for 40 % of the time
    assert 80 <= figures.in_frames_per_call_second <= 110
    assert figures.out_chunks_per_call_second > 0
    assert figures.calls == 2
