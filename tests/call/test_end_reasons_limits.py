"""max_duration and silence_timeout, produced by whole simulated calls (config/scenarios/end-*).

Gap measurements (limit -> actual end) are printed with `-s`; see the lifecycle report for
figures over several runs. Nothing here asserts a timing.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from livekit.agents import llm

from tests.support.end_reasons import (
    Receiver,
    agent_lines,
    exact_duration,
    scenario_file,
    simulate,
)

pytestmark = pytest.mark.simulated_call

GOODBYE = "We've reached the time limit for this call. Goodbye!"


async def test_max_duration_cuts_a_long_reply_and_says_goodbye(
    receiver: Receiver, tmp_path: Path
) -> None:
    result = await simulate(scenario_file("end-max-duration", receiver), tmp_path)

    report = receiver.only_report()
    assert result.end_reason == report["end_reason"] == "max_duration"
    assert report["end_detail"] == "limit of 10 s reached"
    spoken = agent_lines(report)
    assert spoken[-1] == GOODBYE
    # the long reply was cut off by the limit: it is in the record, interrupted
    reply = [m for m in report["messages"] if "open every day" in (m["message"] or "")]
    assert reply
    assert reply[0]["interrupted"]
    print(f"max_duration: limit 10 s, ended at {exact_duration(report):.3f} s")


async def test_max_duration_while_a_tool_is_running(receiver: Receiver, tmp_path: Path) -> None:
    tool_cancelled = asyncio.Event()

    @llm.function_tool(name="check_calendar", description="Check the calendar")
    async def check_calendar() -> str:
        try:
            # still running at the 10 s limit (asked at ~5 s). Found: interrupting does not
            # cancel it, and the report waits for it (LiveCall.finish -> session.aclose), so
            # this stays short; see the lifecycle report.
            await asyncio.sleep(12)
        except asyncio.CancelledError:
            tool_cancelled.set()
            raise
        return "free"

    scenario = scenario_file("end-max-duration", receiver)
    scenario["llm"] = [{"say": "Let me check.", "tool": {"name": "check_calendar"}}]
    result = await simulate(scenario, tmp_path, extra_tools=[check_calendar])

    report = receiver.only_report()
    assert result.end_reason == report["end_reason"] == "max_duration"
    assert agent_lines(report)[-1] == GOODBYE
    print(
        f"max_duration during tool: ended at {exact_duration(report):.3f} s, "
        f"wall {result.wall_seconds:.3f} s, tool cancelled: {tool_cancelled.is_set()}"
    )


async def test_silence_prompt_then_silence_timeout(receiver: Receiver, tmp_path: Path) -> None:
    result = await simulate(scenario_file("end-silence-prompt", receiver), tmp_path)

    report = receiver.only_report()
    assert result.end_reason == report["end_reason"] == "silence_timeout"
    assert report["end_detail"] == "no speech after 1 prompts"
    assert agent_lines(report) == [
        "Hello, how can I help?",
        "Are you still there?",
        "I'll end the call now. Goodbye!",
    ]
    print(f"silence_timeout: ended at {exact_duration(report):.3f} s")
