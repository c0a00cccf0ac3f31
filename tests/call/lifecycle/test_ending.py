"""Exactly-once ending: first reason wins, races, hang-up timing per reason, the end record."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from agent.call.lifecycle import (
    WORKER_SHUTDOWN,
    CallEnd,
    CallLifecycle,
    EndPhraseDetector,
    LifecycleSettings,
    SilenceSettings,
)
from agent.clock import VirtualClock
from agent.contracts.end_reason import EndReason
from tests.support.lifecycle_fakes import LINE_SECONDS, FakeLine, ScriptedSession, make_call

QUIET = SilenceSettings(enabled=False)
MESSAGE = "We've reached the time limit for this call. Goodbye!"


def test_caller_hanging_up_ends_at_once_without_a_goodbye() -> None:
    clock, session, call = make_call(silence=QUIET)
    clock.advance(12.0)
    reply = session.agent_reply("Our opening hours are...", seconds=10.0)
    clock.advance(1.0)
    call.on_caller_left("CLIENT_INITIATED")
    assert reply.interrupted
    assert session.said == []
    assert session.hang_ups == [13.0]
    assert call.end_reason is EndReason.USER_HANGUP
    assert call.end_detail == "CLIENT_INITIATED"
    assert call.record is not None
    assert call.record.hung_up == "immediately"


def test_room_deleted_ends_as_user_hangup() -> None:
    _clock, session, call = make_call(silence=QUIET)
    call.on_room_deleted()
    assert call.end_reason is EndReason.USER_HANGUP
    assert call.end_detail == "room_deleted"
    assert session.hang_ups == [0.0]


def test_caller_leaving_while_the_limit_fires_keeps_max_duration_and_hangs_up_now() -> None:
    clock, session, call = make_call(max_duration_seconds=60.0, silence=QUIET)
    clock.advance(60.0)  # goodbye playing 60.0 - 62.0
    clock.advance(1.0)
    call.on_caller_left("CLIENT_INITIATED")  # nobody left to hear the rest
    clock.run_until_idle()
    record = call.record
    assert record is not None
    assert record.reason is EndReason.MAX_DURATION  # first wins
    assert record.hung_up == "caller_left"
    assert [r.reason for r in record.ignored_requests] == [EndReason.USER_HANGUP]
    assert session.hang_ups == [61.0]


def test_caller_leaving_at_the_same_instant_as_the_limit_first_scheduled_wins() -> None:
    clock = VirtualClock()
    session = ScriptedSession(clock)
    call = CallLifecycle(clock, session, LifecycleSettings(max_duration_seconds=60.0))
    session.lifecycle = call
    # Scheduled before start(), so it runs first at t = 60 (ties fire in scheduling order).
    clock.call_later(60.0, lambda: call.on_caller_left("CLIENT_INITIATED"))
    call.start()
    clock.run_until_idle()
    assert call.end_reason is EndReason.USER_HANGUP
    assert session.said == []  # the limit never fired: its timer stopped when ending began
    assert session.hang_ups == [60.0]
    assert call.ignored_requests == ()


def test_end_call_during_a_silence_prompt_lets_both_lines_play_then_ends() -> None:
    clock, session, call = make_call()
    clock.advance(8.0)  # prompt 1 playing 7.5 - 9.5
    decided = call.request_end(EndReason.AGENT_HANGUP, "end_call_tool", goodbye="Bye now!")
    assert decided
    clock.run_until_idle()
    # agent_hangup interrupts nothing: the goodbye queues behind the prompt (9.5 - 11.5).
    assert session.interrupts == []
    assert session.spoken_texts == ["Are you still there?", "Bye now!"]
    assert call.record is not None
    assert call.record.reason is EndReason.AGENT_HANGUP
    assert call.record.hung_up == "goodbye_heard"
    assert session.hang_ups == [9.5 + LINE_SECONDS]


def test_end_call_without_goodbye_while_silent_hangs_up_now() -> None:
    clock, session, call = make_call(silence=QUIET)
    clock.advance(5.0)
    call.request_end(EndReason.AGENT_HANGUP, "control_end_call")
    assert session.hang_ups == [5.0]


def test_end_phrase_ends_the_call_after_that_sentence_is_heard() -> None:
    clock, session, call = make_call(silence=QUIET, end_call_phrases=["goodbye"])
    clock.advance(3.0)
    session.agent_reply("Glad I could help. Goodbye!", seconds=2.5)
    clock.advance(2.4)
    assert not call.is_ending
    clock.advance(0.1)
    assert call.end_reason is EndReason.AGENT_HANGUP
    assert call.end_detail == "end_call_phrase"
    assert session.interrupts == []
    assert session.hang_ups == [5.5]


def test_end_phrase_committed_while_still_speaking_waits_for_the_speech_to_finish() -> None:
    clock, session, call = make_call(silence=QUIET, end_call_phrases=["have a nice day"])
    call.on_agent_state("speaking")
    call.on_agent_speech_committed("Have a nice-day.")  # item added before the state flips
    clock.advance(1.0)
    assert session.hang_ups == []
    call.on_agent_state("listening")
    assert session.hang_ups == [1.0]
    assert call.record is not None
    assert call.record.hung_up == "speech_finished"


def test_end_phrase_wait_is_bounded_by_the_backstop() -> None:
    clock, session, call = make_call(silence=QUIET, end_call_phrases=["goodbye"])
    call.on_agent_state("speaking")
    call.on_agent_speech_committed("goodbye")
    clock.run_until_idle()  # the agent state never leaves speaking
    assert call.record is not None
    assert call.record.hung_up == "backstop"
    assert session.hang_ups == [10.0]


def test_the_goodbye_itself_matching_an_end_phrase_is_not_a_second_end() -> None:
    clock, session, call = make_call(
        max_duration_seconds=60.0, silence=QUIET, end_call_phrases=["goodbye"]
    )
    clock.run_until_idle()
    assert call.end_reason is EndReason.MAX_DURATION
    assert call.ignored_requests == ()
    assert len(session.hang_ups) == 1


def test_error_ends_at_once_naming_the_component() -> None:
    clock, session, call = make_call(silence=QUIET)
    session.agent_reply("Let me check", seconds=5.0)
    clock.advance(1.0)
    call.on_error("tts", "elevenlabs: 401 unauthorized")
    assert session.interrupts == [1.0]
    assert session.hang_ups == [1.0]
    assert call.end_reason is EndReason.ERROR
    assert call.end_detail == "tts: elevenlabs: 401 unauthorized"


def test_error_after_the_end_is_recorded_and_ignored() -> None:
    clock, session, call = make_call(silence=QUIET)
    call.on_caller_left("CLIENT_INITIATED")
    clock.advance(0.5)
    call.on_error("llm", "stream closed")
    call.on_worker_shutdown()
    clock.run_until_idle()
    assert call.end_reason is EndReason.USER_HANGUP
    assert session.hang_ups == [0.0]
    assert [(r.reason, r.detail) for r in call.ignored_requests] == [
        (EndReason.ERROR, "llm: stream closed"),
        (EndReason.ERROR, WORKER_SHUTDOWN),
    ]
    assert call.record is not None
    assert call.record.ignored_requests == ()  # the record was final at hang-up


def test_worker_shutdown_ends_as_error_worker_shutdown() -> None:
    _, session, call = make_call(silence=QUIET)
    call.on_worker_shutdown()
    assert call.end_reason is EndReason.ERROR
    assert call.end_detail == WORKER_SHUTDOWN
    assert len(session.hang_ups) == 1


def test_a_failing_say_still_hangs_up() -> None:
    class BrokenSay(ScriptedSession):
        def say(self, text: str, *, allow_interruptions: bool) -> FakeLine:
            raise RuntimeError("AgentSession is closing, cannot use say()")

    clock = VirtualClock()
    session = BrokenSay(clock)
    call = CallLifecycle(clock, session, LifecycleSettings(max_duration_seconds=5.0))
    call.start()
    clock.run_until_idle()
    assert call.end_reason is EndReason.MAX_DURATION
    assert session.hang_ups == [5.0]


def test_ended_listener_gets_one_record_before_hang_up_and_a_failing_one_is_contained() -> None:
    _clock, session, call = make_call(silence=QUIET)
    seen: list[tuple[CallEnd, int]] = []

    def broken(_record: CallEnd) -> None:
        raise ValueError("listener bug")

    call.add_ended_listener(broken)
    call.add_ended_listener(lambda record: seen.append((record, len(session.hang_ups))))
    call.on_caller_left("CLIENT_INITIATED")
    call.on_caller_left("CLIENT_INITIATED")
    assert len(seen) == 1
    assert seen[0][1] == 0  # the record existed before the job was told to end
    assert session.hang_ups == [0.0]


def test_end_record_times_agree_and_serialise_as_iso() -> None:
    started = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)
    clock = VirtualClock(start=1000.0)
    session = ScriptedSession(clock)
    call = CallLifecycle(
        clock,
        session,
        LifecycleSettings(max_duration_seconds=90.0, max_duration_message=None),
        wall_clock=lambda: started,
    )
    call.start()
    clock.run_until_idle()
    record = call.record
    assert record is not None
    assert record.started_monotonic == 1000.0
    assert record.ended_monotonic == 1090.0
    assert record.duration_seconds == 90.0
    assert record.ended_at == started + timedelta(seconds=90)
    dumped = record.model_dump(mode="json")
    assert dumped["started_at"] == "2026-01-05T09:30:00Z"
    assert dumped["ended_at"] == "2026-01-05T09:31:30Z"
    assert dumped["reason"] == "max_duration"


def test_a_call_ended_before_the_answer_was_never_started() -> None:
    """started_at is when the call was answered: one that ended first has none, and lasted
    0 s; its end is still dated from the agent's arrival."""
    joined = datetime(2026, 4, 19, 12, 0, tzinfo=UTC)
    clock = VirtualClock()
    session = ScriptedSession(clock)
    call = CallLifecycle(clock, session, wall_clock=lambda: joined)
    clock.advance(2.0)
    call.request_end(EndReason.CONFIG_ERROR, "assistant.tts_config.voice_id: required")
    call.start()  # too late: nothing starts
    clock.run_until_idle()
    record = call.record
    assert record is not None
    assert (record.started_at, record.duration_seconds, record.caller_join_seconds) == (
        None, 0.0, None,
    )  # fmt: skip
    assert (record.agent_joined_at, record.ended_at) == (joined, joined + timedelta(seconds=2))
    assert session.said == []
    assert session.hang_ups == [2.0]


