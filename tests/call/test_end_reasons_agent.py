"""agent_hangup, both ways the assistant ends a call itself (config/scenarios/end-*.yaml)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.end_reasons import (
    Receiver,
    agent_lines,
    scenario_file,
    simulate,
)

pytestmark = pytest.mark.simulated_call


async def test_end_call_tool_speaks_end_call_message(receiver: Receiver, tmp_path: Path) -> None:
    result = await simulate(scenario_file("end-call-tool", receiver), tmp_path)

    report = receiver.only_report()
    assert result.end_reason == report["end_reason"] == "agent_hangup"
    assert report["end_detail"] == "end_call_tool"
    assert agent_lines(report)[-1] == "Thanks for calling. Goodbye!"
    assert any(m["name"] == "end_call" or m["tool_calls"] for m in report["messages"])


async def test_end_call_phrase_ends_after_the_line(receiver: Receiver, tmp_path: Path) -> None:
    result = await simulate(scenario_file("end-phrase", receiver), tmp_path)

    report = receiver.only_report()
    assert result.end_reason == report["end_reason"] == "agent_hangup"
    assert report["end_detail"] == "end_call_phrase"
    # the assistant's own line is the last thing heard: no extra goodbye after it
    assert agent_lines(report)[-1] == "You're welcome. Have a nice day!"
    assert "Thanks for calling" not in report["transcript"]
