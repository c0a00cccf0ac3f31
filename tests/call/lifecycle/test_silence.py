"""Silence stages on a virtual clock: when prompts play, what pauses, what resets, how it ends.

Every prompt and goodbye plays for LINE_SECONDS (2.0 s) in the scripted session, so with
the default 7.5 s timeout a silent caller hears prompt 1 at 7.5, prompt 2 at 7.5 + 2 + 7.5 =
17.0, the final message at 17.0 + 2 + 7.5 = 26.5, and the call ends when that has played,
at 28.5.
"""

from __future__ import annotations

import pytest

from agent.call.lifecycle import SilenceSettings, is_real_speech
from agent.contracts.end_reason import EndReason
from tests.support.lifecycle_fakes import LINE_SECONDS, make_call

FINAL = SilenceSettings().final_message
assert FINAL is not None


def test_every_stage_of_a_silent_caller_down_to_silence_timeout() -> None:
    clock, session, call = make_call()

    clock.advance(7.4)
    assert session.said == []
    clock.advance(0.1)
    assert session.said == [(7.5, "Are you still there?")]  # prompt 1: 7.5 s of listening

    clock.advance_to(16.9)
    assert len(session.said) == 1
    clock.advance_to(17.0)  # prompt 1 ended at 9.5; + 7.5 s
    assert session.said[-1] == (17.0, "Are you still there?")

    clock.advance_to(26.5)  # prompt 2 ended at 19.0; + 7.5 s
    assert session.said[-1] == (26.5, FINAL)
    assert call.end_reason is EndReason.SILENCE_TIMEOUT
    assert not call.is_ended  # the final message is still playing

    clock.run_until_idle()
    record = call.record
    assert record is not None
    assert record.reason is EndReason.SILENCE_TIMEOUT
    assert record.hung_up == "goodbye_heard"
    # Measured on the virtual clock: 3 timeouts + 3 lines of 2 s = 28.5 s, exactly.
    assert record.ended_monotonic == 3 * 7.5 + 3 * LINE_SECONDS == 28.5
    assert session.hang_ups == [28.5]
    assert len(session.said) == 3


def test_prompts_cycle_when_there_are_more_stages_than_prompts() -> None:
    clock, session, call = make_call(
        silence=SilenceSettings(prompts=["Hello?", "Are you there?"], max_prompts=5)
    )
    clock.run_until_idle()
    a, b = "Hello?", "Are you there?"
    assert session.spoken_texts == [a, b, a, b, a, FINAL]
    assert call.end_reason is EndReason.SILENCE_TIMEOUT
    assert session.hang_ups == [6 * 7.5 + 6 * LINE_SECONDS]


def test_zero_prompts_ends_after_one_timeout() -> None:
    clock, session, call = make_call(silence=SilenceSettings(max_prompts=0, final_message=None))
    clock.advance(7.5)
    assert session.said == []
    assert call.record is not None
    assert call.record.reason is EndReason.SILENCE_TIMEOUT
    assert session.hang_ups == [7.5]


def test_disabled_silence_handling_never_prompts_nor_ends() -> None:
    clock, session, call = make_call(
        max_duration_seconds=600.0, silence=SilenceSettings(enabled=False)
    )
    clock.advance(599.0)
    assert session.said == []
    assert not call.is_ending
    clock.run_until_idle()
    assert call.end_reason is EndReason.MAX_DURATION  # only the duration limit ends it


def test_agent_speech_pauses_the_clock_and_restarts_the_full_timeout() -> None:
    clock, session, _ = make_call()
    clock.advance(5.0)
    session.agent_reply("Let me tell you about our opening hours.", seconds=10.0)
    clock.advance_to(22.4)  # reply ends at 15.0; the full 7.5 s restarts there
    assert session.said == []
    clock.advance_to(22.5)
    assert session.said == [(22.5, "Are you still there?")]


def test_thinking_pauses_the_clock() -> None:
    clock, session, call = make_call()
    clock.advance(3.0)
    call.on_agent_state("thinking")
    clock.advance(60.0)
    assert session.said == []
    call.on_agent_state("listening")  # at 63.0
    clock.advance(7.5)
    assert session.said == [(70.5, "Are you still there?")]


def test_a_tool_call_pauses_the_clock_until_every_running_tool_finishes() -> None:
    clock, session, call = make_call()
    clock.advance(2.0)
    call.on_tool_started("call_a")
    call.on_tool_started("call_b")
    clock.advance(20.0)
    call.on_tool_finished("call_a")  # call_b still running at 22.0
    clock.advance(20.0)
    assert session.said == []
    call.on_tool_finished("call_b")  # at 42.0
    clock.advance(7.5)
    assert session.said == [(49.5, "Are you still there?")]


