"""Shared pieces of the end-reason tests: a runner for the `config/scenarios/end-*.yaml` files
through `run_scenario` (the production LiveCall), reporting to the suite's signed-webhook
receiver on 127.0.0.1 (tests/support/receiver.py, the ``receiver`` fixture).

Each test proves one way a call ends: exactly one end-of-call report reaches the receiver,
signed, with the expected end_reason and end_detail. Timings are printed (see the `-s` output
and the lifecycle report), never asserted: simulated calls run on a shared machine.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import yaml
from livekit.agents import llm

from agent.call.live_call import LiveCall
from agent.delivery.outbox import Outbox
from agent.delivery.target_policy import TargetPolicy
from agent.delivery.webhook import WebhookSink
from agent.simulator.live import ScenarioResult, run_scenario
from agent.simulator.scenario import parse_scenario
from agent.worker.settings import WorkerSettings
from tests.support.paths import SCENARIOS as SCENARIOS_DIR
from tests.support.receiver import SECRET, Receiver

SCENARIOS = SCENARIOS_DIR
__all__ = ["SECRET", "Receiver", "agent_lines", "exact_duration", "scenario_file", "simulate"]


def scenario_file(name: str, receiver: Receiver, **assistant: Any) -> dict[str, Any]:
    """`config/scenarios/<name>.yaml`, reporting to ``receiver`` (overrides merged in)."""
    data: dict[str, Any] = yaml.safe_load((SCENARIOS / f"{name}.yaml").read_text("utf-8"))
    doc = data["dispatch"]["assistant"]
    doc.update(webhook_url=receiver.url("/hook"), webhook_secret=SECRET, **assistant)
    return data


async def simulate(
    scenario: dict[str, Any],
    tmp_path: Path,
    *,
    lines: list[str] | None = None,
    extra_tools: Sequence[llm.Tool] = (),
    beside_call: Callable[[LiveCall], Awaitable[None]] | None = None,
) -> ScenarioResult:
    sink = WebhookSink(TargetPolicy.loopback_allowed(), Outbox(tmp_path / "outbox"))
    try:
        return await run_scenario(
            parse_scenario(scenario),
            sink=sink,
            settings=WorkerSettings(),
            say=(lines if lines is not None else []).append,
            extra_tools=extra_tools,
            beside_call=beside_call,
        )
    finally:
        await sink.aclose(timeout=10.0)


def exact_duration(report: dict[str, Any]) -> float:
    """Call length in seconds to the millisecond (duration_seconds is whole seconds)."""
    return float(report["duration_ms"]) / 1000


def agent_lines(report: dict[str, Any]) -> list[str]:
    return [m["message"] for m in report["messages"] if m["role"] == "assistant" and m["message"]]
