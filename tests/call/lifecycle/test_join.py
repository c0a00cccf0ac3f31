"""The join wait and the call's start, on the virtual clock: the call starts when the caller is
there, a caller who never comes costs the join timeout and nothing said, only the bound caller
leaving ends the call, and how it ends follows the disconnect table."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from livekit import rtc

from agent.call.lifecycle import (
    CALLER_AUDIO_NOT_RECEIVED,
    CALLER_DID_NOT_JOIN,
    CALLER_DISCONNECTS,
    CONNECTION_LOST,
    CallerRule,
    CallLifecycle,
    LifecycleSettings,
    RoomParty,
    SilenceSettings,
)
from agent.call.lifecycle.disconnects import agent_disconnected, caller_disconnected
from agent.clock import VirtualClock
from agent.contracts.end_reason import EndReason
from tests.support.lifecycle_fakes import ScriptedSession

JOINED = datetime(2026, 4, 19, 12, 0, tzinfo=UTC)
"""Wall clock at the agent's arrival (t = 0 on the virtual clock)."""
CALLER = RoomParty("web-caller", "standard")
PROMPT = "Are you still there?"


def waiting_call(
    *, join_timeout: float = 60.0, max_duration: float = 600.0, silence: bool = False
) -> tuple[VirtualClock, ScriptedSession, CallLifecycle]:
    """The agent is in the room at t = 0 and waits for its caller; the session listens."""
    clock = VirtualClock()
    session = ScriptedSession(clock)
    settings = LifecycleSettings(
        join_timeout_seconds=join_timeout,
        max_duration_seconds=max_duration,
        autonomous_silence_handling=SilenceSettings(enabled=silence, max_prompts=0),
    )
    call = CallLifecycle(
        clock,
        session,
        settings,
        caller_rule=CallerRule(),
        wall_clock=lambda: JOINED + timedelta(seconds=clock.now()),
    )
    session.lifecycle = call
    call.on_agent_state("listening")
    call.on_user_state("listening")
    call.on_agent_joined()
    call.await_caller()
    return clock, session, call


def test_a_caller_who_never_comes_ends_the_call_at_the_join_timeout_with_nothing_said() -> None:
    clock, session, call = waiting_call(silence=True)
    clock.advance(59.999)
    assert not call.is_ending
    clock.run_until_idle()
    record = call.record
    assert record is not None
    assert (record.reason, record.detail) == (EndReason.NO_ANSWER, CALLER_DID_NOT_JOIN)
    assert session.hang_ups == [60.0]
    assert (session.said, session.interrupts) == ([], [])  # no goodbye, no prompt, no TTS
    assert (record.started_at, record.duration_seconds, record.caller_join_seconds) == (
        None, 0.0, None,
    )  # fmt: skip
    assert (record.agent_joined_at, record.ended_at) == (JOINED, JOINED + timedelta(seconds=60))


def test_the_call_starts_when_the_caller_answers_and_its_limits_count_from_there() -> None:
    """Joined at 4.2 s, audio up at 6.0 s: the 600 s limit fires at 606.0 s, not at 600 s."""
    clock, session, call = waiting_call(max_duration=600.0)
    clock.advance(4.2)
    call.on_participant_joined(CALLER)
    clock.advance(1.8)
    call.start()
    clock.advance(599.999)  # t = 605.999: the join timer (60 s) never fired either
    assert not call.is_ending
    clock.run_until_idle()
    record = call.record
    assert record is not None
    assert record.reason is EndReason.MAX_DURATION
    assert session.said[0][0] == pytest.approx(606.0)
    assert record.started_at == JOINED + timedelta(seconds=6.0)
    assert record.caller_join_seconds == 6.0
    assert record.duration_seconds == pytest.approx(600.0 + 2.0)  # + the 2 s goodbye


def test_silence_counts_from_the_answer_not_from_the_agents_arrival() -> None:
    clock, session, call = waiting_call(silence=True)
    clock.advance(30.0)  # 30 s of "silence" before anyone is there: not the caller's
    assert session.said == []
    call.on_participant_joined(CALLER)
    call.start()
    clock.advance(7.5)
    assert session.said == [(37.5, "It seems you've stepped away. I'll end the call now. Goodbye!")]


