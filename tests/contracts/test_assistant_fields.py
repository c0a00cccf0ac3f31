"""Documented assistant fields the worker accepts (issue 12, points 1 and 9): every seed's
`webhook_events` names, a few-shot `tool` exchange in `llm_config.messages`, `timezone`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from livekit.agents import llm

from agent.call.session import few_shot_context
from agent.contracts.assistant import AssistantConfig
from agent.delivery.call_events import CallEvents
from agent.errors import ConfigError
from agent.intake.dispatch import CallSpec, parse_dispatch
from tests.contracts.test_events import Collected, every_event, make_spec


def assistant(**fields: Any) -> dict[str, Any]:
    return {
        "stt_config": {"provider": "deepgram"},
        "llm_config": {"model": "gpt-4.1-mini"},
        "tts_config": {"provider": "openai"},
    } | fields


async def parse(**fields: Any) -> CallSpec:
    return await parse_dispatch({"assistant": assistant(**fields)}, room_name="r")


async def problems(**fields: Any) -> dict[str, str]:
    with pytest.raises(ConfigError) as info:
        await parse(**fields)
    return {p.path: p.message for p in info.value.problems}


@pytest.fixture
async def collected(tmp_path: Path) -> AsyncIterator[Collected]:
    c = Collected(tmp_path / "events.jsonl")
    yield c
    await c.sink.aclose()


SEED_EVENT_NAMES = [
    "status-update",  # 000 l.604
    "end-of-call-report",  # 000 l.617, 001 l.112
    "tool-calls",  # 001 l.112
    "assistant-request",  # 000 l.100
    "voice_session.started",  # 004 l.186-188
    "voice_session.ended",
    "voice_session.failed",
    "transcript",  # ours (design brief)
]


async def test_every_event_name_the_seeds_list_is_accepted() -> None:
    spec = await parse(webhook_events=SEED_EVENT_NAMES)
    assert spec.assistant.webhook_events == SEED_EVENT_NAMES
    found = await problems(webhook_events=["call.ended"])
    assert "assistant.webhook_events.0" in found


@pytest.mark.parametrize(
    ("listed", "sent"),
    [
        # The seed's own webhook example (001 l.110-113): no status-update.
        (["tool-calls", "end-of-call-report"], ["tool-calls", "end-of-call-report"]),
        # CallMissed's names select the same moments of the call.
        (["voice_session.started", "voice_session.ended"], ["status-update", "end-of-call-report"]),
        (["voice_session.failed"], ["end-of-call-report"]),
        (["assistant-request"], []),  # the operator's config source decides; sends nothing
    ],
)
async def test_listed_names_select_the_events_of_either_format(
    collected: Collected, listed: list[str], sent: list[str]
) -> None:
    events = CallEvents.for_call(make_spec(webhook_events=listed), collected.sink)
    for event in every_event(events):
        events.emit(event)
    await events.drain()
    assert [line["event_type"] for line in collected.lines()] == sent


FEW_SHOT = [
    {"role": "system", "content": "You book tables."},
    {"role": "user", "content": "Is Friday free?"},
    {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "call_1",
                "type": "function",
                "function": {"name": "check_day", "arguments": '{"day": "friday"}'},
            }
        ],
    },
    {"role": "tool", "tool_call_id": "call_1", "content": '{"free": true}'},
    {"role": "assistant", "content": "Friday is free."},
]
CHECK_DAY = {
    "type": "function",
    "function": {"name": "check_day"},
    "server": {"url": "https://tools.example/x"},
}


async def test_a_few_shot_tool_exchange_is_accepted_and_reaches_the_context() -> None:
    spec = await parse(llm_config={"model": "m", "messages": FEW_SHOT}, tools=[CHECK_DAY])
    assert spec.assistant.instructions == "You book tables."
    assert spec.warnings == ()

    items = few_shot_context(spec.assistant.llm_config.messages).items
    assert [item.type for item in items] == [
        "message", "function_call", "function_call_output", "message"
    ]  # fmt: skip
    call, output = items[1], items[2]
    assert isinstance(call, llm.FunctionCall)
    assert (call.call_id, call.name, call.arguments) == ("call_1", "check_day", '{"day": "friday"}')
    assert isinstance(output, llm.FunctionCallOutput)
    assert (output.call_id, output.name, output.output) == ("call_1", "check_day", '{"free": true}')


async def test_a_few_shot_call_to_an_unknown_tool_warns() -> None:
    spec = await parse(llm_config={"model": "m", "messages": FEW_SHOT})
    assert spec.warnings == (
        "llm_config.messages.2: few-shot tool call 'check_day' is not one of the assistant's "
        "tools; the model may not see that exchange",
    )


@pytest.mark.parametrize(
    ("messages", "path", "fragment"),
    [
        ([{"role": "tool", "content": "x"}], "assistant.llm_config.messages.0", "tool_call_id"),
        ([{"role": "tool", "tool_call_id": "nope", "content": "x"}],
         "assistant.llm_config.messages", "no earlier assistant message"),
        ([{"role": "user", "content": None}], "assistant.llm_config.messages.0", "content"),
        ([{"role": "user", "content": "x", "tool_calls": []}], None, None),
        ([{"role": "user", "content": "x",
           "tool_calls": [{"id": "a", "function": {"name": "f"}}]}],
         "assistant.llm_config.messages.0", "assistant message"),
    ],
)  # fmt: skip
async def test_malformed_tool_messages_name_the_message(
    messages: list[dict[str, Any]], path: str | None, fragment: str | None
) -> None:
    if path is None:
        await parse(llm_config={"model": "m", "messages": messages})
        return
    found = await problems(llm_config={"model": "m", "messages": messages})
    assert fragment is not None
    assert fragment in found[path]


async def test_timezone_is_an_iana_name() -> None:
    assert (await parse(timezone="Europe/Amsterdam")).assistant.timezone == "Europe/Amsterdam"
    assert (await parse()).assistant.timezone == "UTC"
    for bad in ("Mars/Olympus", "../../etc/passwd", "CEST+2"):
        assert "unknown time zone" in (await problems(timezone=bad))["assistant.timezone"]


def test_voice_and_voice_id_are_one_field() -> None:
    config = AssistantConfig.model_validate(
        assistant(tts_config={"provider": "openai", "voice": "nova", "voice_id": "nova"})
    )
    assert config.tts_config.provider == "openai"
