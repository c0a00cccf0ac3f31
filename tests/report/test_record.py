"""The call record: livekit chat items mapped, turns assembled, percentiles, usage.

How the call ended is the lifecycle's (tests/call/lifecycle/test_ending.py), not the record's."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import cast

import pytest
from livekit.agents import llm
from livekit.agents.metrics import AgentSessionUsage, LLMModelUsage, STTModelUsage, TTSModelUsage

from agent.report.record import CallRecord, TurnEnd, percentile, seconds_since

START = datetime(2026, 4, 19, 12, 0, 0, tzinfo=UTC)
T0 = START.timestamp()


def make_record() -> CallRecord:
    return CallRecord(call_id="call-1", llm_model="configured-model", now=lambda: T0 + 99)


def offset(at: float | None) -> float | None:
    """Seconds from the call's start (START), as the report shows times."""
    return seconds_since(START, at)


def user_message(text: str, start: float, stop: float, **metrics: float) -> llm.ChatMessage:
    return llm.ChatMessage(
        role="user",
        content=[text],
        created_at=T0 + stop,
        metrics=cast(
            llm.MetricsReport,
            {"started_speaking_at": T0 + start, "stopped_speaking_at": T0 + stop, **metrics},
        ),
    )


def agent_message(
    text: str, start: float, stop: float, *, interrupted: bool = False, **metrics: float
) -> llm.ChatMessage:
    return llm.ChatMessage(
        role="assistant",
        content=[text],
        interrupted=interrupted,
        created_at=T0 + start,
        metrics=cast(
            llm.MetricsReport,
            {
                "started_speaking_at": T0 + start,
                "stopped_speaking_at": T0 + stop,
                "llm_metadata": {"model_name": "gpt-4.1-mini", "model_provider": "openai"},
                **metrics,
            },
        ),
    )


def test_livekit_chat_messages_map_to_messages_with_metrics_in_ms() -> None:
    record = make_record()
    record.record_chat_item(
        user_message("Hi", 1.0, 2.0, transcription_delay=0.2105, end_of_turn_delay=0.3)
    )
    record.record_chat_item(
        agent_message("Hello!", 2.8, 4.0, llm_node_ttft=0.25, tts_node_ttfb=0.12, e2e_latency=0.8)
    )

    user, agent = record.messages()
    assert (user.role, user.text, user.interrupted) == ("user", "Hi", False)
    assert user.metrics == {"stt_ms": 210.5, "end_of_turn_ms": 300.0}
    assert agent.metrics == {
        "llm_ttft_ms": 250.0,
        "tts_ttfb_ms": 120.0,
        "e2e_ms": 800.0,
        "llm_model": "gpt-4.1-mini",
    }
    assert (offset(user.started_at), offset(user.ended_at)) == (1.0, 2.0)
    assert (offset(agent.started_at), offset(agent.ended_at)) == (2.8, 4.0)


def test_system_messages_and_empty_metrics_are_handled() -> None:
    record = make_record()
    record.record_chat_item(llm.ChatMessage(role="system", content=["be nice"]))
    record.record_chat_item(llm.ChatMessage(role="user", content=["typed"], created_at=T0 + 5))
    (only,) = record.messages()
    assert only.metrics == {}
    assert offset(only.started_at) == 5.0
    assert only.ended_at is None


def test_function_calls_and_outputs_become_tool_entries() -> None:
    record = make_record()
    record.record_chat_item(
        llm.FunctionCall(call_id="c1", name="book_table", arguments='{"day":"fri"}',
                         created_at=T0 + 10)
    )  # fmt: skip
    record.record_chat_item(
        llm.FunctionCallOutput(call_id="c1", name="book_table", output="booked", is_error=False,
                               created_at=T0 + 10.45)
    )  # fmt: skip
    record.record_chat_item(
        llm.FunctionCall(call_id="c2", name="lookup", arguments="not json", created_at=T0 + 11)
    )
    record.record_chat_item(
        llm.FunctionCallOutput(call_id="c2", output="timeout", is_error=True, created_at=T0 + 12)
    )

    c1, c2 = record.tool_calls()
    assert (c1.arguments, c1.result, c1.error, c1.tool_ms) == (
        {"day": "fri"},
        "booked",
        None,
        450.0,
    )
    assert (c2.arguments, c2.result, c2.error, c2.tool_ms) == ("not json", None, "timeout", 1000.0)


def test_a_tool_call_seen_twice_is_recorded_once_and_the_first_finish_wins() -> None:
    record = make_record()
    record.add_tool_call("c1", "book_table", {"day": "fri"}, at=T0 + 1)
    record.add_tool_call("c1", "book_table", {"day": "sat"}, at=T0 + 2)
    record.finish_tool_call("c1", result="ok", tool_ms=120.0, at=T0 + 1.2)
    record.finish_tool_call("c1", error="late duplicate", at=T0 + 3)
    record.finish_tool_call("unknown", result="ignored")

    assert len(record.entries) == 2  # one call, one result
    (call,) = record.tool_calls()
    assert (call.arguments, call.result, call.error, call.tool_ms) == (
        {"day": "fri"},
        "ok",
        None,
        120.0,
    )


