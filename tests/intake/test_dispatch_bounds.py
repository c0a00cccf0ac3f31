"""The dispatch document is tenant input: bounded where it enters, refused naming the field,
and whatever it gets accepted with serialises into every report the call can send."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from agent.call.lifecycle.ending import CallEnd
from agent.contracts.end_reason import EndReason
from agent.contracts.event_body import serialise
from agent.contracts.events import Envelope, parse_envelope
from agent.errors import ConfigError
from agent.intake.dispatch import CallSpec, parse_dispatch
from agent.intake.report_target import salvage_report_target
from agent.report.build import build_report, config_error_report, crash_report
from agent.report.record import CallRecord

START = datetime(2026, 4, 19, 12, 0, tzinfo=UTC)


def hung_up() -> CallEnd:
    """The lifecycle's end record of a call the caller hung up 3 s in."""
    return CallEnd(
        reason=EndReason.USER_HANGUP, detail="CLIENT_INITIATED", agent_joined_at=START,
        started_at=START, ended_at=START + timedelta(seconds=3), caller_join_seconds=0.0,
        agent_joined_monotonic=0.0, started_monotonic=0.0,
        end_requested_monotonic=3.0, ended_monotonic=3.0, duration_seconds=3.0,
        hung_up="immediately", ignored_requests=(),
    )  # fmt: skip


BOOK = {"type": "object", "properties": {"day": {"type": "string"}}, "required": ["day"]}


def assistant(**fields: Any) -> dict[str, Any]:
    return {
        "stt_config": {"provider": "deepgram"},
        "llm_config": {"model": "gpt-4.1-mini"},
        "tts_config": {"provider": "elevenlabs", "voice_id": "v1"},
        "webhook_url": "https://hooks.example/calls",
    } | fields


def tool(name: str, parameters: Any) -> dict[str, Any]:
    return {"type": "function", "function": {"name": name, "parameters": parameters}}


def nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(depth - 1):
        value = {"n": value}
    return value


async def parse(raw: str | bytes | dict[str, Any]) -> CallSpec:
    return await parse_dispatch(raw, room_name="room-b")


async def refusal(raw: str | bytes | dict[str, Any]) -> dict[str, str]:
    with pytest.raises(ConfigError) as refused:
        await parse(raw)
    return {p.path: p.message for p in refused.value.problems}


def strict_body(report: Any) -> dict[str, Any]:
    """The report serialised without any fallback (serialise raises where to_delivery would
    clean or reduce): proof the accepted document needs none."""
    raw = serialise(Envelope(message=report))
    parse_envelope(raw)
    message: dict[str, Any] = json.loads(raw)["message"]
    return message


# ---- bounded where the document enters -------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "path", "message"),
    [
        ({"metadata": {"deep": nested(32)}}, "assistant.metadata",
         "nested 33 levels deep; the limit is 32"),
        ({"metadata": {"blob": "x" * 17_000}}, "assistant.metadata",
         "bytes as JSON; the limit is 16384"),
        ({"tools": [tool("a", BOOK), tool("b", BOOK), tool("c", {"type": "objekt"})]},
         "assistant.tools.2.function.parameters", "not a valid JSON Schema: $.type"),
        ({"tools": [tool("a", {"type": "object", "properties": {"x": {"minimum": "1"}}})]},
         "assistant.tools.0.function.parameters", "$.properties.x.minimum: '1' is not of type"),
        ({"tools": [tool("a", {"type": "object", "properties": {"x": nested(33)}})]},
         "assistant.tools.0.function.parameters", "nested 35 levels deep; the limit is 32"),
        ({"tools": [tool("a", {"type": "object", "$ref": "http://169.254.169.254/s"})]},
         "assistant.tools.0.function.parameters", "points outside the schema"),
        ({"tools": [tool("a", {"type": "string"})]},
         "assistant.tools.0.function.parameters", "`type` must be 'object'"),
        ({"analysis_plan": {"structured_data_plan": {"enabled": True, "schema": {"type": 5}}}},
         "assistant.analysis_plan.structured_data_plan.schema", "not a valid JSON Schema"),
        ({"llm_config": {"model": "m", "messages": [{"role": "user", "content": "hi"}] * 101}},
         "assistant.llm_config.messages", "at most 100 items"),
        ({"first_message": "x" * 2001}, "assistant.first_message", "at most 2000 characters"),
        ({"end_call_message": "x" * 2001}, "assistant.end_call_message", "at most 2000"),
        ({"tools": [tool("a", BOOK) | {"server": {"url": "https://t.example/x",
                                                  "headers": {"X-A": "a\r\nHost: evil"}}}]},
         "assistant.tools.0.server.headers", "holds a control character"),
        ({"tools": [tool("a", BOOK) | {"server": {"url": "https://t.example/x",
                                                  "headers": {"Bad Name": "v"}}}]},
         "assistant.tools.0.server.headers", "'Bad Name' is not an HTTP header name"),
    ],
)  # fmt: skip
async def test_bounds_are_config_errors_naming_the_field(
    fields: dict[str, Any], path: str, message: str
) -> None:
    found = await refusal(json.dumps({"assistant": assistant(**fields)}))
    assert path in found, found
    assert message in found[path]


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ('{"assistant": {}, "assistant": {"name": "x"}}', "duplicate key 'assistant'"),
        ('{"assistant": {"max_duration_seconds": 60, "max_duration_seconds": 43200}}',
         "duplicate key 'max_duration_seconds': the document is ambiguous"),
        (b'{"assistant": {"name": "\xc3"}}', "not UTF-8"),
        ("[" * 100_000, "nested more than 64 levels deep"),
        ('{"assistant": {"temperature": NaN}}', "NaN is not a JSON number"),
        ('{"call": {"answer_timeout_seconds": 1e999}}', "too large to be a float"),
        ('{"call": {"id": ' + "7" * 5000 + "}}", "4300 digits"),
    ],
)  # fmt: skip
async def test_unreadable_documents_are_config_errors(raw: str | bytes, message: str) -> None:
    found = await refusal(raw)
    assert any(message in m for m in found.values()), found


