"""The outgoing wire format: envelope, union round trip, metadata casing, seq, filtering."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from agent.contracts.assistant import AssistantConfig
from agent.contracts.end_reason import EndReason
from agent.contracts.event_body import UnsendableEvent, serialise, to_delivery
from agent.contracts.events import (
    EndOfCallReport,
    Envelope,
    EventMessage,
    ReportMessage,
    ToolCall,
    events_schema,
    parse_envelope,
)
from agent.contracts.tool_answer import InvalidToolAnswer, parse_tool_response
from agent.delivery.call_events import CallEvents
from agent.delivery.jsonl import JsonlSink
from agent.delivery.outbox import Outbox
from agent.delivery.target_policy import TargetPolicy
from agent.delivery.webhook import WebhookSink
from agent.intake.dispatch import CallSpec
from agent.intake.document import CallInfo, CallType
from tests.support.receiver import SECRET, Receiver

METADATA: dict[str, Any] = {
    "UserID": "usr_1",
    "user_id": "usr_2",
    "camelCase": {"nestedKey": None, "Other_Key": [1, "Two"]},
}
ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def make_spec(**assistant: Any) -> CallSpec:
    config = {
        "name": "Front desk",
        "stt_config": {"provider": "deepgram"},
        "llm_config": {"model": "gpt-4.1-mini"},
        "tts_config": {"provider": "elevenlabs", "voice_id": "v1"},
        "webhook_url": "https://backend.example/hooks",
        "metadata": METADATA,
    } | assistant
    return CallSpec(
        call=CallInfo(id="call-1", type=CallType.WEB),
        assistant=AssistantConfig.model_validate(config),
        room_name="room-1",
        origin="dispatch",
    )


class Collected:
    """A real sink (JSON Lines in tmp_path), read back for assertions."""

    def __init__(self, path: Path) -> None:
        self.sink = JsonlSink(path)
        self.path = path

    def lines(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text().splitlines()]


@pytest.fixture
async def collected(tmp_path: Path) -> AsyncIterator[Collected]:
    c = Collected(tmp_path / "events.jsonl")
    yield c
    await c.sink.aclose()


def every_event(events: CallEvents) -> list[EventMessage]:
    return [
        events.status_update("in-progress"),
        events.transcript("user", "Hallo, één tafel graag", 1.25, 2.5),
        events.tool_calls([ToolCall(id="tc1", name="book_table", arguments={"day": "fri"})]),
        EndOfCallReport(
            call=events.call, assistant=events.assistant, end_reason=EndReason.USER_HANGUP
        ),
    ]


@pytest.mark.parametrize("index", range(4))
async def test_every_event_type_round_trips_through_its_bytes(
    collected: Collected, index: int
) -> None:
    events = CallEvents.for_call(make_spec(), collected.sink)
    event = every_event(events)[index]
    delivery = events.delivery_for(event)

    parsed = parse_envelope(delivery.body).message
    assert type(parsed) is type(event)
    assert parsed.type == delivery.event_type == event.type
    assert parsed.seq == delivery.seq == 1
    # compact, UTF-8 (no \u escapes), and exactly what the model produces
    text = delivery.body.decode("utf-8")
    assert text == json.dumps(json.loads(text), separators=(",", ":"), ensure_ascii=False)
    assert parse_envelope(delivery.body).model_dump_json().encode() == delivery.body


async def test_envelope_has_the_seed_shape(collected: Collected) -> None:
    events = CallEvents.for_call(make_spec(), collected.sink)
    body = json.loads(events.delivery_for(events.status_update("in-progress")).body)

    message = body["message"]
    assert list(body) == ["message"]
    assert message["type"] == "status-update"
    assert message["status"] == "in-progress"
    assert message["call"] == {"id": "call-1", "type": "web_call", "status": "in-progress"}
    assert message["assistant"] == {"name": "Front desk", "metadata": METADATA}
    assert ISO_MS.match(message["timestamp"]), message["timestamp"]


async def test_metadata_key_casing_is_kept_in_every_event(collected: Collected) -> None:
    events = CallEvents.for_call(make_spec(), collected.sink)
    for event in every_event(events):
        raw = events.delivery_for(event).body.decode()
        assert json.loads(raw)["message"]["assistant"]["metadata"] == METADATA
        assert '"UserID":"usr_1"' in raw
        assert '"user_id":"usr_2"' in raw
        assert '"nestedKey":null' in raw


async def test_tool_calls_use_the_tool_call_list_name(collected: Collected) -> None:
    events = CallEvents.for_call(make_spec(), collected.sink)
    body = json.loads(events.delivery_for(every_event(events)[2]).body)
    assert body["message"]["toolCallList"] == [
        {"id": "tc1", "name": "book_table", "arguments": {"day": "fri"}}
    ]


async def test_to_delivery_gives_a_fresh_uuid4_unless_told(collected: Collected) -> None:
    events = CallEvents.for_call(make_spec(), collected.sink)
    event = events.status_update("ended")
    first = to_delivery(event, url="https://a.example/x", secret="s")
    second = to_delivery(event, url=None, secret=None)
    fixed = to_delivery(event, url=None, secret=None, delivery_id="replay-7")

    assert first.delivery_id != second.delivery_id
    assert uuid.UUID(first.delivery_id).version == 4
    assert fixed.delivery_id == "replay-7"
    assert (first.call_id, first.event_type, first.url, first.secret) == (
        "call-1",
        "status-update",
        "https://a.example/x",
        "s",
    )
    assert first.body == second.body


async def test_seq_counts_per_call_in_emission_order(collected: Collected) -> None:
    a = CallEvents.for_call(make_spec(), collected.sink)
    b_spec = make_spec()
    b_spec = CallSpec(
        b_spec.call.model_copy(update={"id": "call-2"}), b_spec.assistant, "r2", "dispatch"
    )
    b = CallEvents.for_call(b_spec, collected.sink)
    for i in range(5):
        a.emit(a.transcript("user", f"a{i}", None, None))
        b.emit(b.transcript("assistant", f"b{i}", None, None))
    await a.drain()
    await b.drain()

    lines = collected.lines()
    for call_id, prefix in (("call-1", "a"), ("call-2", "b")):
        mine = [line for line in lines if line["call_id"] == call_id]
        assert [line["seq"] for line in mine] == [1, 2, 3, 4, 5]
        assert [line["event"]["message"]["transcript"] for line in mine] == [
            f"{prefix}{i}" for i in range(5)
        ]


async def test_only_listed_event_types_go_out_and_seq_has_no_gaps(collected: Collected) -> None:
    spec = make_spec(webhook_events=["status-update", "end-of-call-report"])
    events = CallEvents.for_call(spec, collected.sink)
    sent = [events.emit(e) for e in every_event(events)]
    await events.drain()

    assert [d is not None for d in sent] == [True, False, False, True]
    lines = collected.lines()
    assert [(line["event_type"], line["seq"]) for line in lines] == [
        ("status-update", 1),
        ("end-of-call-report", 2),
    ]


async def test_all_event_types_go_out_by_default(collected: Collected) -> None:
    events = CallEvents.for_call(make_spec(), collected.sink)
    for event in every_event(events):
        events.emit(event)
    await events.drain()
    assert [line["event_type"] for line in collected.lines()] == [
        "status-update",
        "transcript",
        "tool-calls",
        "end-of-call-report",
    ]


async def test_call_status_follows_the_status_updates(collected: Collected) -> None:
    events = CallEvents.for_call(make_spec(), collected.sink)
    forwarding = events.delivery_for(events.status_update("forwarding", "+31201234567"))
    during = events.delivery_for(events.transcript("assistant", "Transferring you.", 3.0, 4.0))
    report = events.delivery_for(every_event(events)[3])

    assert json.loads(forwarding.body)["message"]["destination"] == "+31201234567"
    assert json.loads(during.body)["message"]["call"]["status"] == "forwarding"
    assert json.loads(report.body)["message"]["call"]["status"] == "ended"


async def test_gdpr_mode_redacts_transcript_events(collected: Collected) -> None:
    events = CallEvents.for_call(make_spec(gdpr_mode=True), collected.sink)
    body = events.delivery_for(events.transcript("user", "mail jan@example.com", 0, 1)).body
    assert b"jan@example.com" not in body
    assert json.loads(body)["message"]["transcript"] == "mail [EMAIL]"


async def test_emitted_events_arrive_signed_at_a_real_receiver(tmp_path: Path) -> None:
    receiver = Receiver()
    await receiver.start()
    sink = WebhookSink(TargetPolicy.loopback_allowed(), Outbox(tmp_path / "outbox"))
    try:
        spec = make_spec(webhook_url=receiver.url("/hooks"), webhook_secret=SECRET)
        events = CallEvents.for_call(spec, sink)
        for event in every_event(events):
            events.emit(event)
        await events.drain()
        await sink.flush("call-1", timeout=10)
    finally:
        await sink.aclose(timeout=10)
        await receiver.stop()

    got = receiver.at("/hooks")
    assert [r.headers["X-Webhook-Event"] for r in got] == [
        "status-update",
        "transcript",
        "tool-calls",
        "end-of-call-report",
    ]
    assert all(r.signature_ok for r in got)
    assert [json.loads(r.body)["message"]["seq"] for r in got] == [1, 2, 3, 4]
    assert all(json.loads(r.body)["message"]["assistant"]["metadata"] == METADATA for r in got)


async def test_every_body_validates_against_the_exported_schema(collected: Collected) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    schema = events_schema()
    events = CallEvents.for_call(make_spec(), collected.sink)
    for event in every_event(events):
        jsonschema.validate(json.loads(events.delivery_for(event).body), schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"message": {"type": "status-update", "status": "paused"}}, schema)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'{"results":[{"toolCallId":"a","result":"Booked"}]}', [("a", "Booked", None)]),
        (b'{"results":[{"tool_call_id":"a","result":{"ok":true}}]}', [("a", {"ok": True}, None)]),
        (b'{"results":[{"id":"a","error":{"code":42}}]}', [("a", None, '{"code": 42}')]),
        (b'{"results":[{"toolCallId":"a","error":"x"},"junk",{"result":1}]}', [("a", None, "x")]),
        (b'{"results":[{"toolCallId":"a","result":1,"extra":"ignored"}]}', [("a", 1, None)]),
        (b'{"ok":true}', []),
        (b"[1,2]", []),
        (b'{"results":"nope"}', []),
    ],
)  # fmt: skip
def test_tool_server_responses_are_parsed_tolerantly(
    body: bytes, expected: list[tuple[str, Any, str | None]]
) -> None:
    parsed = parse_tool_response(body)
    assert [(r.tool_call_id, r.result, r.error) for r in parsed.results] == expected


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"not json", "not valid JSON"),
        (b'{"results":[{"toolCallId":"a","result":1,"result":2}]}', "duplicate key 'result'"),
        (b'{"results":[],"results":[{"toolCallId":"a","result":1}]}', "duplicate key 'results'"),
        (b"[" * 100_000, "nested more than 64 levels deep"),
        (b'{"results":[{"toolCallId":"a","result":' + b"[" * 70 + b"]" * 70 + b"}]}",
         "nested more than 64 levels deep"),
        (b'{"results":[{"toolCallId":"a","result":NaN}]}', "NaN is not a JSON number"),
        (b'{"results":[{"toolCallId":"a","result":1e999}]}', "too large to be a float"),
        (b'{"results":[{"toolCallId":"a","result":' + b"9" * 5000 + b"}]}", "4300 digits"),
        (b'{"results":[{"toolCallId":"a","result":"\xff"}]}', "not UTF-8"),
        (b"\xff\xfe{\x00}\x00", "not UTF-8"),  # UTF-16, which json.loads would have guessed
        (b" " * (256 * 1024 + 1), "bytes; the limit is 262144"),
    ],
)  # fmt: skip
def test_unreadable_tool_answers_are_refused_with_our_own_error(body: bytes, reason: str) -> None:
    with pytest.raises(InvalidToolAnswer) as refused:
        parse_tool_response(body)
    assert reason in str(refused.value)


def test_a_lone_surrogate_in_a_tool_answer_becomes_the_replacement_character() -> None:
    parsed = parse_tool_response(
        b'{"results":[{"toolCallId":"a","result":{"k\\ud83d":"x\\udc00y"}}]}'
    )
    (result,) = parsed.results
    assert result.result == {"k\ufffd": "x\ufffdy"}


def test_tool_results_read_as_text_for_the_llm() -> None:
    parsed = parse_tool_response(b'{"results":[{"toolCallId":"a","result":{"ok":true}},'
                                 b'{"toolCallId":"b","error":"closed"}]}')  # fmt: skip
    a, b = parsed.result_for("a"), parsed.result_for("b")
    assert a is not None
    assert b is not None
    assert a.for_llm() == '{"ok": true}'
    assert b.for_llm() == "error: closed"
    assert parsed.result_for("c") is None


# ---- a report always serialises: cleaned, else reduced ---------------------------------------


class Unprintable:
    """A value nothing can encode: not JSON, and even its text raises."""

    def __str__(self) -> str:
        raise RuntimeError("no text either")


def report_with(**fields: Any) -> EndOfCallReport:
    events = CallEvents.for_call(make_spec(), JsonlSink(Path("/dev/null")))
    return EndOfCallReport(
        call=events.call,
        assistant=events.assistant,
        end_reason=EndReason.ERROR,
        end_detail="llm: APIError",
        duration_seconds=12,
        duration_ms=12_345,
        **fields,
    )


def test_a_value_that_slipped_past_the_boundaries_is_cleaned_not_fatal() -> None:
    report = report_with(
        transcript="User: I want \ud83d",
        messages=[ReportMessage(role="tool", message="ok", result={"k\udc00": "v\ud83d"})],
    )
    with pytest.raises(ValueError, match="surrogates not allowed"):
        serialise(Envelope(message=report))  # what would have cost the report before
    sent = parse_envelope(to_delivery(report, url=None, secret=None).body).message
    assert isinstance(sent, EndOfCallReport)
    assert sent.transcript == "User: I want \ufffd"
    assert sent.messages[0].result == {"k\ufffd": "v\ufffd"}
    assert sent.assistant.metadata == METADATA
    assert ISO_MS.match(json.loads(to_delivery(report, url=None, secret=None).body)["message"]
                        ["timestamp"])  # fmt: skip


def test_a_report_that_cannot_be_encoded_at_all_goes_out_reduced() -> None:
    report = report_with(
        transcript="a long call",
        messages=[ReportMessage(role="tool", message="x", result=[Unprintable()])],
    )
    delivery = to_delivery(report, url="https://backend.example/hooks", secret="s")
    sent = parse_envelope(delivery.body).message
    assert isinstance(sent, EndOfCallReport)
    assert (sent.call.id, sent.end_reason, sent.duration_ms) == ("call-1", "error", 12_345)
    assert sent.end_detail == (
        "llm: APIError [report reduced: a value could not be encoded as JSON "
        "(PydanticSerializationError)]"
    )
    assert sent.assistant.metadata == METADATA  # the backend's ids survive
    assert sent.messages == []
    assert sent.transcript == ""
    assert delivery.event_type == "end-of-call-report"


def test_a_tool_call_that_cannot_be_encoded_is_never_sent_without_its_arguments() -> None:
    events = CallEvents.for_call(make_spec(), JsonlSink(Path("/dev/null")))
    event = events.tool_calls([ToolCall(id="t", name="f", arguments={"x": Unprintable()})])
    with pytest.raises(UnsendableEvent):
        events.delivery_for(event)