def test_a_caller_who_joins_but_whose_audio_never_comes_is_no_answer_too() -> None:
    clock, session, call = waiting_call(join_timeout=20.0)
    clock.advance(3.0)
    call.on_participant_joined(CALLER)
    clock.run_until_idle()
    assert (call.end_reason, call.end_detail) == (EndReason.NO_ANSWER, CALLER_AUDIO_NOT_RECEIVED)
    assert session.hang_ups == [20.0]
    assert session.said == []


def test_a_caller_leaving_while_the_agent_waits_is_a_hang_up_of_a_call_never_started() -> None:
    clock, session, call = waiting_call()
    clock.advance(1.0)
    call.on_participant_joined(CALLER)
    clock.advance(2.0)
    call.on_participant_left(CALLER.identity, "CLIENT_INITIATED")
    clock.run_until_idle()  # the join timer was cancelled with the end: one hang-up, at 3 s
    record = call.record
    assert record is not None
    assert (record.reason, record.detail) == (EndReason.USER_HANGUP, "CLIENT_INITIATED")
    assert session.hang_ups == [3.0]
    assert (record.started_at, record.duration_seconds) == (None, 0.0)
    [visit] = record.participants
    assert (visit.identity, visit.role, visit.disconnect_reason) == (
        "web-caller", "caller", "CLIENT_INITIATED",
    )  # fmt: skip
    assert (visit.joined_at, visit.left_at) == (
        JOINED + timedelta(seconds=1), JOINED + timedelta(seconds=3),
    )  # fmt: skip


def test_observers_come_and_go_without_effect_and_are_kept() -> None:
    clock, _session, call = waiting_call()
    call.on_participant_joined(RoomParty("recorder", "egress"))  # never the caller
    clock.advance(1.0)
    call.on_participant_joined(CALLER)
    call.start()
    clock.advance(2.0)
    call.on_participant_joined(RoomParty("supervisor", "standard"))  # after the caller
    clock.advance(5.0)
    call.on_participant_left("supervisor", "CLIENT_INITIATED")
    call.on_participant_left("recorder", "SIGNAL_CLOSE")
    call.on_participant_left("someone-never-seen", "CLIENT_INITIATED")
    assert not call.is_ending
    clock.advance(2.0)
    call.on_participant_left(CALLER.identity, "CLIENT_INITIATED")
    record = call.record
    assert record is not None
    assert record.reason is EndReason.USER_HANGUP
    assert record.duration_seconds == 9.0
    assert [
        (v.identity, v.kind, v.role, v.disconnect_reason, (v.joined_at - JOINED).seconds)
        for v in record.participants
    ] == [
        ("recorder", "egress", "observer", "SIGNAL_CLOSE", 0),
        ("web-caller", "standard", "caller", "CLIENT_INITIATED", 1),
        ("supervisor", "standard", "observer", "CLIENT_INITIATED", 3),
    ]


def test_the_first_accepted_participant_stays_the_caller() -> None:
    _, _, call = waiting_call()
    call.on_participant_joined(RoomParty("first", "standard"))
    call.on_participant_joined(RoomParty("first", "standard"))  # reported twice: one visit
    call.on_participant_joined(RoomParty("second", "standard"))
    assert call.caller == RoomParty("first", "standard")
    assert [v.role for v in call.parties.visits] == ["caller", "observer"]


def test_a_named_caller_is_bound_by_identity_whoever_comes_first() -> None:
    clock = VirtualClock()
    call = CallLifecycle(clock, ScriptedSession(clock), caller_rule=CallerRule(identity="user-42"))
    call.on_participant_joined(RoomParty("sip_+31612345678", "sip"))
    call.on_participant_joined(RoomParty("user-42", "standard"))
    assert call.caller is not None
    assert call.caller.identity == "user-42"


def test_an_avatar_publishing_for_this_agent_is_not_the_caller() -> None:
    clock = VirtualClock()
    rule = CallerRule(agent_identity="agent-1")
    call = CallLifecycle(clock, ScriptedSession(clock), caller_rule=rule)
    call.on_participant_joined(RoomParty("avatar", "standard", {"lk.publish_on_behalf": "agent-1"}))
    call.on_participant_joined(CALLER)
    assert call.caller == CALLER


def test_a_lost_connection_ends_the_call_as_an_error_at_once() -> None:
    clock, session, call = waiting_call()
    call.on_participant_joined(CALLER)
    call.start()
    session.agent_reply("Let me look that up for you, one moment please.", seconds=6.0)
    clock.advance(2.0)
    call.on_participant_left(CALLER.identity, "CONNECTION_TIMEOUT")
    record = call.record
    assert record is not None
    assert (record.reason, record.detail) == (EndReason.ERROR, CONNECTION_LOST)
    assert session.interrupts == [2.0]  # the reply is cut: nobody hears it
    assert session.hang_ups == [2.0]


