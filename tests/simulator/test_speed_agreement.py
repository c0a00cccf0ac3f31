"""The same call at real time and sped up 8x says the same thing, in the same call time.

The rest of the suite runs its simulated calls sped up (tests/conftest.py) and asserts what a
real-time call must show; this checks the premise, in the real-time tier: a scenario's report
at 8x matches the same scenario's report at real time, message for message, within the drift
the speed costs (the worker's own CPU time counts N times in call time: about 1-3% of a call).

The configured waits come out exactly at any speed (the endpointing and silence windows are
timers on the call clock), so a turn's ``end_of_turn_ms`` is held tight; what may drift is
the work between them, so message times and the duration get a looser bound.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from agent.delivery.outbox import Outbox
from agent.delivery.target_policy import TargetPolicy
from agent.delivery.webhook import WebhookSink
from agent.simulator.live import run_scenario
from agent.simulator.scenario import parse_scenario
from agent.simulator.speed import run_at_speed
from agent.worker.settings import WorkerSettings
from tests.support.paths import SCENARIOS

pytestmark = pytest.mark.realtime

SPEED = 8.0


async def _report(name: str) -> dict[str, Any]:
    scenario = yaml.safe_load((SCENARIOS / f"{name}.yaml").read_text(encoding="utf-8"))
    with tempfile.TemporaryDirectory(prefix="agreement-outbox-") as outbox:
        sink = WebhookSink(TargetPolicy.loopback_allowed(), Outbox(Path(outbox)))
        try:
            result = await run_scenario(
                parse_scenario(scenario), sink=sink, settings=WorkerSettings(), say=lambda _l: None
            )
        finally:
            await sink.aclose(timeout=10.0)
    message: dict[str, Any] = json.loads(result.report_body)["message"]
    return message


@pytest.mark.parametrize("name", ["booking", "end-silence-prompt", "transfer-sip"])
def test_a_sped_up_call_reports_what_the_real_time_call_reports(name: str) -> None:
    run_at_speed(lambda: _report(name), SPEED)  # warm: first-use costs out of both runs
    real = run_at_speed(lambda: _report(name), 1)
    fast = run_at_speed(lambda: _report(name), SPEED)

    assert (fast["end_reason"], fast["end_detail"]) == (real["end_reason"], real["end_detail"])
    said = [(m["role"], m["message"], m["interrupted"]) for m in real["messages"]]
    assert [(m["role"], m["message"], m["interrupted"]) for m in fast["messages"]] == said
    drift = max(0.3, 0.04 * real["duration_ms"] / 1000)  # seconds
    assert abs(fast["duration_ms"] - real["duration_ms"]) / 1000 < drift
    for at_real, at_speed in zip(real["messages"], fast["messages"], strict=True):
        for key in ("start_seconds", "end_seconds"):
            if at_real[key] is not None:
                assert abs(at_speed[key] - at_real[key]) < drift, (key, at_real, at_speed)
    turns_real = real["metrics"]["turns"]
    turns_fast = fast["metrics"]["turns"]
    assert len(turns_fast) == len(turns_real)
    for t_real, t_fast in zip(turns_real, turns_fast, strict=True):
        if t_real.get("end_of_turn_ms") is not None:
            assert abs(t_fast["end_of_turn_ms"] - t_real["end_of_turn_ms"]) < 25
