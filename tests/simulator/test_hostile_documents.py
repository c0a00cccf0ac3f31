"""Hostile dispatch documents in whole simulated calls, through the production call path.

Each call runs as `python -m agent simulate` runs it (parse, provider endpoint check, LiveCall,
signed webhooks over real HTTP to a receiver on 127.0.0.1 whose verifier is the seed's,
verbatim). The worker's own secrets are sentinel values in the environment. Every case asserts
three things: the hostile input was refused or contained, the call produced exactly one signed
end-of-call report (delivered, or parked in the outbox when the document's own receiver is what
was refused), and no sentinel left the process: not in any request the receiver got, not in a
log line (structlog's and the standard library's), not in what the simulator printed.
"""

from __future__ import annotations

import json
import logging
from collections.abc import MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from agent.cli import main as cli_main
from agent.delivery.outbox import Outbox
from agent.delivery.target_policy import TargetPolicy
from agent.delivery.webhook import WebhookSink
from agent.simulator.live import ScenarioResult, run_scenario
from agent.simulator.scenario import parse_scenario
from agent.worker.settings import WorkerSettings
from tests.support.receiver import SECRET, Receiver, Reply

pytestmark = pytest.mark.simulated_call

SENTINELS = {
    "LIVEKIT_API_SECRET": "lk-SENTINEL-hostile-doc-5b1e",
    "LIVEKIT_API_KEY": "APISENTINELhostile",
    "OPENAI_API_KEY": "sk-SENTINEL-hostile-doc-9c04",
    "DEEPGRAM_API_KEY": "dg-SENTINEL-hostile-doc-11f3",
    "ELEVEN_API_KEY": "el-SENTINEL-hostile-doc-a7d2",
    "SARVAM_API_KEY": "sv-SENTINEL-hostile-doc-3e88",
}
GREETING = "Hello, how can I help?"
IDNA_INVALID_HOST = "a" * 64 + ".example"


@dataclass
class Run:
    result: ScenarioResult
    outbox: Outbox
    lines: list[str]
    logs: list[MutableMapping[str, Any]] = field(default_factory=list)
    stdlib: str = ""

    def everything_said(self, receiver: Receiver) -> str:
        sent = "".join(
            repr(r.headers) + r.body.decode("utf-8", "replace") for r in receiver.received
        )
        return sent + repr(self.logs) + self.stdlib + "\n".join(self.lines)


@pytest.fixture(autouse=True)
def worker_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("VOICE_AGENT_SECRETS_DIR", str(tmp_path / "secrets"))
    for name, value in SENTINELS.items():
        monkeypatch.setenv(name, value)
    (tmp_path / "x").write_text(SENTINELS["LIVEKIT_API_SECRET"])  # what secret:../x would read


def assistant(webhook_url: str, **overrides: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "name": "Hostile",
        "first_message": GREETING,
        "stt_config": {"provider": "deepgram"},
        "llm_config": {"model": "gpt-4.1-mini"},
        "tts_config": {"provider": "elevenlabs", "voice_id": "sim-voice"},
        "autonomous_silence_handling": {"timeout_seconds": 2, "max_prompts": 0},
        "max_duration_seconds": 60,
        "webhook_url": webhook_url,
        "webhook_secret": SECRET,
    }
    return doc | overrides


