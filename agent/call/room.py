"""Where a call's audio and room events come from: the ``CallRoom`` protocol, and LiveKit's room.

Besides the vendors, the room is the one thing the job and the simulator give the composition
root (agent/call/assemble.py) differently:

- :class:`LiveKitRoom` (here): the job's room. ``join`` connects and feeds the room's events to
  the call: the caller leaving or the room being deleted (``bind_room`` -> lifecycle), who the
  caller is and their key presses (``PhoneLine.attach_room``), control packets
  (``ControlChannel.attach``). ``start_session`` starts the session on RoomIO; ``hang_up``
  deletes the room, which drops a web caller and the SIP leg.
- ``agent.simulator.room.SimulatedCallRoom``: the same four, with a scripted caller's audio, the
  scenario's caller party, and control packets and key presses from the script.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Protocol

import structlog
from livekit.agents import Agent, AgentSession, JobContext
from livekit.agents.voice.room_io import RoomOptions, TextOutputOptions

from agent.call.control.channel import ControlChannel
from agent.call.lifecycle.binding import bind_room
from agent.call.lifecycle.call import CallLifecycle
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
        """Start ``session`` with ``agent`` on this room's audio."""

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
        unbind = [bind_room(lifecycle, room, caller_identity=None), phone.attach_room(room)]
        control.attach(room)
        unbind.append(control.detach)

        def detach() -> None:
            for undo in unbind:
                undo()

        return detach

    async def start_session(self, session: AgentSession[Any], agent: Agent) -> None:
        await session.start(
            agent=agent,
            room=self._ctx.room,
            room_options=RoomOptions(
                text_output=TextOutputOptions(sync_transcription=True),
                close_on_disconnect=False,  # the lifecycle decides, for every disconnect reason
            ),
        )

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
