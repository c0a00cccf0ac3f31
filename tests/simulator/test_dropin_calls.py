"""The seeds' own inputs as whole simulated calls (issue 12): every dispatch example in
config/examples/, copied verbatim from the seeds, passes `check` and runs through the
production call path with offline vendors, ending with exactly one report that seed's own
verifier accepts (HMS's for the HMS examples, CallMissed's for the CallMissed one); plus the
live-path behaviour of points 2, 5, 8 and 9 (unknown fields, a store that cannot answer, the
call's facts, filled variables).

The receiver stands in for the backend's webhook endpoint: a delivery is redirected to it
(127.0.0.1) wherever the document sent it, and so is one whose document names no URL (the HMS
examples configure webhooks in the platform's dashboard, seed 001 "Set Up Webhooks"), so the
report the worker built is what the receiver verifies. Signatures use the operator's default
secret (none of the examples carries a `webhook_secret`).

The CallMissed example gets CallMissed's webhooks (`voice_session.*`, `X-CallMissed-*`), which
the receiver checks with seeds/004's "Verify the signature" snippet, verbatim.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from pydantic import SecretStr

from agent.contracts.callmissed import VoiceSession
from agent.contracts.control import parse_command
from agent.contracts.events import EndOfCallReport, parse_envelope, parse_session
from agent.delivery.base import Delivery, EventSink
from agent.delivery.outbox import Outbox
from agent.delivery.target_policy import TargetPolicy
from agent.delivery.webhook import WebhookSink
from agent.intake.saved import DirectoryAssistants, HttpAssistants, SavedAssistants
from agent.simulator.live import ScenarioResult, run_scenario
from agent.simulator.scenario import parse_scenario
from agent.worker.settings import WorkerSettings
from tests.support.paths import EXAMPLES, REPO
from tests.support.receiver import SECRET, Receiver

pytestmark = pytest.mark.simulated_call

SAVED = EXAMPLES / "assistants"
DISPATCH_EXAMPLES = sorted(p.name for p in EXAMPLES.glob("*.json"))
TRUNK = "ST_operator_default"


class ToReceiver:
    """Every delivery goes to the receiver (see the module docstring); nothing else changes."""

    def __init__(self, inner: EventSink, url: str) -> None:
        self.inner = inner
        self.url = url

    async def submit(self, delivery: Delivery) -> None:
        await self.inner.submit(dataclasses.replace(delivery, url=self.url))

    async def flush(self, call_id: str | None = None, timeout: float = 30.0) -> None:  # noqa: ASYNC109
        await self.inner.flush(call_id, timeout=timeout)

    async def aclose(self, timeout: float = 30.0) -> None:  # noqa: ASYNC109
        await self.inner.aclose(timeout=timeout)


def settings(**overrides: Any) -> WorkerSettings:
    return WorkerSettings(
        webhook_secret=SecretStr(SECRET), sip_outbound_trunk_id=TRUNK, **overrides
    )


async def simulate(
    scenario: dict[str, Any],
    receiver: Receiver,
    tmp_path: Path,
    *,
    worker: WorkerSettings | None = None,
    saved: SavedAssistants | None = None,
) -> ScenarioResult:
    inner = WebhookSink(TargetPolicy.loopback_allowed(), Outbox(tmp_path / "outbox"))
    sink = ToReceiver(inner, receiver.url("/hook"))
    lines: list[str] = []
    try:
        return await run_scenario(
            parse_scenario(scenario), sink=sink, settings=worker or settings(), say=lines.append,
            saved=saved if saved is not None else DirectoryAssistants(SAVED),
        )  # fmt: skip
    finally:
        await sink.aclose(timeout=10.0)


def messages(receiver: Receiver, event_type: str | None = None) -> list[dict[str, Any]]:
    found = [json.loads(r.body)["message"] for r in receiver.at("/hook")]
    return [m for m in found if event_type is None or m["type"] == event_type]


def one_verified_report(receiver: Receiver) -> EndOfCallReport:
    deliveries = receiver.at("/hook")
    assert deliveries, "the receiver got nothing"
    assert all(d.signature_ok for d in deliveries)  # the seed's verifier, every delivery
    reports = [d for d in deliveries if d.headers["X-Webhook-Event"] == "end-of-call-report"]
    assert len(reports) == 1
    report = parse_envelope(reports[0].body).message
    assert isinstance(report, EndOfCallReport)
    return report


def one_verified_session(receiver: Receiver) -> VoiceSession:
    """A CallMissed call: started, then exactly one final event, each accepted by the seed's
    snippet."""
    deliveries = receiver.at("/hook")
    assert all(d.signature_ok for d in deliveries)  # seeds/004's snippet, every delivery
    events = [d.headers["X-CallMissed-Event"] for d in deliveries]
    assert events == ["voice_session.started", "voice_session.ended"]
    return parse_session(deliveries[-1].body)


# ---- every dispatch example: check, then a simulated call --------------------------------------


def test_the_examples_are_the_seeds_dispatch_documents() -> None:
    assert DISPATCH_EXAMPLES == [
        "callmissed-session.json",
        "hms-hybrid-metadata-web-call.json",
        "hms-hybrid-web-call.json",
        "hms-outbound-hybrid.json",
        "hms-outbound-transient.json",
        "hms-reference-web-call.json",
        "hms-transient-web-call.json",
    ]


@pytest.mark.parametrize("example", DISPATCH_EXAMPLES)
def test_check_accepts_every_dispatch_example(example: str) -> None:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "VOICE_AGENT_SIP_OUTBOUND_TRUNK_ID": TRUNK,
    }
    result = subprocess.run(  # noqa: S603 - our own CLI with fixed arguments
        [sys.executable, "-m", "agent", "check", "--assistants-dir", str(SAVED),
         f"config/examples/{example}"],
        cwd=REPO, capture_output=True, text=True, timeout=60, check=False, env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ok: ")


def test_check_accepts_the_saved_assistant_and_the_webhook_fragment(tmp_path: Path) -> None:
    def check(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(  # noqa: S603 - our own CLI with fixed arguments
            [sys.executable, "-m", "agent", "check", *args],
            cwd=REPO, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip

    saved = next(SAVED.glob("*.json"))
    assert check("--assistant", str(saved)).returncode == 0
    # The seed's webhook fragment belongs inside an assistant: as a hybrid override.
    fragment = json.loads((EXAMPLES / "fragments" / "hms-webhook-config.json").read_text())
    doc = tmp_path / "hybrid-webhooks.json"
    doc.write_text(json.dumps({"assistant_id": saved.stem, "assistant_override": fragment}))
    result = check("--assistants-dir", str(SAVED), str(doc))
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("packet", sorted((EXAMPLES / "other" / "control").glob("*.json")))
def test_the_seed_control_packets_parse_as_commands(packet: Path) -> None:
    command = parse_command(packet.read_bytes())
    assert command.type == packet.stem


@pytest.mark.parametrize("example", DISPATCH_EXAMPLES)
async def test_every_dispatch_example_runs_as_a_call(
    example: str, receiver: Receiver, tmp_path: Path
) -> None:
    document = json.loads((EXAMPLES / example).read_text())
    result = await simulate(
        {"dispatch": document, "caller": [{"hangup": True}]}, receiver, tmp_path
    )

    if example.startswith("callmissed"):
        session = one_verified_session(receiver)
        assert result.end_reason == "user_hangup"
        assert (session.status, session.end_reason) == ("completed", "user_hangup")
        return
    report = one_verified_report(receiver)
    assert result.end_reason == report.end_reason == "user_hangup"
    statuses = [m["status"] for m in messages(receiver, "status-update")]
    assert statuses == ["in-progress", "ended"]
    if "assistant_id" in document:
        assert report.assistant_name == "Customer Support Assistant"
    if example == "hms-hybrid-metadata-web-call.json":
        assert report.assistant.metadata == document["assistant_override"]["metadata"]
    if example.startswith("hms-outbound"):
        assert report.call.type == "outbound_phone_call"
        assert report.caller_phone == "+31612345678"
    if example.startswith("hms-hybrid-web-call"):
        assert any("Custom greeting!" in m.message for m in report.messages)


async def test_the_seed_webhook_events_fragment_sends_only_what_it_lists(
    receiver: Receiver, tmp_path: Path
) -> None:
    fragment = json.loads((EXAMPLES / "fragments" / "hms-webhook-config.json").read_text())
    saved_id = next(SAVED.glob("*.json")).stem
    doc = {"assistant_id": saved_id, "assistant_override": fragment}
    await simulate({"dispatch": doc, "caller": [{"hangup": True}]}, receiver, tmp_path)
    one_verified_report(receiver)
    assert [m["type"] for m in messages(receiver)] == ["end-of-call-report"]  # no status-update


# ---- points 2, 5, 8, 9 on the live path --------------------------------------------------------


def assistant(**fields: Any) -> dict[str, Any]:
    return {
        "name": "Front desk",
        "stt_config": {"provider": "deepgram"},
        "llm_config": {"model": "gpt-4.1-mini"},
        "tts_config": {"provider": "openai"},
        "autonomous_silence_handling": {"timeout_seconds": 2, "max_prompts": 0},
    } | fields


async def test_unknown_fields_are_dropped_and_listed_in_the_report(
    receiver: Receiver, tmp_path: Path
) -> None:
    doc = {"assistant": assistant(new_knob=1, tts_config={"provider": "openai", "bar": 2})}
    await simulate({"dispatch": doc, "caller": [{"hangup": True}]}, receiver, tmp_path)
    report = one_verified_report(receiver)
    assert report.end_reason == "user_hangup"
    assert sorted(report.warnings) == [
        "unknown field assistant.new_knob ignored",
        "unknown field assistant.tts_config.bar ignored",
    ]


async def test_the_operator_can_refuse_unknown_fields_in_the_live_path(
    receiver: Receiver, tmp_path: Path
) -> None:
    doc = {"assistant": assistant(new_knob=1)}
    await simulate({"dispatch": doc}, receiver, tmp_path, worker=settings(unknown_fields="refuse"))
    report = one_verified_report(receiver)
    assert report.end_reason == "config_error"
    assert report.error == "assistant.new_knob: unknown field"


async def test_vendor_options_a_provider_lacks_are_warnings_in_the_report(
    receiver: Receiver, tmp_path: Path
) -> None:
    doc = {"assistant": assistant(stt_config={"provider": "sarvam", "keyterms": ["Acme"]})}
    await simulate({"dispatch": doc, "caller": [{"hangup": True}]}, receiver, tmp_path)
    report = one_verified_report(receiver)
    assert report.warnings == ["stt_config.keyterms: sarvam STT has no keyterm option; ignored"]


@pytest.fixture
async def store_down() -> AsyncIterator[str]:
    async def unavailable(request: web.Request) -> web.Response:
        return web.Response(status=503)

    app = web.Application()
    app.router.add_get("/assistants/{id}", unavailable)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}/assistants"
    await runner.cleanup()


async def test_a_store_that_cannot_answer_is_an_error_naming_the_stage(
    receiver: Receiver, tmp_path: Path, store_down: str
) -> None:
    store = HttpAssistants(store_down, policy=TargetPolicy.loopback_allowed(), token="t")
    doc = json.loads((EXAMPLES / "hms-reference-web-call.json").read_text())
    result = await simulate({"dispatch": doc}, receiver, tmp_path, saved=store)
    report = one_verified_report(receiver)
    assert result.end_reason == report.end_reason == "error"
    assert report.end_detail is not None
    assert report.end_detail.startswith("assistant_store: SavedAssistantUnavailable: assistant")
    assert "HTTP 503" in report.end_detail
    assert report.error == report.end_detail


async def test_a_phone_call_reports_its_facts_and_speaks_its_variables(
    receiver: Receiver, tmp_path: Path
) -> None:
    doc = {
        "call": {"id": "sim-facts", "type": "inbound_phone_call"},
        "assistant": assistant(
            business_name="Acme Corp",
            first_message="Welcome to {{business_name}}, caller {{customer.number}} {{foo}}.",
        ),
    }
    scenario = {
        "dispatch": doc,
        "phone": {"caller_number": "+31612345678", "called_number": "+31850835037"},
        "caller": [{"hangup": True}],
    }
    result = await simulate(scenario, receiver, tmp_path)
    report = one_verified_report(receiver)
    assert (report.caller_phone, report.agent_phone) == ("+31612345678", "+31850835037")
    assert (report.assistant_name, report.business_name) == ("Front desk", "Acme Corp")
    assert report.error is None
    greeting = "Welcome to Acme Corp, caller +31612345678 {{foo}}."
    assert result.published_transcripts[0] == greeting  # the caller heard it filled
    assert report.messages[0].message == greeting
    assert report.warnings == ["variable {{foo}} is unknown; left as written"]


async def test_gdpr_mode_masks_the_phones_of_the_facts(receiver: Receiver, tmp_path: Path) -> None:
    doc = {"call": {"type": "inbound_phone_call"}, "assistant": assistant(gdpr_mode=True)}
    scenario = {
        "dispatch": doc,
        "phone": {"caller_number": "+31612345678", "called_number": "+31850835037"},
        "caller": [{"hangup": True}],
    }
    await simulate(scenario, receiver, tmp_path)
    report = one_verified_report(receiver)
    assert (report.caller_phone, report.agent_phone) == ("[PHONE]", "[PHONE]")


async def test_a_call_that_fails_before_it_goes_live_reports_its_error(
    receiver: Receiver, tmp_path: Path
) -> None:
    doc = {"assistant": assistant(name="Broken", max_duration_seconds=5)}
    await simulate({"dispatch": doc}, receiver, tmp_path)
    report = one_verified_report(receiver)
    assert report.end_reason == "config_error"
    assert report.assistant_name == "Broken"
    assert report.error is not None
    assert report.error.startswith("assistant.max_duration_seconds: ")
