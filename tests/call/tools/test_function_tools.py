"""The livekit glue of function tools: interruption watching and what reaches the call record."""

from __future__ import annotations

import asyncio
from typing import Any

from livekit.agents import llm
from livekit.agents.voice import SpeechHandle

from agent.call.tools import FunctionTools, ToolOutcome, build_function_tools
from agent.call.tools.function_tools import _interruption
from agent.delivery.call_events import CallEvents
from agent.delivery.logsink import LogSink
from agent.delivery.target_policy import TargetPolicy
from agent.intake.dispatch import parse_dispatch
from agent.report.record import CallRecord


async def tools() -> FunctionTools:
    spec = await parse_dispatch(
        {
            "call": {"id": "c", "type": "web_call"},
            "assistant": {
                "stt_config": {"provider": "deepgram"},
                "llm_config": {"model": "m"},
                "tts_config": {"provider": "elevenlabs", "voice_id": "v"},
                "tools": [
                    {
                        "type": "function",
                        "function": {"name": "lookup"},
                        "server": {"url": "https://tools.example/x"},
                    }
                ],
            },
        },
        room_name="r",
    )
    return build_function_tools(
        spec, events=CallEvents.for_call(spec, LogSink()), policy=TargetPolicy()
    )


def outcome(call_id: str, **fields: Any) -> ToolOutcome:
    base: dict[str, Any] = {
        "call_id": call_id,
        "name": "lookup",
        "arguments": {"q": 1},
        "status": "ok",
        "result": {"found": True},
        "called_at": 1000.0,
        "finished_at": 1000.25,
        "tool_ms": 250.0,
    }
    return ToolOutcome(**(base | fields))


async def test_interruption_resolves_when_the_speech_is_interrupted() -> None:
    handle = SpeechHandle.create()
    watcher = asyncio.ensure_future(_interruption(handle))
    await asyncio.sleep(0)
    assert not watcher.done()
    handle.interrupt()
    await asyncio.wait_for(watcher, timeout=5)
    assert handle.interrupted


async def test_outcome_is_recorded_once_with_its_measured_figures() -> None:
    built = await tools()
    record = CallRecord(call_id="c")
    built._keep(outcome("call_1"))
    # what LiveCall does on function_tools_executed: the call, ours, then the framework's text
    record.record_chat_item(llm.FunctionCall(call_id="call_1", name="lookup", arguments="{}"))
    assert built.finish_in(record, "call_1")
    record.record_chat_item(
        llm.FunctionCallOutput(call_id="call_1", name="lookup", output="{}", is_error=True)
    )
    built.record_unreported(record)

    (entry,) = record.tool_calls()
    assert entry.result == {"found": True}
    assert entry.error is None
    assert entry.tool_ms == 250.0
    assert sum(1 for e in record.entries if type(e).__name__ == "ToolResultEntry") == 1
    await built.aclose()


async def test_calls_the_framework_never_reported_are_recorded_at_the_end() -> None:
    built = await tools()
    record = CallRecord(call_id="c")
    built._keep(outcome("call_2", status="cancelled", result=None, error="cancelled: call over"))
    assert not built.finish_in(record, "unknown")
    built.record_unreported(record)

    (entry,) = record.tool_calls()
    assert entry.error == "cancelled: call over"
    assert entry.arguments == {"q": 1}
    await built.aclose()