def test_turns_pair_caller_messages_with_replies() -> None:
    record = make_record()
    record.add_message(
        "assistant", "Welcome!", T0 + 0.5, T0 + 1.5, metrics={"tts_ttfb_ms": 90.0}
    )  # greeting: turn 0
    record.add_message("user", "I want", T0 + 2, T0 + 2.6, metrics={"stt_ms": 150.0})
    record.add_message(
        "user", "a table", T0 + 3, T0 + 3.5, metrics={"stt_ms": 180.0, "end_of_turn_ms": 400.0}
    )
    record.add_message(
        "assistant",
        "One moment.",
        T0 + 4.2,
        T0 + 5,
        metrics={"e2e_ms": 700.0, "llm_ttft_ms": 300.0, "llm_model": "m2"},
    )
    record.add_tool_call("c1", "book_table", {}, at=T0 + 5)
    record.finish_tool_call("c1", result="ok", tool_ms=250.0)
    record.add_message(
        "assistant", "Booked.", T0 + 5.5, T0 + 6.5, interrupted=True, metrics={"e2e_ms": 9999.0}
    )
    record.add_message("user", "Thanks", T0 + 7, T0 + 7.5)  # never answered

    greeting, booking, unanswered = record.turns()
    assert (greeting.index, greeting.user_text, greeting.agent_text) == (0, "", "Welcome!")
    assert greeting.e2e_ms is None
    assert greeting.llm_model == "configured-model"
    assert (booking.index, booking.user_text, booking.agent_text) == (
        1,
        "I want a table",
        "One moment. Booked.",
    )
    # the last caller message's STT figures, the first reply's latency
    assert (booking.stt_ms, booking.end_of_turn_ms) == (180.0, 400.0)
    assert (booking.e2e_ms, booking.llm_ttft_ms, booking.tool_ms) == (700.0, 300.0, 250.0)
    assert booking.interrupted is True
    assert booking.llm_model == "m2"
    assert booking.total_ms == 3000.0  # caller stopped at 3.5 s, agent finished at 6.5 s
    assert (unanswered.user_text, unanswered.agent_text, unanswered.total_ms) == (
        "Thanks",
        "",
        None,
    )


def test_transcript_text_and_user_message_count() -> None:
    record = make_record()
    record.add_message("assistant", "Hi there. ", T0, T0 + 1)
    record.add_message("user", " Hello ", T0 + 2, T0 + 3)
    record.add_message("user", "   ", T0 + 4, T0 + 5)  # a breath the STT gave us
    assert record.transcript_text() == "AI: Hi there.\nUser: Hello"
    assert record.user_message_count == 1


@pytest.mark.parametrize(
    ("values", "p", "expected"),
    [
        ([100, 200, 300, 400], 50, 250.0),
        ([400, 100, 300, 200], 95, 385.0),  # 300 + 0.85 * 100
        ([100, 200, 300, 400, 500, 600, 700, 800, 900, 1000], 95, 955.0),  # 900 + 0.55 * 100
        ([42], 50, 42.0),
        ([42], 95, 42.0),
        ([], 50, None),
        ([1, 2], 100, 2.0),
        ([1, 2], 0, 1.0),
    ],
)
def test_percentile_interpolates_between_ranks(
    values: list[float], p: float, expected: float | None
) -> None:
    assert percentile(values, p) == expected


def test_session_usage_is_a_snapshot_and_add_usage_accumulates() -> None:
    record = make_record()
    stale = AgentSessionUsage(model_usage=[
        LLMModelUsage(provider="openai", model="gpt-4.1-mini", input_tokens=1, output_tokens=1)
    ])  # fmt: skip
    usage = AgentSessionUsage(model_usage=[
        LLMModelUsage(provider="openai", model="gpt-4.1-mini", input_tokens=900, output_tokens=120),
        TTSModelUsage(provider="elevenlabs", model="eleven_flash_v2_5", characters_count=340,
                      audio_duration=21.5),
        STTModelUsage(provider="deepgram", model="nova-3", audio_duration=47.0),
    ])  # fmt: skip
    record.record_session_usage(stale)
    record.record_session_usage(usage)
    record.add_usage("llm", "openai", "gpt-4.1-mini", prompt_tokens=100, completion_tokens=30)
    record.add_usage("llm", "openai", "gpt-4.1-mini", prompt_tokens=1)

    totals = record.usage()
    llm_totals = totals[("llm", "openai", "gpt-4.1-mini")]
    assert (llm_totals.prompt_tokens, llm_totals.completion_tokens) == (1001, 150)
    assert totals[("tts", "elevenlabs", "eleven_flash_v2_5")].characters == 340
    assert totals[("stt", "deepgram", "nova-3")].audio_seconds == 47.0