def test_a_transfer_pauses_the_clock_and_a_failed_one_resumes_it() -> None:
    clock, session, call = make_call()
    clock.advance(1.0)
    call.on_transfer_started()
    clock.advance(39.0)
    assert session.said == []
    call.on_transfer_finished(ok=False)  # at 40.0
    clock.advance(7.5)
    assert session.said == [(47.5, "Are you still there?")]


def test_a_successful_transfer_ends_the_call_as_transferred_without_prompts() -> None:
    clock, session, call = make_call()
    call.on_transfer_started()
    clock.advance(30.0)
    call.on_transfer_finished(ok=True)
    clock.run_until_idle()
    assert session.said == []
    assert call.record is not None
    assert call.record.reason is EndReason.TRANSFERRED
    assert session.hang_ups == [30.0]


def test_real_speech_resets_the_stage_to_zero() -> None:
    clock, session, call = make_call()
    clock.advance(7.5)  # prompt 1 plays 7.5 - 9.5
    clock.advance_to(12.0)
    call.on_user_state("speaking")
    call.on_user_transcript("yes I'm", final=False)
    call.on_user_transcript("Yes, I'm here.", final=True)
    call.on_user_state("listening")  # at 12.0
    assert call.silence.stage == 0
    clock.advance_to(19.5)
    assert session.said[-1] == (19.5, "Are you still there?")
    # Back to stage 1 of 2: a second prompt, not the final message, comes next.
    clock.advance_to(19.5 + LINE_SECONDS + 7.5)
    assert session.said[-1] == (29.0, "Are you still there?")
    clock.run_until_idle()
    assert session.spoken_texts.count("Are you still there?") == 3


def test_words_arriving_after_the_user_stopped_speaking_restart_the_full_timeout() -> None:
    clock, session, call = make_call()
    clock.advance(5.0)
    call.on_user_transcript("hello", final=True)  # the STT final lags the VAD: timer running
    clock.advance(7.4)
    assert session.said == []
    clock.advance(0.1)
    assert session.said == [(12.5, "Are you still there?")]


def test_a_vad_blip_without_words_holds_the_clock_and_resumes_the_remaining_time() -> None:
    clock, session, call = make_call()
    clock.advance(5.0)
    call.on_user_state("speaking")  # line noise at 5.0
    clock.advance(1.0)
    call.on_user_state("listening")  # at 6.0, no transcript: 2.5 s of the timeout remain
    clock.advance(2.4)
    assert session.said == []
    clock.advance(0.1)
    assert session.said == [(8.5, "Are you still there?")]


def test_noise_never_resets_the_stage_so_a_noisy_line_still_ends() -> None:
    clock, session, call = make_call()
    clock.advance(7.5)  # prompt 1
    clock.advance_to(12.0)
    call.on_user_state("speaking")
    call.on_user_transcript("", final=True)
    call.on_user_transcript("...", final=True)
    call.on_user_transcript("okay", final=False)  # an interim guess, never finalised
    call.on_user_state("listening")
    assert call.silence.stage == 1
    clock.run_until_idle()
    assert session.spoken_texts == ["Are you still there?", "Are you still there?", FINAL]
    assert call.end_reason is EndReason.SILENCE_TIMEOUT


def test_away_user_state_counts_as_silence() -> None:
    clock, session, call = make_call()
    clock.advance(3.0)
    call.on_user_state("away")
    clock.advance(4.5)
    assert session.said == [(7.5, "Are you still there?")]


def test_caller_barging_into_a_prompt_with_words_resets_the_stage() -> None:
    clock, session, call = make_call()
    clock.advance(8.0)  # prompt 1 playing since 7.5
    call.on_user_state("speaking")
    session.interrupt()  # the framework cuts the prompt off when the caller barges in
    call.on_user_transcript("sorry, I'm here", final=True)
    clock.advance(1.0)
    call.on_user_state("listening")  # at 9.0
    assert call.silence.stage == 0
    clock.advance(7.5)
    assert session.said[-1] == (16.5, "Are you still there?")


def test_the_silence_clock_only_starts_with_the_call() -> None:
    clock, session, call = make_call(start=False)
    clock.advance(100.0)
    assert session.said == []
    call.start()
    clock.advance(7.5)
    assert session.said == [(107.5, "Are you still there?")]


@pytest.mark.parametrize(
    ("text", "real"),
    [("yes", True), ("Ja.", True), ("日本", True), ("", False), ("...", False), (" - ", False)],
)
def test_what_counts_as_real_speech(text: str, real: bool) -> None:
    assert is_real_speech(text) is real
