"""The conversation itself, on the production call path: a greeting and a turn, a Python tool,
a barge-in, and the agent closing the session from a tool.

Each call runs through ``run_scenario`` (the composition root with the simulated room, real
silero VAD and the pinned turn handling, offline vendors, a scripted caller speaking recorded
speech on the wall clock), so a few seconds of real time each. Only outcomes are asserted,
never timings; the figures go to the bench. ``beside_call`` keeps the running call so the
session's own history and the offline LLM's requests can be read afterwards.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pytest
from livekit.agents import RunContext, function_tool, llm

from agent.call.live_call import LiveCall
from agent.contracts.events import EndOfCallReport, parse_envelope
from agent.simulator.live import ScenarioResult, run_scenario
from agent.simulator.offline import FALLBACK_REPLY, OfflineLLM
from agent.simulator.scenario import parse_scenario
from agent.worker.settings import WorkerSettings
from tests.support.telephony import CollectingSink

pytestmark = pytest.mark.simulated_call

GREETING = "Hello, how can I help?"
LONG_REPLY = (
    "We open at nine on Saturdays and at eleven on Sundays, and the kitchen stays open "
    "until ten in the evening every day of the week."
)


@dataclass
class Kept:
    """The running call, and the session's state when it went live."""

    call: LiveCall | None = None
    states: list[str] = field(default_factory=list)

    async def beside(self, call: LiveCall) -> None:
        self.call = call
        self.states.append(call.session.agent_state)

    @property
    def history(self) -> llm.ChatContext:
        assert self.call is not None, "the call never went live"
        return self.call.session.history

    @property
    def llm(self) -> OfflineLLM:
        assert self.call is not None, "the call never went live"
        engine = self.call.session.llm
        assert isinstance(engine, OfflineLLM)
        return engine


def scenario(
    caller: list[dict[str, Any]], replies: list[dict[str, Any]], **assistant: Any
) -> dict[str, Any]:
    return {
        "dispatch": {
            "call": {"id": "sim-conversation", "type": "web_call"},
            "assistant": {
                "name": "Conversation",
                "stt_config": {"provider": "deepgram"},
                "llm_config": {"model": "gpt-4.1-mini"},
                "tts_config": {"provider": "elevenlabs", "voice_id": "sim-voice"},
                "autonomous_silence_handling": {"enabled": False},
                "max_duration_seconds": 60,
            }
            | assistant,
        },
        "caller": caller,
        "llm": replies,
    }


async def simulate(
    doc: dict[str, Any], kept: Kept, tools: list[llm.Tool] | None = None
) -> tuple[ScenarioResult, EndOfCallReport]:
    result = await run_scenario(
        parse_scenario(doc),
        sink=CollectingSink(),
        settings=WorkerSettings(),
        say=lambda _line: None,
        extra_tools=tools or [],
        beside_call=kept.beside,
    )
    report = parse_envelope(result.report_body).message
    assert isinstance(report, EndOfCallReport)
    return result, report


def _messages(history: llm.ChatContext) -> list[tuple[str, str, bool]]:
    return [
        (item.role, item.text_content or "", item.interrupted)
        for item in history.items
        if item.type == "message"
    ]


async def test_greeting_then_a_caller_turn_gets_the_scripted_reply() -> None:
    kept = Kept()
    result, report = await simulate(
        scenario(
            [{"say": "I'd like to book a table."}, {"hangup": True}],
            [{"say": "Sure, for how many people?"}],
            first_message=GREETING,
        ),
        kept,
    )

    assert result.end_reason == "user_hangup"
    assert kept.states == ["listening"]  # live: the session started, the greeting not yet heard
    assert report.end_detail == "CLIENT_INITIATED"  # the caller's hang-up reached the lifecycle
    assert _messages(kept.history) == [
        ("assistant", GREETING, False),
        ("user", "I'd like to book a table.", False),
        ("assistant", "Sure, for how many people?", False),
    ]
    assert result.timings is not None
    assert result.timings.greeting_ms is not None
    assert result.timings.turns[0].latency_ms is not None
    # the LLM was asked with the caller's words, transcribed by the offline STT
    last_item = kept.llm.requests[-1].chat_ctx.items[-1]
    assert last_item.type == "message"
    assert last_item.text_content == "I'd like to book a table."
    assert result.published_transcripts == [GREETING, "Sure, for how many people?"]
    assert [entry.who for entry in result.log] == ["agent", "caller", "agent"]


