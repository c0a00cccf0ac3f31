"""DTMF: key presses gathered into one LLM turn (virtual clock), and the send_dtmf tool."""

from __future__ import annotations

from typing import Any

import pytest
from livekit.agents import llm

from agent.call.telephony.dtmf import DtmfCollector, dtmf_code, send_dtmf_tool
from agent.clock import VirtualClock
from tests.support.telephony import assistant, start_sim_call, wait_for


def test_codes() -> None:
    assert [dtmf_code(d) for d in "0129*#AD"] == [0, 1, 2, 9, 10, 11, 12, 15]
    with pytest.raises(ValueError, match="not a DTMF digit"):
        dtmf_code("E")


def test_keys_are_one_entry_until_a_pause() -> None:
    clock = VirtualClock()
    entries: list[str] = []
    collector = DtmfCollector(clock, entries.append, gap_seconds=2.0)
    collector.press("1")
    clock.advance(1.5)
    collector.press("2")  # 1.5 s after "1": the pause timer starts again
    clock.advance(1.9)
    assert entries == []
    clock.advance(0.1)  # 2.0 s after "2"
    assert entries == ["12"]


def test_pound_ends_the_entry_at_once_and_junk_is_ignored() -> None:
    clock = VirtualClock()
    entries: list[str] = []
    collector = DtmfCollector(clock, entries.append)
    for key in ["4", "x", "42", "#"]:
        collector.press(key)
    assert entries == ["4#"]
    clock.advance(10.0)
    assert entries == ["4#"]  # nothing left to deliver


async def test_send_dtmf_publishes_each_key_spaced() -> None:
    published: list[tuple[int, str]] = []
    pauses: list[float] = []

    async def publish(code: int, digit: str) -> None:
        published.append((code, digit))

    async def pause(seconds: float) -> None:
        pauses.append(seconds)

    tool: Any = send_dtmf_tool(publish, pause=pause)
    result = await tool(raw_arguments={"digits": "1*#"})
    assert published == [(1, "1"), (10, "*"), (11, "#")]
    assert pauses == [0.3, 0.3]
    assert result == "sent 3 key(s)"
    with pytest.raises(llm.ToolError):
        await tool(raw_arguments={"digits": "12x"})


@pytest.mark.simulated_call
async def test_caller_keys_reach_the_llm_as_a_user_turn() -> None:
    dispatch = {
        "call": {"id": "dtmf", "type": "inbound_phone_call"},
        "assistant": assistant(tools=[{"type": "dtmf"}]),
    }
    sim = await start_sim_call(
        dispatch, llm_replies=[{"say": "Thanks, account 12 found."}], clock=VirtualClock()
    )
    try:
        assert sim.phone.dtmf is not None
        for key in "12#":
            sim.phone.dtmf.press(key)
        record = sim.call.record
        await wait_for(
            lambda: any(m.text == "Thanks, account 12 found." for m in record.messages())
        )
    finally:
        await sim.close()
    (request,) = sim.llm.requests
    users = [m.text_content for m in request.chat_ctx.messages() if m.role == "user"]
    assert users == ["[DTMF] 12#"]
    assert [m.text for m in record.messages() if m.role == "user"] == ["[DTMF] 12#"]