async def test_a_mapping_goes_through_the_same_reader() -> None:
    # A config-source plugin or a scenario file hands over parsed objects: same limits.
    not_json = {"assistant": assistant(metadata={"when": datetime(2026, 1, 1, tzinfo=UTC)})}
    assert "not plain JSON" in " ".join((await refusal(not_json)).values())
    too_deep = {"assistant": assistant(metadata=nested(70))}
    assert "nested more than 64 levels deep" in " ".join((await refusal(too_deep)).values())
    spec = await parse({"assistant": assistant(metadata={"k\ud83d": "v\udc00"})})
    assert spec.assistant.metadata == {"k\ufffd": "v\ufffd"}


# ---- what is accepted serialises into every report --------------------------------------------


async def test_lone_surrogates_anywhere_are_replaced_and_every_report_serialises() -> None:
    # What a browser sends when it cuts an emoji in half: \ud83d with no partner.
    raw = json.dumps(
        {
            "call": {"id": "call-\ud83d", "type": "web_call", "customer": {"name": "Ann\udc00"}},
            "assistant": assistant(
                name="Desk \ud83d",
                first_message="Hello \ud83d",
                metadata={"UserID\ud83d": ["u-7\udc00", {"note": "\ud83d\ude00 ok"}]},
                tools=[tool("book", BOOK | {"description": "day \ud83d"})],
            ),
        }
    )
    assert "\\ud83d" in raw  # the escapes really are in the document
    spec = await parse(raw)
    assert spec.call_id == "call-\ufffd"
    assert spec.assistant.metadata == {"UserID\ufffd": ["u-7\ufffd", {"note": "😀 ok"}]}
    assert spec.assistant.first_message == "Hello \ufffd"

    record = CallRecord(call_id=spec.call_id)
    for report in (
        build_report(record, hung_up(), spec),
        crash_report(spec, started_at=START, detail="job_process_died"),
    ):
        body = strict_body(report)
        assert body["call"]["id"] == "call-\ufffd"
        assert body["assistant"]["metadata"] == {"UserID\ufffd": ["u-7\ufffd", {"note": "😀 ok"}]}


async def test_the_config_error_path_is_held_to_the_same_bounds() -> None:
    doc = {
        "call": {"id": "c-\ud83d", "type": "web_call"},
        "assistant": assistant(
            name="n" * 300,  # over the name's limit: left out rather than echoed
            metadata={"deep": nested(40)},  # over the metadata bound: not echoed
            tts_config={"provider": "polly"},
        ),
    }
    raw = json.dumps(doc)
    with pytest.raises(ConfigError) as refused:
        await parse(raw)
    target = salvage_report_target(raw, room_name="room-b")
    assert (target.call_id, target.assistant_name, target.metadata) == ("c-\ufffd", None, {})
    assert target.webhook_url == "https://hooks.example/calls"
    body = strict_body(config_error_report(target, refused.value))
    assert "assistant.metadata: nested 41 levels deep" in body["end_detail"]

    # A key given twice is never guessed: the ambiguous webhook_url is not used at all.
    twice = (
        '{"assistant": {"webhook_url": "https://a.example/", "webhook_url": "https://b.example/"}}'
    )
    assert salvage_report_target(twice, room_name="room-b").webhook_url is None
    # Nested past what can be read: nothing salvaged, still a report (to no webhook).
    hopeless = salvage_report_target("[" * 100_000, room_name="room-b")
    assert (hopeless.call_id, hopeless.webhook_url) == ("room-b", None)


def test_a_config_error_listing_thousands_of_problems_stays_bounded() -> None:
    target = salvage_report_target("{}", room_name="room-b")
    error = ConfigError([*(ConfigError(f"problem {i}", path=f"f{i}").problems[0]
                           for i in range(2000))])  # fmt: skip
    body = strict_body(config_error_report(target, error))
    assert len(body["end_detail"]) <= 4000
    assert body["end_detail"].endswith("(2000 problems in all)")
