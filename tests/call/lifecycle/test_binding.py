"""The livekit binding: real AgentSession and rtc.Room objects, events emitted as livekit does.

The session is never started (no providers, no server): the tests emit the framework's own
event models on it, exactly as livekit-agents 1.8.9 would, and check that the lifecycle
reacts. Not covered here: ``SessionActions`` (``say``/``interrupt`` need a running session)
and ``speech_created`` (a ``SpeechHandle`` only completes inside a running session); those
belong to the offline-session tests of the session layer.

The tests are async only because AgentSession and rtc.Room bind to the running event loop
when they are built; all timing is on the virtual clock.
"""

from __future__ import annotations

import time

from livekit import rtc
from livekit.agents import AgentSession
from livekit.agents.llm import ChatMessage, FunctionCall, FunctionCallOutput
from livekit.agents.tts import TTSError
from livekit.agents.voice.events import (
    AgentStateChangedEvent,
    CloseEvent,
    CloseReason,
    ConversationItemAddedEvent,
    FunctionToolsExecutedEvent,
    ToolCallEnded,
    ToolCallStarted,
    ToolExecutionUpdatedEvent,
    UserInputTranscribedEvent,
    UserStateChangedEvent,
)
from livekit.rtc._proto import handle_pb2, participant_pb2

from agent.call.lifecycle import WORKER_SHUTDOWN, CallerRule, CallLifecycle, LifecycleSettings
from agent.call.lifecycle.binding import bind_room, bind_session
from agent.clock import VirtualClock
from agent.contracts.end_reason import EndReason
from tests.support.lifecycle_fakes import ScriptedSession

PROMPT = "Are you still there?"


def _call(
    *, end_call_phrases: list[str] | None = None
) -> tuple[VirtualClock, ScriptedSession, CallLifecycle, AgentSession[None]]:
    clock = VirtualClock()
    actions = ScriptedSession(clock)  # records only: not wired back into the lifecycle
    call = CallLifecycle(
        clock, actions, LifecycleSettings(end_call_phrases=end_call_phrases or ["goodbye"])
    )
    session: AgentSession[None] = AgentSession()
    bind_session(call, session)
    call.start()
    return clock, actions, call, session


def _agent(session: AgentSession[None], old: str, new: str) -> None:
    session.emit("agent_state_changed", AgentStateChangedEvent(old_state=old, new_state=new))  # type: ignore[arg-type]


def _said(message: ChatMessage) -> ConversationItemAddedEvent:
    return ConversationItemAddedEvent(item=message)


async def test_binding_starts_from_the_sessions_current_state() -> None:
    clock, actions, _, _ = _call()
    clock.advance(60.0)  # a fresh session is "initializing": the silence clock waits
    assert actions.said == []


async def test_agent_state_events_drive_the_silence_clock() -> None:
    clock, actions, _, session = _call()
    _agent(session, "initializing", "listening")
    clock.advance(7.5)
    assert actions.said == [(7.5, PROMPT)]


async def test_agent_speaking_pauses_the_silence_clock() -> None:
    clock, actions, _, session = _call()
    _agent(session, "initializing", "speaking")
    clock.advance(30.0)
    _agent(session, "speaking", "listening")
    clock.advance(7.5)
    assert actions.said == [(37.5, PROMPT)]


async def test_user_speech_and_final_words_reset_the_stage() -> None:
    clock, _actions, call, session = _call()
    _agent(session, "initializing", "listening")
    clock.advance(7.5)
    assert call.silence.stage == 1
    session.emit(
        "user_state_changed", UserStateChangedEvent(old_state="listening", new_state="speaking")
    )
    session.emit(
        "user_input_transcribed", UserInputTranscribedEvent(transcript="yes", is_final=True)
    )
    session.emit(
        "user_state_changed", UserStateChangedEvent(old_state="speaking", new_state="listening")
    )
    assert call.silence.stage == 0