def test_control_commands_are_recorded_with_their_outcome() -> None:
    record = make_record()
    record.add_control("say", "spoken", at=T0 + 3)
    record.add_control("transfer", "refused: no destination")
    assert [(c.command, c.outcome, offset(c.at)) for c in record.controls] == [
        ("say", "spoken", 3.0),
        ("transfer", "refused: no destination", 99.0),
    ]


# ---- what vendors and tool servers can add to the record is cleaned and capped ---------------


def test_a_tool_result_over_the_cap_is_kept_as_cut_text_with_a_marker() -> None:
    record = make_record()
    record.add_tool_call("t1", "lookup", {"q": "x"}, at=T0 + 1)
    rows = [{"row": i, "text": "y" * 100} for i in range(2000)]  # ~230 KB of JSON
    record.finish_tool_call("t1", result={"rows": rows}, error="e" * 10_000, at=T0 + 2)
    (entry,) = record.tool_calls()
    assert isinstance(entry.result, str)
    assert entry.result.startswith('{"rows": [{"row": 0, "text": "yyy')
    assert "… [truncated: " in entry.result
    assert "the first 16384 kept]" in entry.result
    assert len(entry.result.encode()) < 16_384 + 100
    assert entry.error is not None
    assert entry.error.endswith("[truncated: 10000 bytes, the first 4096 kept]")


def test_small_results_are_kept_as_they_are() -> None:
    record = make_record()
    record.add_tool_call("t1", "lookup", '{"q": "x"}', at=T0 + 1)
    record.finish_tool_call("t1", result={"ok": True}, at=T0 + 2)
    (entry,) = record.tool_calls()
    assert (entry.arguments, entry.result) == ({"q": "x"}, {"ok": True})


def test_huge_or_deep_model_arguments_are_capped() -> None:
    record = make_record()
    record.add_tool_call("t1", "lookup", {"q": "z" * 50_000}, at=T0 + 1)
    record.add_tool_call("t2", "lookup", "[" * 20_000 + "]" * 20_000, at=T0 + 1)  # unparsable
    big, deep = record.tool_calls()
    assert isinstance(big.arguments, str)
    assert "[truncated: " in big.arguments
    assert isinstance(deep.arguments, str)
    assert deep.arguments.endswith("[truncated: 40000 bytes, the first 16384 kept]")


def test_lone_surrogates_from_vendors_become_replacement_characters() -> None:
    record = make_record()
    record.add_message("user", "I want the \ud83d", started_at=T0 + 1, ended_at=T0 + 2)
    record.add_tool_call("t\udc00", "look\ud83d", {"k\ud83d": ["\udc00"]}, at=T0 + 3)
    record.finish_tool_call("t\udc00", result="r\ud83d", error=None, at=T0 + 4)
    record.add_control("say", "failed: \ud83d")
    (message,) = record.messages()
    (call,) = record.tool_calls()
    assert message.text == "I want the \ufffd"
    assert (call.id, call.name) == ("t\ufffd", "look\ufffd")
    assert call.arguments == {"k\ufffd": ["\ufffd"]}
    assert call.result == "r\ufffd"
    assert record.controls[0].outcome == "failed: \ufffd"


def _caller_said(record: CallRecord, text: str) -> None:
    record.record_chat_item(llm.ChatMessage(role="user", content=[text]))


def test_a_caller_message_takes_the_decision_made_on_its_transcript() -> None:
    record = CallRecord(call_id="c1")
    # two decisions while the caller paused mid-phrase, the last on the whole transcript
    record.note_turn_end(TurnEnd("I'd like a table for", "mid_phrase", 1.5))
    record.note_turn_end(TurnEnd("I'd like a table for two.", "terminal", 0.2))
    record.note_turn_end(TurnEnd("something else", "number", 1.2))
    _caller_said(record, "I'd like a table for two.")
    [turn] = record.turns()
    assert (turn.end_of_turn_rule, turn.end_of_turn_wait_ms) == ("terminal", 200.0)
    # decisions made before a message are spent with it
    _caller_said(record, "something else")
    assert list(record.messages())[-1].metrics == {}


def test_a_decision_on_no_words_is_taken_when_none_matches() -> None:
    record = CallRecord(call_id="c1")
    record.note_turn_end(TurnEnd("", "model", 3.0))  # the audio model reads no words
    _caller_said(record, "Friday at eight.")
    assert next(iter(record.messages())).metrics == {
        "end_of_turn_rule": "model",
        "end_of_turn_wait_ms": 3000.0,
    }


def test_without_decisions_the_modes_own_rule() -> None:
    record = CallRecord(call_id="c1", turn_end_default=TurnEnd("", "stt", None))
    _caller_said(record, "Friday at eight.")
    # stt: the wait is the STT's own, so none is reported
    assert next(iter(record.messages())).metrics == {"end_of_turn_rule": "stt"}
    plain = CallRecord(call_id="c2")
    _caller_said(plain, "Friday at eight.")
    assert next(iter(plain.messages())).metrics == {}
