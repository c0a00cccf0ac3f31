"""Variables in prompts, filled at call start (issue 12, points 8 and 9).

Time comes from an injected wall clock, so the date and time around a daylight-saving change
are exact. The spoken side (a filled greeting heard by the caller, the warnings in the report)
is in tests/simulator/test_dropin_calls.py.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from agent.intake.dispatch import CallSpec, parse_dispatch
from agent.intake.variables import fill_variables

PROMPT = (
    "You answer for {{business_name}}. Caller {{ customer.number }}, user {{metadata.UserID}}, "
    "plan {{metadata.account.plan}}, tags {{metadata.tags}}. Today is {{weekday}} {{date}}, "
    "{{time}} ({{timezone}}); now {{now}}."
)


async def spec_of(call: dict[str, Any] | None = None, **assistant: Any) -> CallSpec:
    doc: dict[str, Any] = {
        "assistant": {
            "business_name": "Acme Corp",
            "timezone": "Europe/Amsterdam",
            "metadata": {"UserID": "usr_8f3a2b1c", "account": {"plan": "pro"}, "tags": ["a"]},
            "stt_config": {"provider": "deepgram"},
            "llm_config": {"model": "m", "messages": [{"role": "system", "content": PROMPT}]},
            "tts_config": {"provider": "openai"},
        }
        | assistant
    }
    if call is not None:
        doc["call"] = call
    return await parse_dispatch(doc, room_name="room-1")


def at(iso: str) -> Callable[[], datetime]:
    return lambda: datetime.fromisoformat(iso).astimezone(UTC)


@pytest.mark.parametrize(
    ("utc", "local"),
    [
        # Amsterdam leaves CET (+01:00) for CEST (+02:00) at 02:00 local on 29 March 2026.
        ("2026-03-29T00:30:00+00:00", "Sunday 2026-03-29, 01:30 (Europe/Amsterdam); now "
                                      "2026-03-29T01:30:00+01:00."),
        ("2026-03-29T01:30:00+00:00", "Sunday 2026-03-29, 03:30 (Europe/Amsterdam); now "
                                      "2026-03-29T03:30:00+02:00."),
        ("2026-03-28T23:30:00+00:00", "Sunday 2026-03-29, 00:30 (Europe/Amsterdam); now "
                                      "2026-03-29T00:30:00+01:00."),
    ],
)  # fmt: skip
async def test_call_facts_and_local_time_fill_the_system_prompt(utc: str, local: str) -> None:
    spec = await spec_of({"type": "inbound_phone_call"})
    filled = fill_variables(spec, caller_number="+31612345678", now=at(utc))
    assert filled.assistant.instructions == (
        "You answer for Acme Corp. Caller +31612345678, user usr_8f3a2b1c, plan pro, "
        f'tags ["a"]. Today is {local}'
    )
    assert filled.warnings == ()


async def test_every_spoken_text_is_filled_but_few_shot_turns_are_not() -> None:
    spec = await spec_of(
        {"customer": {"name": "Jan"}},
        first_message="Welcome to {{business_name}}!",
        end_call_message="Bye from {{business_name}}.",
        max_duration_message="{{business_name}}: time is up.",
        error_message="{{business_name}} has trouble.",
        autonomous_silence_handling={"prompts": ["Still there, {{customer.name}}?"],
                                     "final_message": "{{business_name}} hangs up."},
        voicemail_detection={"enabled": True, "voicemail_message": "Call {{business_name}}."},
        tools=[{"type": "transfer_call",
                "destinations": [{"number": "+31201234567", "message": "To {{business_name}}."}]}],
        llm_config={"model": "m", "messages": [
            {"role": "system", "content": "For {{business_name}}."},
            {"role": "user", "content": "Is this {{business_name}}?"},
        ]},
    )  # fmt: skip
    a = fill_variables(spec, now=at("2026-01-05T09:00:00+00:00")).assistant
    assert a.first_message == "Welcome to Acme Corp!"
    assert a.end_call_message == "Bye from Acme Corp."
    assert a.max_duration_message == "Acme Corp: time is up."
    assert a.error_message == "Acme Corp has trouble."
    assert a.autonomous_silence_handling.prompts == ["Still there, Jan?"]
    assert a.autonomous_silence_handling.final_message == "Acme Corp hangs up."
    assert a.voicemail_detection.voicemail_message == "Call Acme Corp."
    assert a.tools[0].model_dump()["destinations"][0]["message"] == "To Acme Corp."
    assert a.instructions == "For Acme Corp."
    assert a.llm_config.messages[1].content == "Is this {{business_name}}?"  # an example turn


async def test_unknown_or_empty_variables_are_left_as_written_and_warned_once() -> None:
    spec = await spec_of(
        business_name=None,
        first_message="Hi {{foo}} and {{foo}}, {{business_name}}, {{metadata.missing}}",
    )
    filled = fill_variables(spec, now=at("2026-01-05T09:00:00+00:00"))
    assert filled.assistant.first_message == (
        "Hi {{foo}} and {{foo}}, {{business_name}}, {{metadata.missing}}"
    )
    assert not filled.greeting_personalised
    assert filled.warnings == (
        "variable {{foo}} is unknown; left as written",
        "variable {{business_name}} has no value on this call; left as written",
        "variable {{metadata.missing}} is not in the assistant's metadata; left as written",
        # the system prompt's {{customer.number}}: a web call without customer
        "variable {{customer.number}} has no value on this call; left as written",
    )


async def test_the_customer_number_comes_from_the_document_the_room_or_the_destination() -> None:
    when = at("2026-01-05T09:00:00+00:00")
    greeting = {"first_message": "Calling {{customer.number}}"}
    sent = await spec_of({"customer": {"number": "+31600000001"}}, **greeting)
    assert fill_variables(sent, caller_number="+31699999999", now=when).assistant.first_message \
        == "Calling +31600000001"  # fmt: skip
    inbound = await spec_of({"type": "inbound_phone_call"}, **greeting)
    filled = fill_variables(inbound, caller_number="+31612345678", now=when)
    assert filled.assistant.first_message == "Calling +31612345678"
    assert filled.greeting_personalised  # a per-caller greeting: never cached
    outbound = await spec_of(
        {"type": "outbound_phone_call", "destination": "+31611111111", "sip_trunk_id": "ST"},
        **greeting,
    )
    assert fill_variables(outbound, now=when).assistant.first_message == "Calling +31611111111"


async def test_metadata_keys_keep_their_casing_and_may_contain_dots() -> None:
    spec = await spec_of(
        metadata={"UserID": "upper", "userid": "lower", "a.b": "dotted", "a": {"b": "nested"}},
        first_message="{{metadata.UserID}} {{metadata.userid}} {{metadata.a.b}}",
    )
    filled = fill_variables(spec, now=at("2026-01-05T09:00:00+00:00"))
    assert filled.assistant.first_message == "upper lower dotted"
