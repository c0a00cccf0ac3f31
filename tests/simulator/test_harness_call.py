"""Whole simulated calls: a real AgentSession with the production silero VAD and pinned turn
handling, offline vendors, a scripted caller speaking real recorded speech, on the wall clock.

Each call takes a few seconds of real time (that is the point: the VAD and the turn timers
run for real). Only outcomes are asserted, never timings; the figures go to the benchmarks.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from livekit.agents import Agent, AgentSession, RunContext, function_tool, llm, vad

from agent.call.providers import load_vad
from agent.call.session import turn_handling
from agent.contracts.assistant import TurnConfig
from agent.simulator import SimulatedCall
from agent.simulator.offline import FALLBACK_REPLY

pytestmark = pytest.mark.slow

LONG_REPLY = (
    "We open at nine on Saturdays and at eleven on Sundays, and the kitchen stays open "
    "until ten in the evening every day of the week."
)


@pytest.fixture(autouse=True)
def _no_local_inference_preload(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIVEKIT_AGENTS_PRELOAD_LOCAL_INFERENCE", "0")


@pytest.fixture(scope="module")
def silero() -> vad.VAD:
    return load_vad(TurnConfig())


def _session_kwargs(silero: vad.VAD) -> dict[str, Any]:
    return {
        "vad": silero,
        "turn_handling": turn_handling(TurnConfig()),
        "user_away_timeout": None,
        "session_close_transcript_timeout": 0.2,
    }


def _messages(history: llm.ChatContext) -> list[tuple[str, str, bool]]:
    return [
        (item.role, item.text_content or "", item.interrupted)
        for item in history.items
        if item.type == "message"
    ]


async def test_greeting_then_a_caller_turn_gets_the_scripted_reply(silero: vad.VAD) -> None:
    hooks: list[str] = []

    async def started(session: AgentSession[Any]) -> None:
        hooks.append(f"started:{session.agent_state}")

    async def hung_up(session: AgentSession[Any]) -> None:
        hooks.append("hangup")  # the lifecycle records user_hangup here, then closes
        await session.aclose()

    call = SimulatedCall(
        agent=Agent(instructions="You are the receptionist of a restaurant."),
        session_kwargs=_session_kwargs(silero),
        greeting="Hello, how can I help?",
        script=[{"say": "I'd like to book a table."}, {"hangup": True}],
        llm_replies=[{"say": "Sure, for how many people?"}],
        on_session_started=started,
        on_hangup=hung_up,
    )
    result = await call.run()

    assert result.ended_by == "caller_hangup"
    assert hooks == ["started:listening", "hangup"]
    assert _messages(result.history) == [
        ("assistant", "Hello, how can I help?", False),
        ("user", "I'd like to book a table.", False),
        ("assistant", "Sure, for how many people?", False),
    ]
    assert result.greeting_ms is not None
    assert result.turns[0].latency_ms is not None
    # the LLM was asked with the caller's words, transcribed by the offline STT
    last_item = call.llm.requests[-1].chat_ctx.items[-1]
    assert last_item.type == "message"
    assert last_item.text_content == "I'd like to book a table."
    assert result.published_transcripts == ["Hello, how can I help?", "Sure, for how many people?"]
    assert [entry.who for entry in result.log] == ["agent", "caller", "agent"]


async def test_a_scripted_tool_call_runs_the_registered_function_tool(silero: vad.VAD) -> None:
    bookings: list[tuple[str, int]] = []

    @function_tool
    async def book_table(day: str, people: int) -> str:
        """Book a table.

        Args:
            day: Day of the booking.
            people: Number of guests.
        """
        bookings.append((day, people))
        return f"booked for {people} on {day}"

    call = SimulatedCall(
        agent=Agent(instructions="You book tables.", tools=[book_table]),
        session_kwargs=_session_kwargs(silero),
        script=[{"say": "A table for two on Friday."}, {"hangup": True}],
        llm_replies=[
            {"tool": {"name": "book_table", "arguments": {"day": "friday", "people": 2}}},
            {"say": "Done, see you Friday."},
        ],
    )
    result = await call.run()

    assert bookings == [("friday", 2)]
    calls = [item for item in result.history.items if item.type == "function_call"]
    outputs = [item for item in result.history.items if item.type == "function_call_output"]
    assert [(c.name, json.loads(c.arguments)) for c in calls] == [
        ("book_table", {"day": "friday", "people": 2})
    ]
    assert [o.output for o in outputs] == ["booked for 2 on friday"]
    assert _messages(result.history)[-1] == ("assistant", "Done, see you Friday.", False)
    # the follow-up request carried the tool's result to the LLM
    assert call.llm.requests[-1].chat_ctx.items[-1].type == "function_call_output"
    assert "book_table" in call.llm.requests[0].tool_names
    assert any(entry.who == "tool" for entry in result.log)


async def test_a_barge_in_cuts_the_agent_and_truncates_its_transcript(silero: vad.VAD) -> None:
    call = SimulatedCall(
        agent=Agent(instructions="You answer questions about opening hours."),
        session_kwargs=_session_kwargs(silero),
        script=[
            {"say": "When do you open?"},
            {"barge_in": "Sorry, just Sunday?", "after_seconds": 1.0},
            {"hangup": True},
        ],
        llm_replies=[{"say": LONG_REPLY}],  # the barge-in is answered by the fallback
    )
    result = await call.run()

    messages = _messages(result.history)
    cut = [text for role, text, interrupted in messages if role == "assistant" and interrupted]
    assert len(cut) == 1
    assert LONG_REPLY.startswith(cut[0])
    assert len(cut[0]) < len(LONG_REPLY) / 2  # 1 s + ~0.6 s of an 8.6 s reply
    assert ("user", "Sorry, just Sunday?", False) in messages
    assert messages[-1] == ("assistant", FALLBACK_REPLY, False)
    published = result.published_transcripts
    assert LONG_REPLY not in published
    assert any(text and LONG_REPLY.startswith(text.strip()) for text in published)
    assert result.turns[1].barge_in


async def test_the_call_ends_when_the_agent_closes_the_session(silero: vad.VAD) -> None:
    @function_tool
    async def end_call(context: RunContext[None]) -> None:
        """End the call."""
        context.session.shutdown(drain=True)  # returns None: no follow-up reply wanted

    call = SimulatedCall(
        agent=Agent(instructions="You end calls.", tools=[end_call]),
        session_kwargs=_session_kwargs(silero),
        script=[{"say": "That's all, goodbye."}, {"say": "Hello? Are you there?"}],
        llm_replies=[{"say": "Goodbye!", "tool": {"name": "end_call"}}],
    )
    result = await call.run()

    assert result.ended_by == "session_closed"
    assert [entry.text for entry in result.log if entry.who == "caller"] == ["That's all, goodbye."]
    assert _messages(result.history)[-1] == ("assistant", "Goodbye!", False)