async def test_tool_execution_events_pause_and_resume_the_silence_clock() -> None:
    clock, actions, _, session = _call()
    _agent(session, "initializing", "listening")
    call_a = FunctionCall(call_id="call_a", name="book_table", arguments="{}")
    call_b = FunctionCall(call_id="call_b", name="book_table", arguments="{}")
    session.emit(
        "tool_execution_updated",
        ToolExecutionUpdatedEvent(update=ToolCallStarted(function_call=call_a)),
    )
    session.emit(
        "tool_execution_updated",
        ToolExecutionUpdatedEvent(update=ToolCallStarted(function_call=call_b)),
    )
    clock.advance(20.0)
    session.emit(
        "tool_execution_updated",
        ToolExecutionUpdatedEvent(
            update=ToolCallEnded(id="call_a", call_id="call_a", status="done")
        ),
    )
    clock.advance(20.0)
    assert actions.said == []
    output = FunctionCallOutput(call_id="call_b", name="book_table", output="ok", is_error=False)
    session.emit(
        "function_tools_executed",
        FunctionToolsExecutedEvent(function_calls=[call_b], function_call_outputs=[output]),
    )
    clock.advance(7.5)
    assert actions.said == [(47.5, PROMPT)]


async def test_assistant_end_phrase_ends_the_call_but_the_callers_does_not() -> None:
    _, actions, call, session = _call()
    session.emit(
        "conversation_item_added", _said(ChatMessage(role="user", content=["okay goodbye"]))
    )
    assert not call.is_ending
    session.emit(
        "conversation_item_added",
        _said(ChatMessage(role="assistant", content=["Thanks for calling, goodbye!"])),
    )
    assert call.end_reason is EndReason.AGENT_HANGUP
    assert call.end_detail == "end_call_phrase"
    assert len(actions.hang_ups) == 1


async def test_session_closing_on_an_unrecoverable_error_ends_with_the_component() -> None:
    _, actions, call, session = _call()
    error = TTSError(
        timestamp=time.time(),
        label="elevenlabs.TTS",
        error=ConnectionError("connection refused"),
        recoverable=False,
    )
    session.emit("close", CloseEvent(reason=CloseReason.ERROR, error=error))
    assert call.end_reason is EndReason.ERROR
    assert call.end_detail == "tts: elevenlabs.TTS ConnectionError: connection refused"
    assert len(actions.hang_ups) == 1


async def test_session_closing_on_job_shutdown_is_a_worker_shutdown() -> None:
    _, _, call, session = _call()
    session.emit("close", CloseEvent(reason=CloseReason.JOB_SHUTDOWN))
    assert call.end_reason is EndReason.ERROR
    assert call.end_detail == WORKER_SHUTDOWN


async def test_session_close_after_the_end_changes_nothing() -> None:
    _, actions, call, session = _call()
    call.on_caller_left("CLIENT_INITIATED")
    session.emit("close", CloseEvent(reason=CloseReason.USER_INITIATED))
    assert call.end_reason is EndReason.USER_HANGUP
    assert call.ignored_requests == ()
    assert len(actions.hang_ups) == 1


async def test_unbound_session_events_no_longer_reach_the_lifecycle() -> None:
    clock = VirtualClock()
    actions = ScriptedSession(clock)
    call = CallLifecycle(clock, actions)
    session: AgentSession[None] = AgentSession()
    unbind = bind_session(call, session)
    unbind()
    session.emit("close", CloseEvent(reason=CloseReason.JOB_SHUTDOWN))
    assert not call.is_ending


def _participant(
    identity: str,
    reason: participant_pb2.DisconnectReason.ValueType,
    kind: participant_pb2.ParticipantKind.ValueType = participant_pb2.PARTICIPANT_KIND_STANDARD,
) -> rtc.RemoteParticipant:
    info = participant_pb2.ParticipantInfo(identity=identity, kind=kind, disconnect_reason=reason)
    owned = participant_pb2.OwnedParticipant(handle=handle_pb2.FfiOwnedHandle(id=0), info=info)
    return rtc.RemoteParticipant(owned)


def _joins(room: rtc.Room, *participants: rtc.RemoteParticipant) -> None:
    for participant in participants:
        room.emit("participant_connected", participant)


def _leaves(room: rtc.Room, participant: rtc.RemoteParticipant) -> None:
    room.emit("participant_disconnected", participant)


_NOT_GONE = rtc.DisconnectReason.UNKNOWN_REASON
"""A participant still in the room has no disconnect reason yet (livekit reports 0)."""


