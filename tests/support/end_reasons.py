"""Shared pieces of the end-reason tests: a signed-webhook receiver on 127.0.0.1 and a runner
for the `config/scenarios/end-*.yaml` files through `run_scenario` (the production LiveCall).

Each test proves one way a call ends: exactly one end-of-call report reaches the receiver,
signed, with the expected end_reason and end_detail. Timings are printed (see the `-s` output
and the lifecycle report), never asserted: simulated calls run in real time on a shared machine.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import web
from livekit.agents import llm

from agent.call.live_call import LiveCall
from agent.delivery.outbox import Outbox
from agent.delivery.target_policy import TargetPolicy
from agent.delivery.webhook import WebhookSink
from agent.simulator.live import ScenarioResult, run_scenario
from agent.simulator.scenario import parse_scenario
from agent.worker.settings import WorkerSettings
from tests.support.paths import SCENARIOS as SCENARIOS_DIR
from tests.support.receiver import verify_webhook_signature

SCENARIOS = SCENARIOS_DIR
SECRET = "whsec_end_reasons_secret"


def signature_ok(raw: str, timestamp: str, signature: str) -> bool:
    return verify_webhook_signature(raw, timestamp, signature, SECRET)  # the seed's, verbatim


@dataclass
class Receiver:
    """Answers 200 and keeps every body; counts bad signatures."""

    url: str = ""
    bodies: list[dict[str, Any]] = field(default_factory=list)
    bad_signatures: int = 0

    async def handle(self, request: web.Request) -> web.Response:
        raw = await request.text()
        headers = request.headers
        if not signature_ok(
            raw, headers.get("X-Webhook-Timestamp", ""), headers.get("X-Webhook-Signature", "")
        ):
            self.bad_signatures += 1
        self.bodies.append(json.loads(raw))
        return web.json_response({"ok": True})

    def reports(self) -> list[dict[str, Any]]:
        return [b["message"] for b in self.bodies if b["message"]["type"] == "end-of-call-report"]

    def only_report(self) -> dict[str, Any]:
        """The one end-of-call report: fails on none, on two, or on a bad signature."""
        reports = self.reports()
        assert len(reports) == 1, f"{len(reports)} end-of-call reports"
        assert self.bad_signatures == 0
        return reports[0]


@pytest.fixture(autouse=True)
def _quiet_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIVEKIT_AGENTS_PRELOAD_LOCAL_INFERENCE", "0")
    monkeypatch.delenv("VOICE_AGENT_WEBHOOK_SECRET", raising=False)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    rx = Receiver()
    app = web.Application()
    app.router.add_post("/hook", rx.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    rx.url = f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
    yield rx
    await runner.cleanup()


def scenario_file(name: str, receiver: Receiver, **assistant: Any) -> dict[str, Any]:
    """`config/scenarios/<name>.yaml`, reporting to ``receiver`` (overrides merged in)."""
    data: dict[str, Any] = yaml.safe_load((SCENARIOS / f"{name}.yaml").read_text("utf-8"))
    doc = data["dispatch"]["assistant"]
    doc.update(webhook_url=receiver.url, webhook_secret=SECRET, **assistant)
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
