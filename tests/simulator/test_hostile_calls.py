"""Hostile tool answers and documents in whole simulated calls, through the production path.

Each call runs as `python -m agent simulate` runs it (`run_scenario`: LiveCall, the lifecycle,
the function tools' signed client, the events and the webhook sink) against a real tool server
and a real webhook receiver on 127.0.0.1 that checks every signature with the seed verifier.
Every test asserts the three things a hostile input must not change: the input was refused or
contained, the call produced exactly one signed end-of-call report, and nothing secret left
the process (no secret in any body sent, in the outbox, or in the log output).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from agent.call.live_call import LiveCall
from agent.contracts.events import EndOfCallReport, ReportMessage, parse_envelope
from agent.delivery.outbox import Outbox
from agent.delivery.target_policy import TargetPolicy
from agent.delivery.webhook import WebhookSink
from agent.simulator.live import run_scenario
from agent.simulator.scenario import parse_scenario
from agent.worker.settings import WorkerSettings
from tests.support.receiver import SECRET, Receiver
from tests.support.tool_server import SECRET as TOOL_SECRET
from tests.support.tool_server import ToolServer, tool_config

pytestmark = pytest.mark.simulated_call

FAILED_LINE = "Sorry, the booking system is down."
WORKER_SECRETS = {
    "LIVEKIT_API_SECRET": "lk_api_secret_never_sent",
    "OPENAI_API_KEY": "sk-worker-openai-never-sent",
    "DEEPGRAM_API_KEY": "dg-worker-never-sent",
}


@pytest.fixture(autouse=True)
def _worker_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in WORKER_SECRETS.items():
        monkeypatch.setenv(name, value)


def scenario(receiver: Receiver, server: ToolServer, **assistant: Any) -> dict[str, Any]:
    return {
        "dispatch": {
            "call": {"id": "sim-hostile", "type": "web_call"},
            "assistant": {
                "name": "Hostile input",
                "first_message": "Hello, how can I help?",
                "stt_config": {"provider": "deepgram"},
                "llm_config": {"model": "gpt-4.1-mini"},
                "tts_config": {"provider": "elevenlabs", "voice_id": "v"},
                "autonomous_silence_handling": {"timeout_seconds": 5, "max_prompts": 0},
                "max_duration_seconds": 60,
                "webhook_url": receiver.url("/hook"),
                "webhook_secret": SECRET,
                "tools": [tool_config(server.url)],
            }
            | assistant,
        },
        "caller": [{"say": "A table for two on Friday, please"}, {"hangup": True}],
        "llm": [
            {"tool": {"name": "book_table", "arguments": {"day": "friday", "guests": 2}}},
            {"say": "Let me see what I can do."},
        ],
        "providers": {"stt_final_ms": 150, "llm_ttft_ms": 200, "tts_ttfb_ms": 100},
    }


async def simulate(
    doc: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> tuple[str, list[LiveCall], str]:
    calls: list[LiveCall] = []

    async def beside(call: LiveCall) -> None:
        calls.append(call)

    sink = WebhookSink(TargetPolicy.loopback_allowed(), Outbox(tmp_path / "outbox"))
    lines: list[str] = []
    try:
        result = await run_scenario(
            parse_scenario(doc), sink=sink, settings=WorkerSettings(), say=lines.append,
            beside_call=beside,
        )  # fmt: skip
    finally:
        await sink.aclose(timeout=10.0)
    return result.end_reason, calls, capsys.readouterr().out + "\n".join(lines)


def one_signed_report(receiver: Receiver) -> dict[str, Any]:
    hooks = receiver.at("/hook")
    assert hooks, "the receiver got nothing"
    assert all(r.signature_ok for r in hooks), "every delivery verifies with the seed verifier"
    reports = [json.loads(r.body)["message"] for r in hooks]
    reports = [m for m in reports if m["type"] == "end-of-call-report"]
    assert len(reports) == 1
    parse_envelope(json.dumps({"message": reports[0]}))  # a valid report, by our own schema
    report: dict[str, Any] = reports[0]
    return report


def nothing_secret_left(
    receiver: Receiver, server: ToolServer, tmp_path: Path, output: str
) -> None:
    sent = [r.body.decode("utf-8", "replace") for r in receiver.received]
    sent += [json.dumps(r) for r in server.requests]
    parked = [p.read_text() for p in (tmp_path / "outbox").glob("**/*") if p.is_file()]
    for secret in (SECRET, TOOL_SECRET, *WORKER_SECRETS.values()):
        assert not any(secret in text for text in sent), "a secret reached a receiver"
        assert not any(secret in text for text in parked), "a secret reached the outbox"
        assert secret not in output, "a secret reached a log line"


def tool_message(report: dict[str, Any]) -> ReportMessage:
    (entry,) = [m for m in report["messages"] if m["role"] == "tool"]
    return ReportMessage.model_validate(entry)


def with_results(result: bytes) -> Any:
    def answer(call_id: str) -> bytes:
        return (
            b'{"results": [{"toolCallId": "' + call_id.encode() + b'", "result": ' + result + b"}]}"
        )

    return answer


async def test_a_one_megabyte_answer_is_refused_and_the_caller_hears_the_failure_line(
    receiver: Receiver, server: ToolServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server.mode = "raw"
    server.answer = with_results(json.dumps("x" * 1_000_000).encode())
    end_reason, _calls, output = await simulate(scenario(receiver, server), tmp_path, capsys)

    assert end_reason == "user_hangup"
    report = one_signed_report(receiver)
    tool = tool_message(report)
    assert tool.error == "failed: the tool server's answer is larger than 262144 bytes"
    assert tool.result is None
    assert FAILED_LINE in report["transcript"]
    assert len(json.dumps(report)) < 64_000  # none of the megabyte reached the report
    assert server.signatures_ok == [True]
    nothing_secret_left(receiver, server, tmp_path, output)


async def test_an_answer_over_many_chunks_is_accepted_and_capped_in_the_report(
    receiver: Receiver, server: ToolServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [{"table": i, "note": "by the window"} for i in range(1200)]  # ~42 KB
    server.mode = "raw"
    server.answer = with_results(json.dumps({"rows": rows}).encode())
    server.chunk_bytes = 1000
    end_reason, calls, output = await simulate(scenario(receiver, server), tmp_path, capsys)

    assert end_reason == "user_hangup"
    (call,) = calls
    (outcome,) = call.function_tools.outcomes.values()
    assert outcome.status == "ok"
    assert outcome.result == {"rows": rows}  # read whole: the model got all of it
    report = one_signed_report(receiver)
    tool = tool_message(report)
    assert tool.error is None
    assert isinstance(tool.result, str)  # the record keeps 16 KB of it, marked
    assert tool.result.endswith("kept]")
    assert "[truncated: " in tool.result
    assert FAILED_LINE not in report["transcript"]
    nothing_secret_left(receiver, server, tmp_path, output)


async def test_a_deeply_nested_answer_is_refused_cleanly(
    receiver: Receiver, server: ToolServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server.mode = "raw"
    server.answer = with_results(b"[" * 100_000 + b"]" * 100_000)
    end_reason, _calls, output = await simulate(scenario(receiver, server), tmp_path, capsys)

    assert end_reason == "user_hangup"
    report = one_signed_report(receiver)
    tool = tool_message(report)
    assert tool.error is not None
    assert tool.error.startswith("failed: the tool server's answer was refused: ")
    assert "nested more than 64 levels deep" in tool.error
    assert FAILED_LINE in report["transcript"]
    assert "RecursionError" not in output  # refused, not crashed
    nothing_secret_left(receiver, server, tmp_path, output)


async def test_lone_surrogates_in_metadata_and_a_tool_result_still_give_a_signed_report(
    receiver: Receiver, server: ToolServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # What a browser sends when it cuts an emoji in half: "\ud83d" with no partner.
    server.mode = "raw"
    server.answer = with_results(b'{"note": "table by the \\ud83d window", "k\\udc00": 1}')
    metadata = {"UserID": "usr_\ud83d", "cut\udc00": ["\ud83d\ude00 whole", "half \ud83d"]}
    doc = scenario(receiver, server, metadata=metadata)
    end_reason, _calls, output = await simulate(doc, tmp_path, capsys)

    assert end_reason == "user_hangup"
    report = one_signed_report(receiver)
    assert report["assistant"]["metadata"] == {
        "UserID": "usr_\ufffd",
        "cut\ufffd": ["😀 whole", "half \ufffd"],
    }
    tool = tool_message(report)
    assert tool.result == {"note": "table by the \ufffd window", "k\ufffd": 1}
    statuses = [json.loads(r.body)["message"] for r in receiver.at("/hook")]
    assert all(m["assistant"]["metadata"]["UserID"] == "usr_\ufffd" for m in statuses)
    assert isinstance(parse_envelope(receiver.at("/hook")[-1].body).message, EndOfCallReport)
    nothing_secret_left(receiver, server, tmp_path, output)


async def test_a_refused_document_still_gets_one_signed_config_error_report(
    receiver: Receiver, server: ToolServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    deep: Any = {}
    for _ in range(40):
        deep = {"n": deep}
    doc = scenario(receiver, server, name="Desk \ud83d", metadata={"deep": deep})
    doc["dispatch"]["call"]["id"] = "sim-\ud83d"
    doc["dispatch"]["assistant"]["tools"][0]["function"]["parameters"] = {"type": "objekt"}
    end_reason, calls, output = await simulate(doc, tmp_path, capsys)

    assert end_reason == "config_error"
    assert calls == []  # never went live
    report = one_signed_report(receiver)
    assert report["call"]["id"] == "sim-\ufffd"
    assert report["assistant"] == {"name": "Desk \ufffd", "metadata": {}}
    assert "assistant.metadata: nested 42 levels deep; the limit is 32" in report["end_detail"]
    assert "assistant.tools.0.function.parameters: not a valid JSON Schema" in report["end_detail"]
    assert server.requests == []
    nothing_secret_left(receiver, server, tmp_path, output)