async def test_only_the_bound_caller_leaving_ends_the_call() -> None:
    clock = VirtualClock()
    actions = ScriptedSession(clock)
    call = CallLifecycle(clock, actions, caller_rule=CallerRule(identity="caller-1"))
    room = rtc.Room()
    bind_room(call, room)
    _joins(room, _participant("someone-else", _NOT_GONE), _participant("caller-1", _NOT_GONE))
    assert call.caller is not None
    assert call.caller.identity == "caller-1"
    _leaves(room, _participant("someone-else", rtc.DisconnectReason.CLIENT_INITIATED))
    assert not call.is_ending
    _leaves(room, _participant("caller-1", rtc.DisconnectReason.PARTICIPANT_REMOVED))
    assert call.end_reason is EndReason.USER_HANGUP
    assert call.end_detail == "PARTICIPANT_REMOVED"
    assert [(v.identity, v.role, v.disconnect_reason) for v in call.parties.visits] == [
        ("someone-else", "observer", "CLIENT_INITIATED"),
        ("caller-1", "caller", "PARTICIPANT_REMOVED"),
    ]


async def test_a_web_caller_is_the_first_standard_participant_not_an_agent_or_recorder() -> None:
    clock = VirtualClock()
    call = CallLifecycle(clock, ScriptedSession(clock), caller_rule=CallerRule())
    room = rtc.Room()
    bind_room(call, room)
    agent_kind = participant_pb2.PARTICIPANT_KIND_AGENT
    egress_kind = participant_pb2.PARTICIPANT_KIND_EGRESS
    _joins(
        room,
        _participant("other-agent", _NOT_GONE, agent_kind),
        _participant("recorder", _NOT_GONE, egress_kind),
        _participant("web-caller", _NOT_GONE),
        _participant("supervisor", _NOT_GONE),
    )
    assert call.caller is not None
    assert (call.caller.identity, call.caller.kind) == ("web-caller", "standard")
    for observer in ("other-agent", "recorder", "supervisor"):
        _leaves(room, _participant(observer, rtc.DisconnectReason.CLIENT_INITIATED))
    assert not call.is_ending
    _leaves(room, _participant("web-caller", rtc.DisconnectReason.CLIENT_INITIATED))
    assert call.end_detail == "CLIENT_INITIATED"


async def test_a_phone_caller_is_the_first_sip_participant() -> None:
    clock = VirtualClock()
    call = CallLifecycle(
        clock, ScriptedSession(clock), caller_rule=CallerRule(kinds=frozenset({"sip"}))
    )
    room = rtc.Room()
    bind_room(call, room)
    sip_kind = participant_pb2.PARTICIPANT_KIND_SIP
    _joins(
        room,
        _participant("browser-user", _NOT_GONE),
        _participant("sip_+3161", _NOT_GONE, sip_kind),
    )
    assert call.caller is not None
    assert (call.caller.identity, call.caller.kind) == ("sip_+3161", "sip")


async def test_a_caller_whose_connection_was_lost_ends_the_call_as_an_error() -> None:
    clock = VirtualClock()
    call = CallLifecycle(clock, ScriptedSession(clock))
    room = rtc.Room()
    bind_room(call, room)
    _joins(room, _participant("web-caller", _NOT_GONE))
    call.start()
    clock.advance(30.0)
    _leaves(room, _participant("web-caller", rtc.DisconnectReason.SIGNAL_CLOSE))
    assert (call.end_reason, call.end_detail) == (EndReason.ERROR, "connection_lost")
    assert call.duration_seconds == 30.0


async def test_unbound_room_events_no_longer_reach_the_lifecycle() -> None:
    clock = VirtualClock()
    call = CallLifecycle(clock, ScriptedSession(clock))
    room = rtc.Room()
    unbind = bind_room(call, room)
    unbind()
    _joins(room, _participant("web-caller", _NOT_GONE))
    room.emit("disconnected", rtc.DisconnectReason.ROOM_DELETED)
    assert call.caller is None
    assert not call.is_ending


async def test_room_deleted_and_other_room_disconnects() -> None:
    clock = VirtualClock()
    deleted = CallLifecycle(clock, ScriptedSession(clock))
    room = rtc.Room()
    bind_room(deleted, room)
    room.emit("disconnected", rtc.DisconnectReason.ROOM_DELETED)
    assert deleted.end_reason is EndReason.USER_HANGUP
    assert deleted.end_detail == "room_deleted"

    dropped = CallLifecycle(clock, ScriptedSession(clock))
    other_room = rtc.Room()
    bind_room(dropped, other_room)
    other_room.emit("disconnected", rtc.DisconnectReason.SIGNAL_CLOSE)
    assert dropped.end_reason is EndReason.ERROR
    assert dropped.end_detail == "room: disconnected: SIGNAL_CLOSE"
