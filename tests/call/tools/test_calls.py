"""Function tools in whole simulated calls: the production path, a real tool server on 127.0.0.1.

`run_scenario` runs LiveCall with offline vendors; the scripted model calls `book_table`, the
worker POSTs a signed tool-calls event to the tool server, and the report must show the call,
its arguments, its result (or error) and `tool_ms`, once. What the caller saw published on
`lk.transcription` (the simulated room's transcript recorder) must hold no trace of the tool.
Calls run in real time; only outcomes are asserted.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import web
from livekit.agents import llm

from agent.call.live_call import LiveCall
from agent.contracts.events import EndOfCallReport, parse_envelope
from agent.delivery.outbox import Outbox
from agent.delivery.target_policy import TargetPolicy
from agent.delivery.webhook import WebhookSink
from agent.simulator.live import ScenarioResult, run_scenario
from agent.simulator.scenario import parse_scenario
from agent.simulator.transport import TranscriptRecorder
from agent.worker.settings import WorkerSettings
from tests.support.paths import SCENARIOS as SCENARIOS_DIR
from tests.support.receiver import verify_webhook_signature

pytestmark = pytest.mark.simulated_call

SECRET = "whsec_tool_calls_secret"
SCENARIOS = SCENARIOS_DIR


@dataclass
class Backend:
    """Tool server (/tools) and webhook receiver (/hook) of one backend."""

    tool_delay: float = 0.0
    """Seconds the tool takes to answer (the backend's own processing, not a worker timer)."""
    tool_requests: list[dict[str, Any]] = field(default_factory=list)
    hooks: list[dict[str, Any]] = field(default_factory=list)
    signatures_ok: list[bool] = field(default_factory=list)
    base: str = ""

    async def _verified(self, request: web.Request) -> dict[str, Any]:
        raw = await request.text()
        self.signatures_ok.append(
            verify_webhook_signature(
                raw,
                request.headers.get("X-Webhook-Timestamp", ""),
                request.headers.get("X-Webhook-Signature", ""),
                SECRET,
            )
        )
        body: dict[str, Any] = json.loads(raw)
        return body

    async def tools(self, request: web.Request) -> web.Response:
        body = await self._verified(request)
        self.tool_requests.append(body)
        if self.tool_delay:
            await asyncio.sleep(self.tool_delay)
        call = body["message"]["toolCallList"][0]
        result = {"booked": True, "day": call["arguments"]["day"], "table": 12}
        return web.json_response({"results": [{"toolCallId": call["id"], "result": result}]})

    async def hook(self, request: web.Request) -> web.Response:
        self.hooks.append(await self._verified(request))
        return web.json_response({"ok": True})

    def of_type(self, event_type: str) -> list[dict[str, Any]]:
        return [h["message"] for h in self.hooks if h["message"]["type"] == event_type]


@pytest.fixture
async def backend() -> AsyncIterator[Backend]:
    b = Backend()
    app = web.Application()
    app.router.add_post("/tools", b.tools)
    app.router.add_post("/hook", b.hook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    b.base = f"http://127.0.0.1:{runner.addresses[0][1]}"
    yield b
    await runner.cleanup()


@dataclass
class Seen:
    """What the test kept of the running call: its LiveCall and the published transcript."""

    call: LiveCall | None = None
    published: TranscriptRecorder | None = None


async def simulate(scenario: dict[str, Any], tmp_path: Path) -> tuple[ScenarioResult, Seen]:
    seen = Seen()

    async def beside(call: LiveCall) -> None:
        seen.call = call
        synced = call.session.output.transcription
        published = synced.next_in_chain if synced is not None else None
        assert isinstance(published, TranscriptRecorder)
        seen.published = published

    sink = WebhookSink(TargetPolicy.loopback_allowed(), Outbox(tmp_path / "outbox"))
    lines: list[str] = []
    try:
        result = await run_scenario(
            parse_scenario(scenario),
            sink=sink,
            settings=WorkerSettings(),
            say=lines.append,
            beside_call=beside,
        )
    finally:
        await sink.aclose(timeout=10.0)
    return result, seen


def load(name: str, backend: Backend, **assistant: Any) -> dict[str, Any]:
    scenario: dict[str, Any] = yaml.safe_load((SCENARIOS / name).read_text())
    doc = scenario["dispatch"]["assistant"]
    doc |= {"webhook_url": f"{backend.base}/hook", "webhook_secret": SECRET} | assistant
    return scenario


def report_of(result: ScenarioResult) -> EndOfCallReport:
    message = parse_envelope(result.report_body).message
    assert isinstance(message, EndOfCallReport)
    return message


def tool_outputs(call: LiveCall) -> list[llm.FunctionCallOutput]:
    return [i for i in call.session.history.items if isinstance(i, llm.FunctionCallOutput)]


async def test_tool_call_reaches_the_backend_and_the_report(
    backend: Backend, tmp_path: Path
) -> None:
    # The tool takes longer than the silence timeout: silence is paused while it runs, so
    # the call still ends with the caller's hang-up, not silence_timeout.
    backend.tool_delay = 2.5
    scenario = load(
        "tool-booking.yaml",
        backend,
        autonomous_silence_handling={"timeout_seconds": 2, "max_prompts": 0},
    )
    scenario["dispatch"]["assistant"]["tools"][0]["server"]["url"] = f"{backend.base}/tools"
    scenario["dispatch"]["assistant"]["tools"][0]["server"]["secret"] = SECRET
    result, seen = await simulate(scenario, tmp_path)

    assert result.end_reason == "user_hangup"
    assert len(backend.tool_requests) == 1
    assert all(backend.signatures_ok)
    sent = backend.tool_requests[0]["message"]
    assert sent["type"] == "tool-calls"
    (sent_call,) = sent["toolCallList"]
    assert sent_call["arguments"] == {"day": "friday", "guests": 2}

    report = report_of(result)
    calls = [c for m in report.messages if m.tool_calls for c in m.tool_calls]
    results = [m for m in report.messages if m.role == "tool"]
    assert [(c.name, c.arguments) for c in calls] == [
        ("book_table", {"day": "friday", "guests": 2})
    ]
    assert len(results) == 1  # recorded once, not once per event
    assert results[0].tool_call_id == sent_call["id"] == calls[0].id
    assert results[0].result == {"booked": True, "day": "friday", "table": 12}
    assert results[0].error is None
    assert results[0].tool_ms is not None
    assert results[0].tool_ms >= 2500  # the backend's own 2.5 s are inside tool_ms
    assert "One moment, let me book that." in report.transcript
    assert "You're booked for Friday" in report.transcript
    assert report.transcript.index("One moment") < report.transcript.index("You're booked")

    # lk.transcription carries what the agent said, never the tool call or its result
    assert seen.published is not None
    published = " ".join(s.text for s in seen.published.segments)
    assert "You're booked for Friday" in published
    for trace in ("book_table", "toolCallId", '"booked"', 'table": 12'):
        assert trace not in published
    for event in backend.of_type("transcript"):
        assert "book_table" not in event["transcript"]
        assert 'booked"' not in event["transcript"]


async def test_failed_tool_is_spoken_and_told_to_the_model(
    backend: Backend, tmp_path: Path
) -> None:
    result, seen = await simulate(load("tool-failed.yaml", backend), tmp_path)

    assert result.end_reason == "user_hangup"
    report = report_of(result)
    results = [m for m in report.messages if m.role == "tool"]
    assert len(results) == 1
    assert results[0].name == "book_table"
    assert results[0].error is not None
    assert "could not reach the tool server" in results[0].error
    assert results[0].result is None
    assert results[0].tool_ms is not None
    assert "Sorry, our booking system is not answering." in report.transcript
    assert "I couldn't book it right now" in report.transcript

    assert seen.call is not None
    outputs = tool_outputs(seen.call)
    assert [o.is_error for o in outputs] == [True]
    assert outputs[0].output.startswith("failed: could not reach the tool server")
