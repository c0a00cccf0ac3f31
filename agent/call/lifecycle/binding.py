"""Connect a ``CallLifecycle`` to livekit: session and room events in, speech and hang-up out.

The lifecycle itself knows nothing of livekit; this module is the thin translation layer
(livekit-agents 1.8.9 event names and fields, read from ``voice/events.py``):

- ``AgentSession`` events -> lifecycle calls: ``agent_state_changed``, ``user_state_changed``,
  ``user_input_transcribed``, ``conversation_item_added`` (assistant lines, for end
  phrases), ``tool_execution_updated`` / ``function_tools_executed`` (tool start / end),
  ``speech_created`` (playout end via the handle), ``error`` (logged only: the session itself
  retries and closes after ``max_unrecoverable_errors``), ``close`` (a fallback end reason
  when the session closes before the lifecycle decided one).
- ``rtc.Room`` events: every ``participant_connected`` / ``participant_disconnected`` (the
  lifecycle binds the caller by identity and ends the call only when the caller leaves, per the
  disconnect table; RoomIO does not close on all reasons) and the room's own ``disconnected``.
- ``SessionActions`` implements ``LifecycleActions`` with ``session.say``,
  ``session.interrupt(force=True)`` and a hang-up callback (the room's ``hang_up``: the job's
  deletes the room), since closing the session does not end the call.

Wired once, by the composition root and the call it builds (agent/call/assemble.py,
agent/call/live_call.py, agent/call/room.py):

    lifecycle = CallLifecycle(clock, SessionActions(session, hang_up=room.hang_up), settings)
    unbind_room = bind_room(lifecycle, ctx.room)                         # LiveKitRoom.join
    unbind_session = bind_session(lifecycle, session)                    # LiveCall.start
    await session.start(...)
    lifecycle.start()
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from typing import Any

import structlog
from livekit import rtc
from livekit.agents import AgentSession
from livekit.agents.llm import ChatMessage
from livekit.agents.voice.events import (
    AgentStateChangedEvent,
    CloseEvent,
    CloseReason,
    ConversationItemAddedEvent,
    ErrorEvent,
    FunctionToolsExecutedEvent,
    SpeechCreatedEvent,
    ToolCallEnded,
    ToolCallStarted,
    ToolExecutionUpdatedEvent,
    UserInputTranscribedEvent,
    UserStateChangedEvent,
)

from agent.call.lifecycle.actions import SpokenLine
from agent.call.lifecycle.call import CallLifecycle
from agent.call.lifecycle.parties import PartyKind, RoomParty
from agent.contracts.end_reason import EndReason

log = structlog.get_logger(__name__)

Unbind = Callable[[], None]

_KINDS: dict[int, PartyKind] = {
    rtc.ParticipantKind.PARTICIPANT_KIND_STANDARD: "standard",
    rtc.ParticipantKind.PARTICIPANT_KIND_INGRESS: "ingress",
    rtc.ParticipantKind.PARTICIPANT_KIND_EGRESS: "egress",
    rtc.ParticipantKind.PARTICIPANT_KIND_SIP: "sip",
    rtc.ParticipantKind.PARTICIPANT_KIND_AGENT: "agent",
    rtc.ParticipantKind.PARTICIPANT_KIND_CONNECTOR: "connector",
    rtc.ParticipantKind.PARTICIPANT_KIND_BRIDGE: "bridge",
}

_DETAIL_LIMIT = 300
"""Characters of a provider error kept in ``end_detail``: enough to name it, not a dump."""


class SessionActions:
    """``LifecycleActions`` on a livekit ``AgentSession``."""

    def __init__(self, session: AgentSession[Any], *, hang_up: Callable[[], None]) -> None:
        self._session = session
        self._hang_up = hang_up

    def say(self, text: str, *, allow_interruptions: bool) -> SpokenLine:
        # Raises RuntimeError when the session is not running; the lifecycle then hangs up.
        handle: SpokenLine = self._session.say(text, allow_interruptions=allow_interruptions)
        return handle

    def interrupt(self) -> None:
        # force: a line spoken with allow_interruptions=False must not hold the call past its limit
        done = self._session.interrupt(force=True)
        done.add_done_callback(_consume_result)

    def hang_up(self) -> None:
        self._hang_up()


def _consume_result(future: asyncio.Future[None]) -> None:
    if not future.cancelled() and future.exception() is not None:
        log.warning("interrupt_failed", error=repr(future.exception()))


def bind_session(lifecycle: CallLifecycle, session: AgentSession[Any]) -> Unbind:
    """Feed ``session`` events to ``lifecycle``; returns a function that detaches them."""

    def on_agent_state(ev: AgentStateChangedEvent) -> None:
        lifecycle.on_agent_state(ev.new_state)

    def on_user_state(ev: UserStateChangedEvent) -> None:
        lifecycle.on_user_state(ev.new_state)

    def on_transcribed(ev: UserInputTranscribedEvent) -> None:
        lifecycle.on_user_transcript(ev.transcript, ev.is_final)

    def on_item_added(ev: ConversationItemAddedEvent) -> None:
        item = ev.item
        if isinstance(item, ChatMessage) and item.role == "assistant":
            lifecycle.on_agent_speech_committed(item.text_content or "")

    def on_tool_update(ev: ToolExecutionUpdatedEvent) -> None:
        update = ev.update
        if isinstance(update, ToolCallStarted):
            lifecycle.on_tool_started(update.function_call.call_id)
        elif isinstance(update, ToolCallEnded):
            lifecycle.on_tool_finished(update.call_id)

    def on_tools_executed(ev: FunctionToolsExecutedEvent) -> None:
        # A safety net: finishing an already finished call is a no-op.
        for call in ev.function_calls:
            lifecycle.on_tool_finished(call.call_id)

    def on_speech_created(ev: SpeechCreatedEvent) -> None:
        ev.speech_handle.add_done_callback(lambda _handle: lifecycle.on_playout_finished())

    def on_error(ev: ErrorEvent) -> None:
        recoverable = bool(getattr(ev.error, "recoverable", False))
        log.warning(
            "session_error",
            component=_component(getattr(ev.error, "type", None), ev.source),
            recoverable=recoverable,
        )

    def on_close(ev: CloseEvent) -> None:
        if lifecycle.is_ending:
            return
        _end_from_close(lifecycle, ev)

    handlers: list[tuple[str, Callable[[Any], None]]] = [
        ("agent_state_changed", on_agent_state),
        ("user_state_changed", on_user_state),
        ("user_input_transcribed", on_transcribed),
        ("conversation_item_added", on_item_added),
        ("tool_execution_updated", on_tool_update),
        ("function_tools_executed", on_tools_executed),
        ("speech_created", on_speech_created),
        ("error", on_error),
        ("close", on_close),
    ]
    for event, handler in handlers:
        session.on(event, handler)  # type: ignore[arg-type]
    # The session may already be past "initializing": start from its current states.
    lifecycle.on_agent_state(session.agent_state)
    lifecycle.on_user_state(session.user_state)

    def unbind() -> None:
        for event, handler in handlers:
            session.off(event, handler)  # type: ignore[arg-type]

    return unbind


def _end_from_close(lifecycle: CallLifecycle, ev: CloseEvent) -> None:
    """The session closed before the lifecycle decided: name the cause as best we can."""
    if ev.reason is CloseReason.ERROR:
        error = ev.error
        component = _component(getattr(error, "type", None), None)
        cause = getattr(error, "error", None)
        label = getattr(error, "label", "")
        detail = f"{label} {type(cause).__name__}: {cause}" if cause is not None else "closed"
        lifecycle.on_error(component, detail.strip()[:_DETAIL_LIMIT])
    elif ev.reason is CloseReason.PARTICIPANT_DISCONNECTED:
        lifecycle.on_caller_left("participant_disconnected")
    elif ev.reason is CloseReason.JOB_SHUTDOWN:
        lifecycle.on_worker_shutdown()
    elif ev.reason is CloseReason.TASK_COMPLETED:
        lifecycle.request_end(EndReason.AGENT_HANGUP, "task_completed")
    else:  # USER_INITIATED: someone closed the session without going through the lifecycle
        lifecycle.on_error("session", f"closed: {ev.reason.value}")


def _component(error_type: object, source: object) -> str:
    """ "llm_error" -> "llm"; otherwise the source's class name, lower-cased."""
    if isinstance(error_type, str) and error_type.endswith("_error"):
        return error_type.removesuffix("_error")
    return type(source).__name__.lower() if source is not None else "session"


