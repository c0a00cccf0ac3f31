"""Properties of the parsers of tool answers and control packets: whatever the bytes, any JSON
and any nesting depth, each ends in its own error or a valid result, and a valid result can
be encoded into what the call sends next (the model's text, the report)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.contracts.control import InvalidCommand, parse_command
from agent.contracts.event_body import serialise
from agent.contracts.events import EndOfCallReport, Envelope
from agent.contracts.tool_answer import InvalidToolAnswer, parse_tool_response
from agent.report.build import report_messages
from agent.report.record import CallRecord
from tests.support.hostile_json import as_text, deep_texts, hostile_raw, json_values, texts

START = datetime(2026, 4, 19, 12, 0, tzinfo=UTC)
results = st.lists(
    st.one_of(
        st.fixed_dictionaries({"toolCallId": st.sampled_from(["a", "b"]), "result": json_values}),
        st.fixed_dictionaries({"id": texts, "error": json_values}),
        json_values,
    ),
    max_size=3,
)
answers = st.one_of(
    st.fixed_dictionaries({"results": results}).map(as_text),
    results.map(lambda r: '{"results": ' + as_text(r) + ', "results": []}'),  # ambiguous
    deep_texts.map(lambda t: '{"results": [{"toolCallId": "a", "result": ' + t + "}]}"),
    hostile_raw,
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(answers)
def test_a_tool_answer_is_our_error_or_results_that_encode(body: str | bytes) -> None:
    try:
        parsed = parse_tool_response(body)
    except InvalidToolAnswer as exc:
        assert exc.reason  # noqa: PT017 - it must say why
        return
    record = CallRecord(call_id="c")
    for i, result in enumerate(parsed.results):
        result.for_llm().encode("utf-8")  # what the model reads
        record.add_tool_call(f"t{i}", "f", {}, at=1.0)
        record.finish_tool_call(f"t{i}", result=result.result, error=result.error, at=2.0)
    report = EndOfCallReport.model_validate(
        {
            "call": {"id": "c", "type": "web_call"},
            "assistant": {},
            "end_reason": "user_hangup",
            "messages": [m.model_dump() for m in report_messages(record, START)],
        }
    )
    serialise(Envelope(message=report))  # strict: no fallback needed


commands = st.one_of(
    st.fixed_dictionaries(
        {"type": st.sampled_from(["say", "inject-context", "end-call", "transfer", "x"])},
        optional={
            "content": texts,
            "message": texts,
            "destination": st.sampled_from(["+31201234567", "sip:a@b", "nope"]),
            "end_after": json_values,
            "trigger_response": json_values,
        },
    ).map(as_text),
    json_values.map(as_text),
    hostile_raw,
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(commands)
def test_a_control_packet_is_our_error_or_a_command_that_encodes(data: str | bytes) -> None:
    try:
        command = parse_command(data)
    except InvalidCommand as exc:
        assert str(exc)  # noqa: PT017 - it must say why
        return
    json.dumps(command.model_dump(), ensure_ascii=False).encode("utf-8")
    assert command.type in ("say", "inject-context", "end-call", "transfer")


@settings(max_examples=30, deadline=None)
@given(deep_texts)
def test_any_nesting_depth_is_refused_cleanly(text: str) -> None:
    for parse, error in ((parse_tool_response, InvalidToolAnswer),
                         (parse_command, InvalidCommand)):  # fmt: skip
        try:
            parse(text)
        except error:
            continue
        except Exception as exc:  # pragma: no cover - what the property forbids
            raise AssertionError(f"{parse.__name__} raised {type(exc).__name__}") from exc
