"""One throw-away simulated call, before a process's first sped-up test call.

A process's first call pays one-off costs: first-use imports, the silero ONNX session, the
first aiohttp client and server, the LiveKit API client and its Twirp codec. At real time
those are a few hundred milliseconds; in a call sped up N times they are N times longer in
call time, enough to push a line past a silence timeout or a caller's pause. So the suite's
first sped-up loop in each process (tests/conftest.py) first runs this call, at the same speed:
a SIP caller, a spoken greeting and line, a transfer tool call through the offline LiveKit
server, and signed webhooks to a receiver on 127.0.0.1. Its outcome is checked, so a warm-up
that did not run the whole path fails loudly instead of warming nothing.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web

from agent.delivery.outbox import Outbox
from agent.delivery.target_policy import TargetPolicy
from agent.delivery.webhook import WebhookSink
from agent.simulator.live import run_scenario
from agent.simulator.scenario import parse_scenario
from agent.simulator.speed import run_at_speed
from agent.worker.settings import WorkerSettings
from tests.support.paths import SCENARIOS


async def _call(outbox: Path) -> str:
    received: list[Any] = []

    async def hook(request: web.Request) -> web.Response:
        received.append(await request.read())
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    scenario: dict[str, Any] = yaml.safe_load((SCENARIOS / "transfer-sip.yaml").read_text())
    scenario["dispatch"]["assistant"] |= {
        "webhook_url": f"http://127.0.0.1:{runner.addresses[0][1]}/hook",
        "webhook_secret": "whsec_warm_up",
    }
    sink = WebhookSink(TargetPolicy.loopback_allowed(), Outbox(outbox))
    try:
        result = await run_scenario(
            parse_scenario(scenario), sink=sink, settings=WorkerSettings(), say=lambda _l: None
        )
    finally:
        await sink.aclose(timeout=10.0)
        await runner.cleanup()
    if not received:
        raise RuntimeError("warm-up call delivered no webhook")
    return result.end_reason


def warm_up(speed: float) -> None:
    """Run the warm-up call at ``speed`` (in its own loop, before the test's loop exists)."""
    with tempfile.TemporaryDirectory(prefix="warm-up-outbox-") as outbox:
        end_reason = run_at_speed(lambda: _call(Path(outbox)), speed)
    if end_reason != "transferred":
        raise RuntimeError(f"warm-up call ended {end_reason!r}, not 'transferred'")