def test_a_lost_connection_during_a_goodbye_hangs_up_at_once_keeping_the_reason() -> None:
    clock, session, call = waiting_call(max_duration=30.0)
    call.on_participant_joined(CALLER)
    call.start()
    clock.advance(30.5)  # the limit's goodbye is playing (2 s lines)
    assert call.end_reason is EndReason.MAX_DURATION
    assert not call.is_ended
    call.on_participant_left(CALLER.identity, "SIGNAL_CLOSE")
    assert call.is_ended
    assert session.hang_ups == [30.5]
    assert call.end_reason is EndReason.MAX_DURATION


def test_the_join_timeout_is_the_calls_own() -> None:
    clock, session, call = waiting_call(join_timeout=5.0)
    clock.run_until_idle()
    assert session.hang_ups == [5.0]
    assert call.end_detail == CALLER_DID_NOT_JOIN


def test_an_answered_call_before_the_wait_started_never_arms_the_timer() -> None:
    clock = VirtualClock()
    session = ScriptedSession(clock)
    call = CallLifecycle(clock, session, LifecycleSettings(join_timeout_seconds=5.0))
    call.on_participant_joined(CALLER)
    call.start()
    call.await_caller()  # an outbound call's wait after the answer is already over
    clock.advance(60.0)
    assert not call.is_ending


# -- the disconnect table ------------------------------------------------------------------------


def test_the_table_knows_every_disconnect_reason_livekit_has() -> None:
    livekit = set(rtc.DisconnectReason.keys())
    assert set(CALLER_DISCONNECTS) == livekit


@pytest.mark.parametrize(
    ("reason", "end_reason", "detail"),
    [
        ("CLIENT_INITIATED", EndReason.USER_HANGUP, "CLIENT_INITIATED"),
        ("PARTICIPANT_REMOVED", EndReason.USER_HANGUP, "PARTICIPANT_REMOVED"),
        ("ROOM_DELETED", EndReason.USER_HANGUP, "room_deleted"),
        ("USER_REJECTED", EndReason.NO_ANSWER, "USER_REJECTED"),
        ("SIGNAL_CLOSE", EndReason.ERROR, CONNECTION_LOST),
        ("CONNECTION_TIMEOUT", EndReason.ERROR, CONNECTION_LOST),
        ("MEDIA_FAILURE", EndReason.ERROR, CONNECTION_LOST),
        ("JOIN_FAILURE", EndReason.ERROR, CONNECTION_LOST),
        ("SIP_TRUNK_FAILURE", EndReason.ERROR, CONNECTION_LOST),
        ("A_REASON_FROM_A_NEWER_LIVEKIT", EndReason.USER_HANGUP, "A_REASON_FROM_A_NEWER_LIVEKIT"),
    ],
)
def test_a_caller_leaving_ends_the_call_as_the_table_says(
    reason: str, end_reason: EndReason, detail: str
) -> None:
    outcome = caller_disconnected(reason)
    assert (outcome.reason, outcome.detail) == (end_reason, detail)
    _clock, _, call = waiting_call()
    call.on_participant_joined(CALLER)
    call.start()
    call.on_participant_left(CALLER.identity, reason)
    assert (call.end_reason, call.end_detail) == (end_reason, detail)


def test_only_client_removal_and_room_reasons_are_hang_ups() -> None:
    hang_ups = {name for name, d in CALLER_DISCONNECTS.items() if d.reason is EndReason.USER_HANGUP}
    assert hang_ups == {
        "CLIENT_INITIATED", "UNKNOWN_REASON", "PARTICIPANT_REMOVED", "ROOM_DELETED", "ROOM_CLOSED",
    }  # fmt: skip


def test_the_agents_own_room_going_away() -> None:
    deleted = agent_disconnected("ROOM_DELETED")
    assert (deleted.reason, deleted.detail) == (EndReason.USER_HANGUP, "room_deleted")
    lost = agent_disconnected("SIGNAL_CLOSE")
    assert (lost.reason, lost.detail) == (EndReason.ERROR, "room: disconnected: SIGNAL_CLOSE")
