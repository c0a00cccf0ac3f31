"""`python -m agent.bench.turn_model_cost`: the shape of what it prints (the figures are
measurements, recorded in docs/benchmarks.md, asserted nowhere)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.support.paths import REPO


@pytest.mark.realtime
def test_it_prints_the_per_process_and_per_turn_cost() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "agent.bench.turn_model_cost", "--predictions", "2",
         "--children", "1"],
        cwd=REPO, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    figures = json.loads(run.stdout)
    assert figures["rss_added_mb"] > 0  # the weights are really loaded
    assert figures["init_seconds"] >= 0
    assert figures["prediction_ms"]["samples"] == 2
    [own] = figures["children_loading_their_own"]
    [shared] = figures["children_sharing_the_parents"]
    assert set(own) == set(shared) == {"rss_mb", "pss_mb", "uss_mb"}
