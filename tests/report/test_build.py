"""The end-of-call report: a synthetic call, CallMissed turns, gdpr, crash and config_error."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest

from agent.call.lifecycle.ending import CallEnd
from agent.call.lifecycle.parties import Attendance
from agent.contracts.assistant import AssistantConfig
from agent.contracts.end_reason import EndReason
from agent.contracts.event_body import to_delivery
from agent.contracts.events import Analysis, AnalysisPart, AnalysisParts, parse_envelope
from agent.errors import ConfigError, ConfigProblem
from agent.intake.dispatch import CallSpec, parse_dispatch
from agent.intake.document import CallInfo, CallType
from agent.intake.report_target import ReportTarget, salvage_report_target
from agent.report.build import (
    build_call_report,
    build_report,
    config_error_report,
    crash_report,
)
from agent.report.record import CallRecord, InterruptionEntry

START = datetime(2026, 4, 19, 12, 0, 0, tzinfo=UTC)
T0 = START.timestamp()
METADATA = {"UserID": "usr_1", "user_id": "usr_2", "camelCase": True, "phone": "+31612345678"}


def make_spec(*, gdpr: bool = False, call_type: CallType = CallType.INBOUND_PHONE) -> CallSpec:
    assistant = AssistantConfig.model_validate(
        {
            "name": "Front desk",
            "stt_config": {"provider": "deepgram"},
            "llm_config": {"model": "gpt-4.1-mini"},
            "tts_config": {"provider": "elevenlabs", "voice_id": "v1"},
            "metadata": METADATA,
            "gdpr_mode": gdpr,
        }
    )
    call = CallInfo.model_validate(
        {"id": "call-9", "type": call_type, "customer": {"number": "+31612345678"}}
    )
    return CallSpec(call=call, assistant=assistant, room_name="room-9", origin="dispatch")


def ended(
    reason: EndReason, detail: str | None, seconds: float, started_at: datetime = START
) -> CallEnd:
    """The lifecycle's end record of a call answered at ``started_at`` (the agent there 1.5 s
    earlier) that lasted ``seconds`` from the answer."""
    return CallEnd(
        reason=reason,
        detail=detail,
        agent_joined_at=started_at - timedelta(seconds=1.5),
        started_at=started_at,
        ended_at=started_at + timedelta(seconds=seconds),
        caller_join_seconds=1.5,
        agent_joined_monotonic=-1.5,
        started_monotonic=0.0,
        end_requested_monotonic=seconds,
        ended_monotonic=seconds,
        duration_seconds=seconds,
        hung_up="immediately",
        ignored_requests=(),
        participants=(
            Attendance(
                identity="sip_+31612345678",
                kind="sip",
                role="caller",
                joined_at=started_at - timedelta(seconds=0.5),
                left_at=started_at + timedelta(seconds=seconds),
                disconnect_reason="CLIENT_INITIATED",
            ),
            Attendance(
                identity="supervisor-7",
                kind="standard",
                role="observer",
                joined_at=started_at + timedelta(seconds=10),
                left_at=None,
                disconnect_reason=None,
            ),
        ),
    )


HUNG_UP = ended(EndReason.USER_HANGUP, None, 47.4)
"""How the synthetic call ended: the caller hung up 47.4 s in."""


def synthetic_call() -> CallRecord:
    """Greeting, a question answered with a tool call, an interrupted reply; it ends HUNG_UP."""
    r = CallRecord(call_id="call-9", llm_model="gpt-4.1-mini")
    r.set_numbers(caller="+31612345678", called="+31201234567")
    r.add_message(
        "assistant",
        "Good evening, Bistro Jansen.",
        T0 + 0.4,
        T0 + 2.0,
        metrics={"tts_ttfb_ms": 95.0},
    )
    r.add_message(
        "user",
        "Table for two on Friday, mail jan@example.com",
        T0 + 3.0,
        T0 + 5.0,
        metrics={
            "stt_ms": 200.0,
            "end_of_turn_ms": 350.0,
            "end_of_turn_rule": "number",
            "end_of_turn_wait_ms": 1200.0,
        },
    )
    r.add_message(
        "assistant",
        "One moment.",
        T0 + 5.8,
        T0 + 6.5,
        metrics={
            "llm_ttft_ms": 300.0,
            "tts_ttfb_ms": 110.0,
            "e2e_ms": 800.0,
            "llm_model": "gpt-4.1-mini",
        },
    )
    r.add_tool_call("tc1", "book_table", {"day": "friday", "phone": "+31612345678"}, at=T0 + 6.0)
    r.finish_tool_call("tc1", result={"booked": True}, tool_ms=400.0, at=T0 + 6.4)
    r.add_message(
        "assistant", "Booked for Friday. Anything else?", T0 + 7.0, T0 + 8.0, interrupted=True
    )
    # "uh-huh" over the booking line, then the caller cutting the agent off
    r.add_interruption(InterruptionEntry(T0 + 7.2, "backchannel", words=1))
    r.add_interruption(InterruptionEntry(T0 + 7.7, "stopped", words=2, quiet_at=T0 + 8.0))
    r.add_message(
        "user",
        "No, my card is 4111 1111 1111 1111, bye",
        T0 + 8.2,
        T0 + 10.0,
        metrics={"stt_ms": 100.0, "end_of_turn_ms": 250.0},
    )
    r.add_message(
        "assistant",
        "Goodbye!",
        T0 + 10.6,
        T0 + 11.4,
        metrics={"llm_ttft_ms": 200.0, "tts_ttfb_ms": 90.0, "e2e_ms": 600.0},
    )
    r.add_control("say", "spoken", at=T0 + 9.0)
    r.add_usage("llm", "openai", "gpt-4.1-mini", prompt_tokens=1200, completion_tokens=80)
    r.add_usage("stt", "deepgram", "nova-3", audio_seconds=47.25)
    return r  # fmt: skip


def analysis() -> Analysis:
    ok = AnalysisPart(status="ok")
    return Analysis(
        summary="Jansen (jan@example.com) booked a table for Friday.",
        structured_data={"party_size": 2, "contact": "call +31 6 1234 5678"},
        success_evaluation=True,
        parts=AnalysisParts(summary=ok, structured_data=ok, success_evaluation=ok),
    )


def body_of(report: Any) -> dict[str, Any]:
    delivery = to_delivery(report, url=None, secret=None)
    # the bytes parse back to the same bytes (timestamps are sent to the millisecond)
    assert parse_envelope(delivery.body).model_dump_json().encode() == delivery.body
    message: dict[str, Any] = json.loads(delivery.body)["message"]
    return message


def test_report_of_a_synthetic_call_has_every_field() -> None:
    report = body_of(build_report(synthetic_call(), HUNG_UP, make_spec(), analysis()))

    assert report["type"] == "end-of-call-report"
    assert report["call"] == {"id": "call-9", "type": "inbound_phone_call", "status": "ended"}
    assert report["assistant"] == {"name": "Front desk", "metadata": METADATA}
    assert (report["end_reason"], report["end_detail"]) == ("user_hangup", None)
    assert (report["started_at"], report["ended_at"]) == (
        "2026-04-19T12:00:00.000Z",
        "2026-04-19T12:00:47.400Z",
    )
    assert (report["duration_seconds"], report["duration_ms"]) == (47, 47400)
    assert (report["agent_joined_at"], report["caller_join_seconds"]) == (
        "2026-04-19T11:59:58.500Z",
        1.5,
    )
    assert report["participants"] == [
        {"identity": "sip_+31612345678", "kind": "sip", "role": "caller",
         "joined_at": "2026-04-19T11:59:59.500Z", "left_at": "2026-04-19T12:00:47.400Z",
         "disconnect_reason": "CLIENT_INITIATED"},
        {"identity": "supervisor-7", "kind": "standard", "role": "observer",
         "joined_at": "2026-04-19T12:00:10.000Z", "left_at": None, "disconnect_reason": None},
    ]  # fmt: skip
    assert report["summary"] == "Jansen (jan@example.com) booked a table for Friday."
    assert report["analysis"]["success_evaluation"] is True
    assert report["analysis"]["parts"]["summary"] == {"status": "ok", "error": None}
    assert report["transcript"] == (
        "AI: Good evening, Bistro Jansen.\n"
        "User: Table for two on Friday, mail jan@example.com\n"
        "AI: One moment.\n"
        "AI: Booked for Friday. Anything else?\n"
        "User: No, my card is 4111 1111 1111 1111, bye\n"
        "AI: Goodbye!"
    )
    assert report["customer"] == {"number": "+31612345678", "name": None}
    assert report["destination"] == "+31201234567"
    assert report["control"] == [{"command": "say", "outcome": "spoken", "at_seconds": 9.0}]
    assert report["usage"] == [
        {"kind": "llm", "provider": "openai", "model": "gpt-4.1-mini", "prompt_tokens": 1200,
         "completion_tokens": 80, "characters": 0, "audio_seconds": 0.0},
        {"kind": "stt", "provider": "deepgram", "model": "nova-3", "prompt_tokens": 0,
         "completion_tokens": 0, "characters": 0, "audio_seconds": 47.25},
    ]  # fmt: skip


def test_messages_carry_roles_offsets_tool_calls_and_results() -> None:
    messages = body_of(build_report(synthetic_call(), HUNG_UP, make_spec()))["messages"]

    assert [(m["role"], m["message"]) for m in messages] == [
        ("assistant", "Good evening, Bistro Jansen."),
        ("user", "Table for two on Friday, mail jan@example.com"),
        ("assistant", "One moment."),
        ("assistant", ""),
        ("tool", '{"booked": true}'),
        ("assistant", "Booked for Friday. Anything else?"),
        ("user", "No, my card is 4111 1111 1111 1111, bye"),
        ("assistant", "Goodbye!"),
    ]
    greeting, user, _, call, result, interrupted, *_ = messages
    assert (greeting["start_seconds"], greeting["end_seconds"]) == (0.4, 2.0)
    assert (user["start_seconds"], user["end_seconds"]) == (3.0, 5.0)
    assert call["tool_calls"] == [
        {"id": "tc1", "name": "book_table", "arguments": {"day": "friday", "phone": "+31612345678"}}
    ]
    assert call["start_seconds"] == 6.0
    assert {k: result[k] for k in ("tool_call_id", "name", "result", "error", "tool_ms")} == {
        "tool_call_id": "tc1",
        "name": "book_table",
        "result": {"booked": True},
        "error": None,
        "tool_ms": 400.0,
    }
    assert interrupted["interrupted"] is True
    assert not user["interrupted"]


def test_metrics_have_turns_and_percentiles() -> None:
    metrics = body_of(build_report(synthetic_call(), HUNG_UP, make_spec()))["metrics"]

    assert [t["turn_index"] for t in metrics["turns"]] == [0, 1, 2]
    assert metrics["turns"][1] == {
        "turn_index": 1, "stt_ms": 200.0, "end_of_turn_ms": 350.0,
        "end_of_turn_rule": "number", "end_of_turn_wait_ms": 1200.0, "llm_ttft_ms": 300.0,
        "tts_ttfb_ms": 110.0, "e2e_ms": 800.0, "tool_ms": 400.0, "interrupted": True,
    }  # fmt: skip
    # times from the call's start (T0); quiet 0.3 s after the caller began
    assert metrics["interruptions"] == [
        {"at_seconds": 7.2, "outcome": "backchannel", "words": 1, "quiet_ms": None,
         "resumed_ms": None},
        {"at_seconds": 7.7, "outcome": "stopped", "words": 2, "quiet_ms": 300.0,
         "resumed_ms": None},
    ]  # fmt: skip
    # e2e over the two answered turns: 800 and 600 -> p50 700, p95 600 + 0.95 * 200 = 790
    assert metrics["percentiles"]["e2e_ms"] == {"count": 2, "p50": 700.0, "p95": 790.0}
    # tts over all three: 90, 95, 110 -> p50 95, p95 95 + 0.9 * 15 = 108.5
    assert metrics["percentiles"]["tts_ttfb_ms"] == {"count": 3, "p50": 95.0, "p95": 108.5}
    assert metrics["percentiles"]["tool_ms"] == {"count": 1, "p50": 400.0, "p95": 400.0}
    assert set(metrics["percentiles"]) == {
        "stt_ms", "end_of_turn_ms", "llm_ttft_ms", "tts_ttfb_ms", "e2e_ms", "tool_ms"
    }  # fmt: skip


def test_callmissed_turns_use_that_backends_names() -> None:
    turns = body_of(build_report(synthetic_call(), HUNG_UP, make_spec()))["metrics"][
        "callmissed_turns"
    ]

    assert all(
        list(t) == ["turn_index", "user_transcript", "agent_response", "interrupted", "stt_ms",
                    "first_token_ms", "first_audio_ms", "total_ms", "llm_model", "created_at"]
        for t in turns
    )  # fmt: skip
    assert turns[1] == {
        "turn_index": 1,
        "user_transcript": "Table for two on Friday, mail jan@example.com",
        "agent_response": "One moment. Booked for Friday. Anything else?",
        "interrupted": True,
        "stt_ms": 200.0,
        "first_token_ms": 300.0,
        "first_audio_ms": 800.0,
        "total_ms": 3000.0,  # caller stopped at 5.0 s, the agent finished at 8.0 s
        "llm_model": "gpt-4.1-mini",
        "created_at": "2026-04-19T12:00:08.000Z",  # when the reply finished (T0 + 8.0)
    }
    assert turns[0]["created_at"] == "2026-04-19T12:00:02.000Z"  # the greeting ended at 2.0 s
    assert turns[0]["user_transcript"] == ""  # the greeting
    assert turns[0]["agent_response"] == "Good evening, Bistro Jansen."


def test_gdpr_mode_redacts_the_whole_report_but_not_the_metadata() -> None:
    delivery = to_delivery(
        build_report(synthetic_call(), HUNG_UP, make_spec(gdpr=True), analysis()),
        url=None,
        secret=None,
    )
    report = json.loads(delivery.body)["message"]
    report_without_metadata = json.dumps({k: v for k, v in report.items() if k != "assistant"})

    for personal in ("jan@example.com", "+31612345678", "4111 1111 1111 1111", "+31201234567",
                     "+31 6 1234 5678"):  # fmt: skip
        assert personal not in report_without_metadata
    assert report["assistant"]["metadata"] == METADATA  # the backend's own data, untouched
    assert report["summary"] == "Jansen ([EMAIL]) booked a table for Friday."
    assert report["analysis"]["summary"] == report["summary"]
    assert report["analysis"]["structured_data"] == {"party_size": 2, "contact": "call [PHONE]"}
    assert "User: No, my card is [CARD], bye" in report["transcript"]
    assert report["messages"][3]["tool_calls"][0]["arguments"]["phone"] == "[PHONE]"
    assert report["metrics"]["callmissed_turns"][1]["user_transcript"].endswith("mail [EMAIL]")
    assert (report["customer"]["number"], report["destination"]) == ("[PHONE]", "[PHONE]")
    assert [p["identity"] for p in report["participants"]] == ["sip_[PHONE]", "supervisor-7"]


@pytest.mark.realtime  # times a thread against the loop: alone, not beside a parallel test
async def test_gdpr_report_of_a_long_call_is_redacted_off_the_loop() -> None:
    """A long call's whole report (~250 KB of text with numbers in every line) is redacted in a
    worker thread: a task on the loop keeps getting turns while it runs."""
    record = CallRecord(call_id="call-9")
    line = "Call me on 06 12345678, mail jan@example.com, card 4111 1111 1111 1111. " * 4
    for i in range(800):
        record.add_message("user" if i % 2 else "assistant", line, T0 + i, T0 + i + 0.5)
    end = ended(EndReason.USER_HANGUP, None, 900.0)
    gaps: list[float] = []
    building = True

    async def ticker() -> None:
        last = time.perf_counter()
        while building:
            await asyncio.sleep(0.001)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    ticking = asyncio.create_task(ticker())
    await asyncio.sleep(0.01)
    started = time.perf_counter()
    report = await build_call_report(record, end, make_spec(gdpr=True))
    took = time.perf_counter() - started
    building = False
    await ticking

    assert "06 12345678" not in report.transcript
    assert report.transcript.count("[PHONE]") == 800 * 4
    on_the_loop = build_report(record, end, make_spec(gdpr=True))
    assert report.model_dump(exclude={"timestamp"}) == on_the_loop.model_dump(exclude={"timestamp"})
    # The loop was held for at most a slice of the time (the assembling part, GIL switches).
    assert max(gaps) < took / 3, (max(gaps), took)


def test_a_web_call_without_customer_has_no_numbers() -> None:
    spec = make_spec(call_type=CallType.WEB)
    spec = CallSpec(spec.call.model_copy(update={"customer": None}), spec.assistant, "r", "room")
    record = CallRecord(call_id="call-9")
    end = ended(EndReason.AGENT_HANGUP, "end_call tool", 3.2, started_at=datetime.now(UTC))
    report = body_of(build_report(record, end, spec))
    assert (report["customer"], report["destination"]) == (None, None)
    assert (report["end_reason"], report["end_detail"]) == ("agent_hangup", "end_call tool")
    assert report["analysis"]["parts"]["summary"]["status"] == "skipped"
    assert report["messages"] == []
    assert report["transcript"] == ""


def test_outbound_call_reports_the_dialled_number() -> None:
    dialled = {"destination": "+31612345678", "sip_trunk_id": "ST_1"}
    call = CallInfo.model_validate({"id": "out-1", "type": "outbound_phone_call"} | dialled)
    spec = CallSpec(call, make_spec().assistant, "r", "dispatch")
    record = CallRecord(call_id="out-1")
    end = ended(EndReason.NO_ANSWER, None, 30.0, started_at=datetime.now(UTC))
    report = body_of(build_report(record, end, spec))
    assert report["customer"] == {"number": "+31612345678", "name": None}
    assert report["destination"] == "+31612345678"


def test_a_call_never_answered_has_no_start_and_no_duration() -> None:
    """started_at is when the call was answered (seed 002: "When call was answered")."""
    joined = START - timedelta(seconds=60)
    end = CallEnd(
        reason=EndReason.NO_ANSWER, detail="caller_did_not_join", agent_joined_at=joined,
        started_at=None, ended_at=START, caller_join_seconds=None, agent_joined_monotonic=0.0,
        started_monotonic=None, end_requested_monotonic=60.0, ended_monotonic=60.0,
        duration_seconds=0.0, hung_up="immediately", ignored_requests=(),
    )  # fmt: skip
    report = body_of(build_report(CallRecord(call_id="call-9"), end, make_spec()))
    assert (report["end_reason"], report["end_detail"]) == ("no_answer", "caller_did_not_join")
    assert (report["started_at"], report["duration_seconds"], report["duration_ms"]) == (
        None, 0, 0,
    )  # fmt: skip
    assert (report["agent_joined_at"], report["ended_at"]) == (
        "2026-04-19T11:59:00.000Z", "2026-04-19T12:00:00.000Z",
    )  # fmt: skip
    assert (report["caller_join_seconds"], report["participants"]) == (None, [])


def test_a_record_without_an_end_reason_reports_error_rather_than_nothing() -> None:
    report = body_of(build_report(CallRecord(call_id="call-9"), None, make_spec()))
    assert report["end_reason"] == "error"
    assert report["end_detail"] == "the call ended without an end reason"


TARGET = ReportTarget(
    call_id="call-3",
    call_type="outbound_phone_call",
    webhook_url="https://backend.example/hooks",
    webhook_secret="s",
    assistant_name="Caller",
    metadata={"UserID": "u"},
)


@pytest.mark.parametrize("target", [TARGET, make_spec()], ids=["report-target", "call-spec"])
def test_crash_report_is_an_error_with_the_detail(target: ReportTarget | CallSpec) -> None:
    report = body_of(
        crash_report(target, started_at=START, detail="job_process_died (exit code -9)",
                     ended_at=START + timedelta(seconds=61.5))
    )  # fmt: skip
    assert (report["end_reason"], report["end_detail"]) == (
        "error",
        "job_process_died (exit code -9)",
    )
    assert (report["duration_seconds"], report["duration_ms"]) == (62, 61500)
    # The main process does not know whether the call went live unless told (the ledger).
    assert report["call"]["status"] == "failed"
    assert report["seq"] == 0
    expected = ("call-3", {"UserID": "u"}) if target is TARGET else ("call-9", METADATA)
    assert (report["call"]["id"], report["assistant"]["metadata"]) == expected


def test_crash_report_of_a_call_that_went_live_is_ended() -> None:
    report = body_of(crash_report(TARGET, started_at=START, detail="died", went_live=True))
    assert (report["end_reason"], report["call"]["status"]) == ("error", "ended")


def test_crash_report_without_a_start() -> None:
    report = body_of(crash_report(TARGET, started_at=None, detail="died"))
    assert (report["started_at"], report["duration_seconds"]) == (None, 0)


async def test_config_error_report_names_every_bad_field() -> None:
    raw = json.dumps({
        "call": {"id": "call-5", "type": "web_call"},
        "assistant": {
            "name": "Broken", "webhook_url": "https://backend.example/hooks",
            "metadata": {"UserID": "u5"},
            "stt_config": {"provider": "deepgram"}, "llm_config": {"model": "m"},
            "tts_config": {"provider": "polly"}, "max_duration_second": 60,
        },
    })  # fmt: skip
    with pytest.raises(ConfigError) as caught:
        await parse_dispatch(raw, room_name="room-5")
    target = salvage_report_target(raw, room_name="room-5")

    report = body_of(config_error_report(target, caught.value))
    assert report["end_reason"] == "config_error"
    assert "assistant.tts_config" in report["end_detail"]
    assert "assistant.max_duration_second: unknown field" in report["end_detail"]
    assert report["call"] == {"id": "call-5", "type": "web_call", "status": "failed"}
    assert report["assistant"] == {"name": "Broken", "metadata": {"UserID": "u5"}}


def test_config_error_report_from_a_list_of_problems() -> None:
    problems = [ConfigProblem("assistant.llm_config.model", "required field is missing"),
                ConfigProblem("", "no dispatch document")]  # fmt: skip
    report = body_of(config_error_report(TARGET, problems))
    assert report["end_detail"] == (
        "assistant.llm_config.model: required field is missing; <document>: no dispatch document"
    )
    # The call never went live: no start, no duration (issue 13: `started_at` is the answer).
    assert (report["started_at"], report["duration_seconds"], report["duration_ms"]) == (None, 0, 0)
    assert report["ended_at"] is not None


def test_a_report_that_cannot_be_built_goes_out_reduced_rather_than_not_at_all() -> None:
    # A bug's stand-in: a figure that is not a number makes the full report fail to build.
    record = synthetic_call()
    record.add_message("user", "Thanks.", T0 + 28, T0 + 29)
    record.add_message("assistant", "Bye.", T0 + 30, T0 + 31, metrics=cast(Any, {"e2e_ms": "x"}))
    report = build_report(record, HUNG_UP, make_spec())
    assert report.end_reason == EndReason.USER_HANGUP
    assert report.end_detail is not None
    assert report.end_detail.endswith(
        "[report reduced: the full report could not be built (ValidationError)]"
    )
    assert report.call.id == "call-9"
    assert report.assistant.metadata == METADATA
    assert report.duration_seconds > 0
    assert report.messages == []
    parse_envelope(to_delivery(report, url=None, secret=None).body)
