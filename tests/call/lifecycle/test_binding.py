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

from agent.call.lifecycle import WORKER_SHUTDOWN, CallLifecycle, LifecycleSettings
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
    call.on_participant_left("CLIENT_INITIATED")
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


async def test_the_caller_leaving_for_any_reason_is_a_user_hangup() -> None:
    clock = VirtualClock()
    actions = ScriptedSession(clock)
    call = CallLifecycle(clock, actions)
    room = rtc.Room()
    bind_room(call, room, caller_identity="caller-1")
    room.emit(
        "participant_disconnected",
        _participant("someone-else", rtc.DisconnectReason.CLIENT_INITIATED),
    )
    assert not call.is_ending
    room.emit(
        "participant_disconnected",
        _participant("caller-1", rtc.DisconnectReason.PARTICIPANT_REMOVED),
    )
    assert call.end_reason is EndReason.USER_HANGUP
    assert call.end_detail == "PARTICIPANT_REMOVED"


async def test_without_a_known_identity_agents_leaving_are_not_the_caller() -> None:
    clock = VirtualClock()
    call = CallLifecycle(clock, ScriptedSession(clock))
    room = rtc.Room()
    bind_room(call, room, caller_identity=None)
    agent_kind = participant_pb2.PARTICIPANT_KIND_AGENT
    room.emit(
        "participant_disconnected",
        _participant("other-agent", rtc.DisconnectReason.CLIENT_INITIATED, agent_kind),
    )
    assert not call.is_ending
    room.emit(
        "participant_disconnected",
        _participant("web-caller", rtc.DisconnectReason.CLIENT_INITIATED),
    )
    assert call.end_detail == "CLIENT_INITIATED"


async def test_room_deleted_and_other_room_disconnects() -> None:
    clock = VirtualClock()
    deleted = CallLifecycle(clock, ScriptedSession(clock))
    room = rtc.Room()
    bind_room(deleted, room, caller_identity="caller-1")
    room.emit("disconnected", rtc.DisconnectReason.ROOM_DELETED)
    assert deleted.end_reason is EndReason.USER_HANGUP
    assert deleted.end_detail == "room_deleted"

    dropped = CallLifecycle(clock, ScriptedSession(clock))
    other_room = rtc.Room()
    bind_room(dropped, other_room, caller_identity="caller-1")
    other_room.emit("disconnected", rtc.DisconnectReason.SIGNAL_CLOSE)
    assert dropped.end_reason is EndReason.ERROR
    assert dropped.end_detail == "room: disconnected: SIGNAL_CLOSE"
