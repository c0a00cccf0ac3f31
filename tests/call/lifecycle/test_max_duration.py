"""The max-duration limit on a virtual clock: interrupt, goodbye, end, and the backstop.

Limit 60 s; every line plays LINE_SECONDS (2.0 s) in the scripted session. The default
message is 52 characters, so its backstop is 52 / 15 + 2.0 = 5.4667 s after the limit.
"""

from __future__ import annotations

import pytest

from agent.call.lifecycle import GoodbyeBudget, SilenceSettings
from agent.contracts.end_reason import EndReason
from tests.support.lifecycle_fakes import LINE_SECONDS, make_call

LIMIT = 60.0
MESSAGE = "We've reached the time limit for this call. Goodbye!"
QUIET = SilenceSettings(enabled=False)


def test_limit_during_agent_speech_interrupts_says_goodbye_and_ends() -> None:
    clock, session, call = make_call(max_duration_seconds=LIMIT, silence=QUIET)
    clock.advance(55.0)
    reply = session.agent_reply("A long explanation of our opening hours.", seconds=20.0)

    clock.advance_to(LIMIT)
    assert reply.interrupted
    assert session.interrupts == [LIMIT]
    assert session.said == [(LIMIT, MESSAGE)]
    assert not call.is_ended

    clock.run_until_idle()
    record = call.record
    assert record is not None
    assert record.reason is EndReason.MAX_DURATION
    assert record.hung_up == "goodbye_heard"
    # Measured on the virtual clock: the call ends at exactly limit + goodbye playout.
    assert record.ended_monotonic == LIMIT + LINE_SECONDS
    assert record.duration_seconds == LIMIT + LINE_SECONDS
    assert session.hang_ups == [LIMIT + LINE_SECONDS]


def test_limit_during_a_tool_call_interrupts_it_and_ends_at_limit_plus_goodbye() -> None:
    clock, session, call = make_call(max_duration_seconds=LIMIT, silence=QUIET, line_seconds=3.0)
    clock.advance(50.0)
    call.on_agent_state("thinking")
    call.on_tool_started("call_booking")  # a slow backend, still running at the limit
    clock.advance_to(LIMIT)
    assert session.interrupts == [LIMIT]
    assert session.said == [(LIMIT, MESSAGE)]
    clock.run_until_idle()
    assert call.end_reason is EndReason.MAX_DURATION
    assert session.hang_ups == [LIMIT + 3.0]


def test_backstop_ends_the_call_when_the_goodbye_never_plays() -> None:
    clock, session, call = make_call(max_duration_seconds=LIMIT, silence=QUIET)
    session.tts_down = True
    clock.run_until_idle()
    record = call.record
    assert record is not None
    assert record.reason is EndReason.MAX_DURATION
    assert record.hung_up == "backstop"
    # 60 + 52 chars / 15 chars/s + 2.0 s margin = 65.4667 s
    assert record.ended_monotonic == pytest.approx(LIMIT + len(MESSAGE) / 15 + 2.0)
    assert record.ended_monotonic <= LIMIT + GoodbyeBudget().cap_seconds
    assert session.hang_ups == [record.ended_monotonic]


def test_a_long_goodbye_is_cut_off_at_the_cap() -> None:
    long_message = "Thank you so much for calling us today. " * 10  # 400 chars: 26.7 s of speech
    clock, session, call = make_call(
        max_duration_seconds=LIMIT,
        max_duration_message=long_message,
        silence=QUIET,
        line_seconds=26.7,
    )
    clock.run_until_idle()
    assert call.record is not None
    assert call.record.hung_up == "backstop"
    assert session.hang_ups == [LIMIT + 10.0]


def test_without_a_message_the_call_ends_exactly_at_the_limit() -> None:
    clock, session, call = make_call(
        max_duration_seconds=LIMIT, max_duration_message=None, silence=QUIET
    )
    clock.run_until_idle()
    assert session.said == []
    assert session.hang_ups == [LIMIT]
    assert call.end_reason is EndReason.MAX_DURATION


def test_the_limit_counts_from_call_start() -> None:
    clock, _session, call = make_call(max_duration_seconds=LIMIT, silence=QUIET, start=False)
    clock.advance(30.0)  # connecting, waiting for the caller
    call.start()
    clock.advance(LIMIT - 0.001)
    assert not call.is_ending
    clock.advance(0.001)
    assert call.end_reason is EndReason.MAX_DURATION
    clock.run_until_idle()
    assert call.duration_seconds == LIMIT + LINE_SECONDS


def test_silence_prompts_stop_once_the_limit_ends_the_call() -> None:
    # limit 10 s: prompt 1 at 7.5 (plays to 9.5), the limit at 10 beats prompt 2 at 17.0
    clock, session, call = make_call(max_duration_seconds=10.0)
    clock.run_until_idle()
    assert session.spoken_texts == ["Are you still there?", MESSAGE]
    assert call.end_reason is EndReason.MAX_DURATION
    assert session.hang_ups == [12.0]


def test_goodbye_budget_arithmetic() -> None:
    budget = GoodbyeBudget()
    assert budget.for_text(MESSAGE) == pytest.approx(52 / 15 + 2.0)
    assert budget.for_text("x" * 1000) == 10.0
    assert budget.for_text(None) == 10.0
    assert budget.for_text("") == 2.0