@pytest.mark.parametrize(
    ("spoken", "found"),
    [
        ("Okay, Goodbye!", "goodbye"),
        ("GOODBYE.", "goodbye"),
        ("goodbyes are hard", None),
        ("Have a nice-day.", "have a nice day"),
        ("have a   nice day", "have a nice day"),
        ("have a nice daydream", None),
        ("We'll talk soon", "we'll talk"),
        ("well talking is fine", None),
        ("", None),
    ],
)
def test_end_phrase_matching(spoken: str, found: str | None) -> None:
    detector = EndPhraseDetector(["goodbye", "have a nice day", "we'll talk", "!!!"])
    assert detector.find(spoken) == found


def test_the_end_is_decided_once_and_a_late_start_does_not_move_it() -> None:
    """The call's one end record (moved here from the call record, which no longer keeps it):
    the first request decides, a later one changes nothing, and a start after the end keeps
    the start the end was counted from."""
    started = datetime(2026, 4, 19, 12, 0, tzinfo=UTC)
    clock = VirtualClock()
    session = ScriptedSession(clock)
    call = CallLifecycle(
        clock, session, wall_clock=lambda: started + timedelta(seconds=clock.now())
    )
    call.start()  # at t = 0: started_at is `started`
    clock.advance(47.2)
    first = call.request_end(EndReason.USER_HANGUP, None)
    clock.advance(2.8)
    second = call.request_end(EndReason.ERROR, "late")
    call.ending.mark_started()  # at t = 50: too late to move the start
    record = call.record
    assert record is not None
    assert (first, second) == (True, False)
    assert (record.reason, record.detail, record.duration_seconds) == (
        EndReason.USER_HANGUP, None, 47.2
    )  # fmt: skip
    assert record.started_at == call.started_at == started
