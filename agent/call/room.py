"""Where a call's audio and room events come from: the ``CallRoom`` protocol, and LiveKit's room.

Besides the vendors, the room is the one thing the job and the simulator give the composition
root (agent/call/assemble.py) differently:

- :class:`LiveKitRoom` (here): the job's room. ``join`` connects and feeds the room's events to
  the call: everyone joining and leaving (``bind_room`` -> lifecycle, which binds the caller by
  identity and ends the call only when the caller leaves), the agent's own disconnection, key
  presses (``PhoneLine.attach_room``), control packets (``ControlChannel.attach``).
  ``start_session`` starts the session on RoomIO, linked to the participant the caller rule
  picks; ``caller_answered`` waits until the caller's audio is up both ways; ``hang_up``
  deletes the room, which drops a web caller and the SIP leg.
- ``agent.simulator.room.SimulatedCallRoom``: the same, with a scripted caller who joins (and
  observers who come and go) on the scenario's schedule, control packets and key presses from
  the script.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from typing import Any, Protocol

import structlog
from livekit import rtc
from livekit.agents import NOT_GIVEN, Agent, AgentSession, JobContext
from livekit.agents.voice.room_io import RoomOptions, TextOutputOptions

from agent.call.control.channel import ControlChannel
from agent.call.lifecycle.binding import bind_room, rtc_kinds
from agent.call.lifecycle.call import CallLifecycle
from agent.call.lifecycle.parties import CallerRule, RoomParty
from agent.call.telephony.phone_line import PhoneLine
from agent.call.telephony.sip import SipGateway

log = structlog.get_logger(__name__)

Unbind = Callable[[], None]


class CallRoom(Protocol):
    """The call's side of a room: audio in and out, its events, the hang-up."""

    aec_warmup: bool
    """Echo-cancellation warm-up (barge-ins ignored in the agent's first 3 s of speech): a
    real line echoes the agent back; a simulated caller never does."""
    close_transcript_timeout: float
    """How long the session's close waits for the last transcript to be published."""

    async def join(
        self, lifecycle: CallLifecycle, phone: PhoneLine, control: ControlChannel
    ) -> Unbind:
        """Be in the room and feed its events to the call (the caller joining and leaving,
        key presses, control packets); returns a function that stops feeding them."""

    async def start_session(self, session: AgentSession[Any], agent: Agent) -> None:
        """Start ``session`` with ``agent`` on this room's audio (the caller may not be there
        yet: nothing is said until the call is answered)."""

    async def caller_answered(self, caller: RoomParty) -> None:
        """Until ``caller``'s audio is up both ways: the agent hears them and they hear the
        agent, so the greeting is heard from its first word (the call's join timeout bounds
        this wait)."""

    async def publish_dtmf(self, code: int, digit: str) -> None:
        """Press a key on the line (the ``send_dtmf`` tool)."""

    def hang_up(self) -> None:
        """The lifecycle has ended the call: end the caller's line now (runs once)."""

    async def aclose(self) -> None:
        """Until the room is closed (hung up first if it was not)."""


class LiveKitRoom:
    """The job's room (``JobContext.room``), joined through the job's context."""

    aec_warmup = True
    close_transcript_timeout = 2.0

    def __init__(self, ctx: JobContext) -> None:
        self._ctx = ctx
        self._closing: asyncio.Task[None] | None = None
        self._rule = CallerRule()
        self._session: AgentSession[Any] | None = None

    def sip_gateway(self) -> SipGateway | None:
        """SIP through ``ctx.api`` (the worker exports LIVEKIT_URL and credentials to job
        processes). Without them there is no SIP: transfers are refused, outbound goes live
        without dialling."""
        try:
            return SipGateway(self._ctx.api, self._ctx.job.room.name)
        except ValueError as exc:  # LiveKitAPI without a URL or credentials
            log.warning("sip_unavailable", reason=str(exc))
            return None

    async def join(
        self, lifecycle: CallLifecycle, phone: PhoneLine, control: ControlChannel
    ) -> Unbind:
        await self._ctx.connect()  # a no-op when the config source already joined
        room = self._ctx.room
        # Connected, the agent knows its own identity: an avatar publishing on its behalf is
        # never taken for the caller.
        rule = dataclasses.replace(
            lifecycle.parties.rule, agent_identity=room.local_participant.identity
        )
        lifecycle.parties.rule = self._rule = rule
        unbind = [bind_room(lifecycle, room), phone.attach_room(room)]
        control.attach(room)
        unbind.append(control.detach)

        def detach() -> None:
            for undo in unbind:
                undo()

        return detach

    async def start_session(self, session: AgentSession[Any], agent: Agent) -> None:
        rule = self._rule
        self._session = session
        await session.start(
            agent=agent,
            room=self._ctx.room,
            room_options=RoomOptions(
                # RoomIO links to the participant our caller rule picks (parties.py): the
                # named identity, else the first of the caller kinds, as RoomIO itself would.
                participant_identity=rule.identity if rule.identity is not None else NOT_GIVEN,
                participant_kinds=rtc_kinds(rule.kinds) if rule.identity is None else NOT_GIVEN,
                text_output=TextOutputOptions(sync_transcription=True),
                close_on_disconnect=False,  # the lifecycle decides, for every disconnect reason
            ),
        )

    async def caller_answered(self, caller: RoomParty) -> None:
        if self._ctx.is_fake_job():
            # The framework's mock room (a fake job) carries no media and emits no events: its
            # participant being there is all the answer there can be.
            return
        assert self._session is not None, "start_session() first"
        room_io = self._session.room_io
        linked = room_io.linked_participant
        if linked is None or linked.identity != caller.identity:
            room_io.set_participant(caller.identity)  # the bound caller, whoever came first
        # The agent hears the caller: their microphone track is subscribed (auto-subscribe).
        await _audio_subscribed(self._ctx.room, caller.identity)
        # The caller hears the agent: RoomIO publishes our track once linked and resolves this
        # when it is subscribed (its capture_frame holds audio until then).
        subscribed = room_io.subscribed_fut
        if subscribed is not None:
            await asyncio.shield(subscribed)

    async def publish_dtmf(self, code: int, digit: str) -> None:
        await self._ctx.room.local_participant.publish_dtmf(code=code, digit=digit)

    def hang_up(self) -> None:
        if self._closing is None:
            self._closing = asyncio.get_running_loop().create_task(self._delete())

    async def aclose(self) -> None:
        self.hang_up()
        assert self._closing is not None
        await self._closing

    async def _delete(self) -> None:
        try:
            await self._ctx.delete_room()
        except Exception as exc:  # the room may already be gone; the call is over either way
            log.info("room_close_failed", error_type=type(exc).__name__)


async def _audio_subscribed(room: rtc.Room, identity: str) -> None:
    """Until the agent is subscribed to an audio track of participant ``identity``."""
    ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def on_track_subscribed(
        track: rtc.Track, _publication: rtc.RemoteTrackPublication, participant: rtc.Participant
    ) -> None:
        audio = track.kind == rtc.TrackKind.KIND_AUDIO
        if participant.identity == identity and audio and not ready.done():
            ready.set_result(None)

    room.on("track_subscribed", on_track_subscribed)
    try:
        participant = room.remote_participants.get(identity)
        if participant is not None and any(
            publication.kind == rtc.TrackKind.KIND_AUDIO and publication.subscribed
            for publication in participant.track_publications.values()
        ):
            return
        await ready
    finally:
        room.off("track_subscribed", on_track_subscribed)