async def test_a_scripted_tool_call_runs_the_registered_function_tool() -> None:
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

    kept = Kept()
    result, _report = await simulate(
        scenario(
            [{"say": "A table for two on Friday."}, {"hangup": True}],
            [
                {"tool": {"name": "book_table", "arguments": {"day": "friday", "people": 2}}},
                {"say": "Done, see you Friday."},
            ],
        ),
        kept,
        tools=[book_table],
    )

    assert bookings == [("friday", 2)]
    items = kept.history.items
    calls = [item for item in items if item.type == "function_call"]
    outputs = [item for item in items if item.type == "function_call_output"]
    assert [(c.name, json.loads(c.arguments)) for c in calls] == [
        ("book_table", {"day": "friday", "people": 2})
    ]
    assert [o.output for o in outputs] == ["booked for 2 on friday"]
    assert _messages(kept.history)[-1] == ("assistant", "Done, see you Friday.", False)
    # the follow-up request carried the tool's result to the LLM
    assert kept.llm.requests[-1].chat_ctx.items[-1].type == "function_call_output"
    assert "book_table" in kept.llm.requests[0].tool_names
    assert any(entry.who == "tool" for entry in result.log)


async def test_a_barge_in_cuts_the_agent_and_truncates_its_transcript() -> None:
    kept = Kept()
    result, _report = await simulate(
        scenario(
            [
                {"say": "When do you open?"},
                {"say": "Sorry, just Sunday?", "barge_in": True, "after_seconds": 1.0},
                {"hangup": True},
            ],
            [{"say": LONG_REPLY}],  # the barge-in is answered by the fallback
        ),
        kept,
    )

    messages = _messages(kept.history)
    cut = [text for role, text, interrupted in messages if role == "assistant" and interrupted]
    assert len(cut) == 1
    assert LONG_REPLY.startswith(cut[0])
    assert len(cut[0]) < len(LONG_REPLY) / 2  # 1 s + ~0.6 s of an 8.6 s reply
    assert ("user", "Sorry, just Sunday?", False) in messages
    assert messages[-1] == ("assistant", FALLBACK_REPLY, False)
    published = result.published_transcripts
    assert LONG_REPLY not in published
    assert any(text and LONG_REPLY.startswith(text.strip()) for text in published)
    assert result.timings is not None
    assert result.timings.turns[1].barge_in


async def test_the_call_ends_when_the_agent_closes_the_session() -> None:
    @function_tool
    async def close_session(context: RunContext[None]) -> None:
        """End the call."""
        context.session.shutdown(drain=True)  # returns None: no follow-up reply wanted

    kept = Kept()
    result, report = await simulate(
        scenario(
            # The pause is the caller's, before they check the line: the session's drained
            # close must not race the caller's 0.2 s reply gap (in call time, the close's
            # CPU counts 8x in the sped-up suite).
            [{"say": "That's all, goodbye."}, {"silence": 2}, {"say": "Hello? Are you there?"}],
            [{"say": "Goodbye!", "tool": {"name": "close_session"}}],
        ),
        kept,
        tools=[close_session],
    )

    # Closed outside the lifecycle (not end_call): the session binding names the cause.
    assert (result.end_reason, report.end_detail) == ("error", "session: closed: user_initiated")
    assert [entry.text for entry in result.log if entry.who == "caller"] == ["That's all, goodbye."]
    assert _messages(kept.history)[-1] == ("assistant", "Goodbye!", False)