async def simulate(
    scenario: dict[str, Any], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> Run:
    outbox = Outbox(tmp_path / "outbox")
    sink = WebhookSink(TargetPolicy.loopback_allowed(), outbox, max_attempts=1)
    lines: list[str] = []
    caplog.set_level(logging.DEBUG)
    with capture_logs() as logs:
        try:
            result = await run_scenario(
                parse_scenario(scenario), sink=sink, settings=WorkerSettings(), say=lines.append
            )
        finally:
            await sink.aclose(timeout=10.0)
    return Run(result, outbox, lines, logs, caplog.text)


def reports_at(receiver: Receiver) -> list[dict[str, Any]]:
    bodies = [json.loads(r.body)["message"] for r in receiver.received]
    return [b for b in bodies if b["type"] == "end-of-call-report"]


def assert_nothing_secret_left(run: Run, receiver: Receiver) -> None:
    said = run.everything_said(receiver)
    for name, value in SENTINELS.items():
        assert value not in said, f"{name} left the process"
    for parked in run.outbox.pending():  # what the outbox would send later
        assert parked.entry.secret not in SENTINELS.values()
        assert not any(v in (parked.entry.body_text or "") for v in SENTINELS.values())


def assert_one_signed_config_error(receiver: Receiver, run: Run, field: str) -> dict[str, Any]:
    assert run.result.end_reason == "config_error"
    [report] = reports_at(receiver)
    assert report["end_reason"] == "config_error"
    assert field in report["end_detail"]
    assert receiver.received
    assert all(r.signature_ok is True for r in receiver.received)
    assert run.outbox.pending() == []
    return report


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        (
            {"tts_config": {"provider": "elevenlabs", "voice_id": "v",
                            "api_key": "secret:LIVEKIT_API_SECRET"}},
            "assistant.tts_config.api_key",
        ),
        (
            {"llm_config": {"model": "m", "api_key": "secret:OPENAI_API_KEY"}},
            "assistant.llm_config.api_key",
        ),
        (
            {"stt_config": {"provider": "deepgram", "api_key": "secret:../x"}},
            "assistant.stt_config.api_key",
        ),
        (  # a document endpoint without its own key: the worker's key is not on offer
            {"tts_config": {"provider": "openai", "base_url": "https://tts.evil.example/v1"}},
            "assistant.tts_config.api_key",
        ),
        (  # the cloud metadata service as the LLM endpoint
            {"llm_config": {"model": "m", "base_url": "http://169.254.169.254/v1",
                            "api_key": "tenant-key"}},
            "assistant.llm_config.base_url",
        ),
        (  # a cluster-internal address
            {"stt_config": {"provider": "deepgram", "base_url": "http://10.0.0.5/v1/listen",
                            "api_key": "tenant-key"}},
            "assistant.stt_config.base_url",
        ),
    ],
    ids=["livekit-secret", "openai-key", "path-traversal", "no-own-key", "metadata", "private"],
)  # fmt: skip
async def test_a_hostile_document_is_refused_reported_once_signed_and_leaks_nothing(
    overrides: dict[str, Any],
    field: str,
    receiver: Receiver,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    url = receiver.script("/hook", Reply(200))
    scenario = {
        "dispatch": {"call": {"id": "sim-hostile"}, "assistant": assistant(url, **overrides)}
    }
    run = await simulate(scenario, tmp_path, caplog)
    assert_one_signed_config_error(receiver, run, field)
    assert_nothing_secret_left(run, receiver)


@pytest.mark.parametrize("reference", ["secret:LIVEKIT_API_SECRET", "secret:../x"])
async def test_a_hostile_webhook_secret_is_never_the_signing_key(
    reference: str,
    receiver: Receiver,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The operator's default secret signs (the receiver verifies with it): the worker's
    # LiveKit secret, or a file outside the secrets directory, is never the HMAC key.
    monkeypatch.setenv("VOICE_AGENT_WEBHOOK_SECRET", SECRET)
    url = receiver.script("/hook", Reply(200))
    doc = assistant(url, webhook_secret=reference)
    run = await simulate(
        {"dispatch": {"call": {"id": "sim-hook-secret"}, "assistant": doc}}, tmp_path, caplog
    )
    assert_one_signed_config_error(receiver, run, "assistant.webhook_secret")
    assert_nothing_secret_left(run, receiver)


async def test_without_a_default_secret_the_report_is_parked_not_sent_unsigned(
    receiver: Receiver, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url = receiver.script("/hook", Reply(200))
    doc = assistant(url, webhook_secret="secret:LIVEKIT_API_SECRET")
    run = await simulate(
        {"dispatch": {"call": {"id": "sim-unsigned"}, "assistant": doc}}, tmp_path, caplog
    )
    assert run.result.end_reason == "config_error"
    assert receiver.received == []  # nothing unsigned went out
    parked = run.outbox.pending()
    assert [p.entry.event_type for p in parked].count("end-of-call-report") == 1
    assert all(p.entry.reason == "signature_unavailable" for p in parked)
    assert_nothing_secret_left(run, receiver)


async def test_an_idna_invalid_tool_host_is_refused_and_the_call_goes_on(
    receiver: Receiver, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url = receiver.script("/hook", Reply(200))
    tool = {
        "type": "function",
        "function": {"name": "lookup", "parameters": {"type": "object", "properties": {}}},
        "server": {"url": f"http://{IDNA_INVALID_HOST}/tools"},
        "messages": {"request_failed": "Sorry, that did not work."},
    }
    scenario = {
        "dispatch": {"call": {"id": "sim-idna-tool"}, "assistant": assistant(url, tools=[tool])},
        "caller": [{"say": "Look it up please"}, {"hangup": True}],
        "llm": [{"tool": {"name": "lookup", "arguments": {}}}, {"say": "I could not look it up."}],
    }
    run = await simulate(scenario, tmp_path, caplog)
    assert run.result.end_reason == "user_hangup"
    [report] = reports_at(receiver)
    assert all(r.signature_ok is True for r in receiver.received)
    tool_entries = [m for m in report["messages"] if m.get("role") == "tool"]
    assert len(tool_entries) == 1
    assert "not allowed" in json.dumps(tool_entries[0])
    assert "Sorry, that did not work." in report["transcript"]  # the caller heard it
    assert not [e for e in run.logs if "UnicodeError" in repr(e)]
    assert_nothing_secret_left(run, receiver)


async def test_an_idna_invalid_webhook_host_parks_the_one_report_as_refused(
    receiver: Receiver, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    scenario = {
        "dispatch": {
            "call": {"id": "sim-idna-hook"},
            "assistant": assistant(f"http://{IDNA_INVALID_HOST}/hook"),
        },
        "caller": [{"hangup": True}],
    }
    run = await simulate(scenario, tmp_path, caplog)
    assert run.result.end_reason == "user_hangup"
    parked = run.outbox.pending()
    reports = [p for p in parked if p.entry.event_type == "end-of-call-report"]
    assert len(reports) == 1
    assert reports[0].entry.secret == SECRET  # replayable, and signed when it goes
    assert all("63 characters" in p.entry.reason for p in parked)
    assert not [e for e in run.logs if e["event"] == "webhook_lane_error"]
    assert_nothing_secret_left(run, receiver)


async def test_a_410_mid_call_parks_the_rest_and_outbox_list_shows_it(
    receiver: Receiver,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # in-progress is delivered, the next event gets 410; the call goes on to its end. The LLM
    # endpoint is on 127.0.0.1, which the simulator (unlike production) allows.
    url = receiver.script("/hook", Reply(200), Reply(410))
    llm = {"model": "m", "base_url": "http://127.0.0.1:9/v1", "api_key": "tenant-key"}
    scenario = {
        "dispatch": {"call": {"id": "sim-gone"}, "assistant": assistant(url, llm_config=llm)},
        "caller": [{"say": "What time do you open?"}, {"hangup": True}],
        "llm": [{"say": "We open at nine."}],
    }
    run = await simulate(scenario, tmp_path, caplog)
    assert run.result.end_reason == "user_hangup"
    assert len(receiver.received) == 2  # nothing more after the 410
    assert all(r.signature_ok is True for r in receiver.received)
    parked = run.outbox.pending()
    assert parked
    assert all(p.entry.gone for p in parked)
    reports = [p for p in parked if p.entry.event_type == "end-of-call-report"]
    assert len(reports) == 1
    assert reports[0].entry.secret == SECRET
    assert json.loads(reports[0].entry.body_text or "")["message"]["end_reason"] == "user_hangup"

    monkeypatch.setenv("VOICE_AGENT_OUTBOX_DIR", str(tmp_path / "outbox"))
    capsys.readouterr()
    assert cli_main(["outbox", "list"]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert len(listed) == len(parked)
    assert all("held=gone" in line and "410" in line for line in listed)
    assert any("event=end-of-call-report" in line for line in listed)
    assert_nothing_secret_left(run, receiver)