def rtc_kinds(kinds: Iterable[PartyKind]) -> list[rtc.ParticipantKind.ValueType]:
    """Our kind names as livekit's ``ParticipantKind`` values (RoomIO's participant_kinds)."""
    by_name = {name: value for value, name in _KINDS.items()}
    return [
        rtc.ParticipantKind.ValueType(by_name[kind]) for kind in sorted(kinds) if kind in by_name
    ]


def party_of(participant: rtc.RemoteParticipant) -> RoomParty:
    """A livekit participant as the lifecycle sees one (identity, kind, attributes)."""
    kind = _KINDS.get(int(participant.kind), "other")
    return RoomParty(participant.identity, kind, dict(participant.attributes))


def reason_name(reason: object) -> str:
    """livekit's ``DisconnectReason`` value as its name (``CLIENT_INITIATED``, ...)."""
    try:
        return rtc.DisconnectReason.Name(reason)  # type: ignore[arg-type]
    except (ValueError, TypeError):
        return "UNKNOWN_REASON"


def bind_room(lifecycle: CallLifecycle, room: rtc.Room) -> Unbind:
    """Feed the room's participants to the lifecycle: everyone already there and everyone
    joining (the lifecycle binds the caller, parties.py), everyone leaving with LiveKit's reason
    (only the caller's ends the call, disconnects.py), and the agent's own disconnection.
    Returns a detach function."""

    def on_participant_connected(participant: rtc.RemoteParticipant) -> None:
        lifecycle.on_participant_joined(party_of(participant))

    def on_participant_disconnected(participant: rtc.RemoteParticipant) -> None:
        lifecycle.on_participant_left(
            participant.identity, reason_name(participant.disconnect_reason)
        )

    def on_disconnected(reason: rtc.DisconnectReason.ValueType) -> None:
        # Our own hang-up disconnects too; by then the end is decided and this is ignored.
        lifecycle.on_agent_disconnected(reason_name(reason))

    room.on("participant_connected", on_participant_connected)
    room.on("participant_disconnected", on_participant_disconnected)
    room.on("disconnected", on_disconnected)
    for participant in list(room.remote_participants.values()):
        on_participant_connected(participant)

    def unbind() -> None:
        room.off("participant_connected", on_participant_connected)
        room.off("participant_disconnected", on_participant_disconnected)
        room.off("disconnected", on_disconnected)

    return unbind
