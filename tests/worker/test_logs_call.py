"""What a whole call writes to the logs: one call_summary line, no secret anywhere, transcript
text never at info level, and none at all under gdpr_mode.

Every log record is captured at DEBUG: structlog's (capture_logs) and the standard library's
(livekit's own loggers, through a root handler), each flattened to one string with its level.
The call runs exactly as `python -m agent simulate` runs it (LiveCall, offline vendors, signed
webhooks to a real receiver on 127.0.0.1)."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Iterator, MutableMapping
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from structlog.testing import capture_logs

from agent.delivery.outbox import Outbox
from agent.delivery.target_policy import TargetPolicy
from agent.delivery.webhook import WebhookSink
from agent.simulator.live import run_scenario
from agent.simulator.scenario import parse_scenario
from agent.worker.settings import WorkerSettings

pytestmark = pytest.mark.simulated_call

SECRETS = {
    "LIVEKIT_API_SECRET": "lk-secret-LEAKCHECK-71c2",
    "DEEPGRAM_API_KEY": "dg-key-LEAKCHECK-93af",
    "OPENAI_API_KEY": "sk-LEAKCHECK-openai-5e10",
    "ELEVEN_API_KEY": "el-key-LEAKCHECK-0b7d",
    "SARVAM_API_KEY": "sv-key-LEAKCHECK-44e1",
    "VOICE_AGENT_WEBHOOK_SECRET": "whsec-default-LEAKCHECK-8d2f",
    # read through `secret:TENANT_TTS_KEY` (the tenant-secret prefix is the worker's)
    "VOICE_AGENT_TENANT_SECRET_TENANT_TTS_KEY": "tenant-tts-LEAKCHECK-c3a9",
}
CALL_WEBHOOK_SECRET = "whsec-call-LEAKCHECK-19be"
INLINE_STT_KEY = "dg-inline-LEAKCHECK-2f64"
CALLER_LINE = "my account number is nine four two"
AGENT_LINE = "Thanks, I have noted your account number."
GREETING = "Hello from the leak check."


class Records:
    """Every log record of a block, as (level number, flattened text)."""

    def __init__(self) -> None:
        self.lines: list[tuple[int, str]] = []
        self.structured: list[MutableMapping[str, Any]] = []

    def texts(self, min_level: int = logging.DEBUG) -> list[str]:
        levels = logging.getLevelNamesMapping()
        structured = [
            (levels[str(entry.get("log_level", "debug")).upper()], repr(entry))
            for entry in self.structured
        ]
        return [text for level, text in [*self.lines, *structured] if level >= min_level]


class _StdlibCapture(logging.Handler):
    def __init__(self, records: Records) -> None:
        super().__init__(logging.DEBUG)
        self.records = records

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage() + " " + repr(record.__dict__)
        if record.exc_info:
            text += logging.Formatter().formatException(record.exc_info)
        self.records.lines.append((record.levelno, text))


@pytest.fixture
def all_logs() -> Iterator[Records]:
    records = Records()
    handler = _StdlibCapture(records)
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        with capture_logs() as structured:
            records.structured = structured
            yield records
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)


@pytest.fixture(autouse=True)
def _secrets_in_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)


@pytest.fixture
async def receiver_url() -> AsyncIterator[str]:
    async def ok(_: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_post("/hook", ok)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
    await runner.cleanup()


def assistant(url: str, **overrides: Any) -> dict[str, Any]:
    return {
        "name": "Leak check",
        "first_message": GREETING,
        "stt_config": {"provider": "deepgram", "api_key": INLINE_STT_KEY},
        "llm_config": {"model": "gpt-4.1-mini"},
        "tts_config": {
            "provider": "elevenlabs",
            "voice_id": "sim-voice",
            "api_key": "secret:TENANT_TTS_KEY",
        },
        "autonomous_silence_handling": {"timeout_seconds": 2, "max_prompts": 0},
        "max_duration_seconds": 60,
        "webhook_url": url,
        "webhook_secret": CALL_WEBHOOK_SECRET,
    } | overrides


async def call(dispatch: dict[str, Any], tmp_path: Path, with_turn: bool = True) -> str:
    scenario: dict[str, Any] = {"dispatch": dispatch, "caller": [{"hangup": True}]}
    if with_turn:
        scenario["caller"] = [{"say": CALLER_LINE}, {"hangup": True}]
        scenario["llm"] = [{"say": AGENT_LINE}]
    settings = WorkerSettings()
    assert settings.livekit_api_secret.get_secret_value() == SECRETS["LIVEKIT_API_SECRET"]
    sink = WebhookSink(TargetPolicy.loopback_allowed(), Outbox(tmp_path / "outbox"))
    try:
        result = await run_scenario(
            parse_scenario(scenario), sink=sink, settings=settings, say=lambda _: None
        )
    finally:
        await sink.aclose(timeout=10.0)
    return str(result.end_reason)


def assert_no_secret(records: Records) -> None:
    everything = "\n".join(records.texts())
    assert everything, "nothing was captured: the capture is broken"
    for value in [*SECRETS.values(), CALL_WEBHOOK_SECRET, INLINE_STT_KEY]:
        assert value not in everything, f"secret {value} appeared in a log record"


async def test_a_call_logs_its_summary_and_never_a_secret_or_transcript_at_info(
    all_logs: Records, receiver_url: str, tmp_path: Path
) -> None:
    dispatch = {
        "call": {"id": "leak-call", "type": "web_call"},
        "assistant": assistant(receiver_url),
    }
    assert await call(dispatch, tmp_path) == "user_hangup"

    assert_no_secret(all_logs)
    summaries = [t for t in all_logs.texts(logging.INFO) if "'call_summary'" in t]
    assert len(summaries) == 1
    assert "'leak-call'" in summaries[0]
    assert "'user_hangup'" in summaries[0]
    assert "'delivered':" in summaries[0]  # the webhook outcomes, read through the capture sink
    for line in (CALLER_LINE, AGENT_LINE):
        assert not any(line in t for t in all_logs.texts(logging.INFO)), f"{line!r} at info"


async def test_gdpr_mode_keeps_transcript_text_out_of_every_log_record(
    all_logs: Records, receiver_url: str, tmp_path: Path
) -> None:
    dispatch = {
        "call": {"id": "gdpr-call", "type": "web_call"},
        "assistant": assistant(receiver_url, gdpr_mode=True),
    }
    assert await call(dispatch, tmp_path) == "user_hangup"

    assert any("'gdpr-call'" in t for t in all_logs.texts()), "the call logged nothing"
    for line in (CALLER_LINE, AGENT_LINE):
        leaks = [t[:160] for t in all_logs.texts() if line in t]
        assert not leaks, f"{line!r} logged under gdpr_mode: {leaks}"


async def test_config_error_logs_a_summary_and_no_secret(
    all_logs: Records, receiver_url: str, tmp_path: Path
) -> None:
    broken = assistant(receiver_url)
    del broken["tts_config"]["voice_id"]
    dispatch = {"call": {"id": "leak-broken", "type": "web_call"}, "assistant": broken}
    assert await call(dispatch, tmp_path, with_turn=False) == "config_error"

    assert_no_secret(all_logs)
    summaries = [t for t in all_logs.texts(logging.INFO) if "'call_summary'" in t]
    assert len(summaries) == 1
    assert "'config_error'" in summaries[0]
    assert "voice_id" in summaries[0]


# -- phone numbers ----------------------------------------------------------------------------

CALLER_NUMBER = "+31612345678"
CALLED_NUMBER = "+31858001234"
SALES_NUMBER = "+31201234567"  # a destination without a description: its label is the number
SUPPORT_NUMBER = "+31207654321"
NUMBERS = (CALLER_NUMBER, CALLED_NUMBER, SALES_NUMBER, SUPPORT_NUMBER)


def numbers_in(text: str) -> list[str]:
    """The numbers whose national digits (after +31) appear in ``text``, however grouped."""
    squeezed = re.sub(r"[\s()-]", "", text)
    return [number for number in NUMBERS if number[3:] in squeezed]


async def phone_call(url: str, tmp_path: Path, *, gdpr: bool) -> str:
    """A SIP caller (identity sip_<number>, numbers in its attributes and in the document) asks
    for a destination that has no description, the REFER fails, the caller's own client sends a
    control packet (refused), the server sends a transfer to another number (fails too), the
    caller types keys and hangs up: every path that handles a number."""
    tools = [
        {
            "type": "transfer_call",
            "destinations": [{"number": SALES_NUMBER}, {"number": SUPPORT_NUMBER}],
        }
    ]
    dispatch = {
        "call": {
            "id": "phone-call",
            "type": "inbound_phone_call",
            "customer": {"number": CALLER_NUMBER},
        },
        "assistant": assistant(
            url,
            gdpr_mode=gdpr,
            tools=tools,
            autonomous_silence_handling={"timeout_seconds": 10, "max_prompts": 0},
        ),
    }
    scenario: dict[str, Any] = {
        "dispatch": dispatch,
        "phone": {"caller_number": CALLER_NUMBER, "called_number": CALLED_NUMBER, "sip": True},
        "caller": [
            {"say": CALLER_LINE},
            {"control": {"type": "end-call"}, "from": "caller"},
            {"control": {"type": "transfer", "destination": SUPPORT_NUMBER}},
            {"dtmf": "12#"},
            {"hangup": True},
        ],
        "llm": [
            {"tool": {"name": "transfer_call", "arguments": {"destination": SALES_NUMBER}}},
            {"say": AGENT_LINE},
        ],
        "providers": {"sip_transfer": "fail"},
    }
    sink = WebhookSink(TargetPolicy.loopback_allowed(), Outbox(tmp_path / "outbox"))
    try:
        result = await run_scenario(
            parse_scenario(scenario), sink=sink, settings=WorkerSettings(), say=lambda _: None
        )
    finally:
        await sink.aclose(timeout=10.0)
    assert result.transfers, "no REFER was attempted: the scenario did not reach the transfer"
    return str(result.end_reason)


async def test_gdpr_phone_call_logs_no_phone_number_at_any_level(
    all_logs: Records, receiver_url: str, tmp_path: Path
) -> None:
    assert await phone_call(receiver_url, tmp_path, gdpr=True) == "user_hangup"

    texts = all_logs.texts()
    assert any("'phone-call'" in t for t in texts), "the call logged nothing"
    assert any("transfer_failed" in t for t in texts)  # the transfer paths did log
    leaks = [(numbers_in(t), t[:200]) for t in texts if numbers_in(t)]
    assert not leaks, f"phone numbers logged under gdpr_mode: {leaks}"


async def test_without_gdpr_numbers_reach_debug_lines_only(
    all_logs: Records, receiver_url: str, tmp_path: Path
) -> None:
    """The same call without gdpr_mode: numbers are in debug lines (so the capture above would
    see them), never at info or above."""
    assert await phone_call(receiver_url, tmp_path, gdpr=False) == "user_hangup"

    assert any(numbers_in(t) for t in all_logs.texts(logging.DEBUG))
    leaks = [(numbers_in(t), t[:200]) for t in all_logs.texts(logging.INFO) if numbers_in(t)]
    assert not leaks, f"phone numbers logged at info level: {leaks}"
