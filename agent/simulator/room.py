"""The simulated call's room: the ``CallRoom`` (agent/call/room.py) the simulator hands the
composition root in place of the job's LiveKit room.

Production gets four things from the room and the LiveKit server that a simulated call must
get from here, or its scenario could not test the production wiring:

- audio: the scripted caller's microphone, and the agent's audio and transcript played out on
  the call's clock (:class:`~.transport.SimulatedAudio`, assigned to the session's I/O as RoomIO
  would be);
- the participants: the caller (a SIP participant with ``sip.phoneNumber`` /
  ``sip.trunkPhoneNumber`` attributes when the scenario has ``phone``, else a web participant,
  ``WEB_IDENTITY``) joins on the scenario's ``join`` schedule, and its audio comes up (both
  ways: :meth:`~.transport.SimulatedAudio.caller_audio_up`) when the schedule says; observers
  join and leave on theirs. Each reaches the lifecycle as ``bind_room`` reports a participant
  joining or leaving, so the production binding decides who the caller is;
- the LiveKit server API for the REFER: a SIP caller's transfers go through the real
  :class:`~agent.call.telephony.sip.SipGateway` to an :mod:`offline server <.offline.sip>` on
  127.0.0.1, which answers per ``providers.sip_transfer``; a web caller has none (as a job
  without SIP), so a transfer is refused;
- room events: a scenario's ``control`` step goes to :meth:`ControlChannel.handle` with the
  sender the room would name (None for the server API), a ``dtmf`` step to the phone line's
  DTMF collector, key by key ``KEY_GAP_SECONDS`` apart, and a ``hangup`` (``CLIENT_INITIATED``)
  or ``disconnect`` (its reason) to the lifecycle as ``bind_room`` reports a participant leaving.

Everything past those inputs (tools, transfer path, control pipeline, DTMF turns) is the
production code.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import structlog
from livekit.agents import Agent, AgentSession

from agent.call.control.channel import ControlChannel, ControlResult
from agent.call.lifecycle.call import CallLifecycle
from agent.call.lifecycle.parties import PartyKind, RoomParty
from agent.call.room import Unbind
from agent.call.telephony.caller import SIP_PHONE_NUMBER, SIP_TRUNK_PHONE_NUMBER, CallerParty
from agent.call.telephony.outbound import callee_identity
from agent.call.telephony.phone_line import PhoneLine
from agent.call.telephony.sip import SipGateway
from agent.clock import TimeBase
from agent.intake.dispatch import CallSpec
from agent.intake.document import CallType

from .offline.sip import TRANSFER, OfflineLiveKitServer, offline_livekit
from .scenario import CallerJoin, Observer, Scenario
from .script import ControlStep, DtmfStep
from .speed import call_time_base
from .transport import PlayedSegment, SimulatedAudio

log = structlog.get_logger(__name__)

WEB_IDENTITY = "caller"
"""The web caller's participant identity (a scenario without ``phone``)."""
KEY_GAP_SECONDS = 0.15
"""Between two key presses of one ``dtmf`` step: a person typing, well inside the 2 s gap."""
HANG_UP_REASON = "CLIENT_INITIATED"
"""The disconnect reason LiveKit gives when the caller's client leaves."""


@dataclass(frozen=True)
class TransferRequest:
    """A REFER the offline SIP gateway got."""

    participant_identity: str
    transfer_to: str


@dataclass
class SimulatedCallRoom:
    """A ``CallRoom`` with a simulated caller (and maybe observers) in it."""

    audio: SimulatedAudio
    caller: CallerParty | None
    """Who the caller is (None: nobody; a test says who, later)."""
    say: Callable[[str], None] = lambda _line: None
    """Where the room's own lines (keys, control outcomes, comings and goings) are printed."""
    time_base: TimeBase = field(default_factory=call_time_base)
    """The call's clock (printed offsets)."""
    started: float | None = None
    """The call's monotonic seconds at its start (the printed offsets' zero); None: when made."""
    sip: SipGateway | None = None
    server: OfflineLiveKitServer | None = None
    arrival: CallerJoin | None = None
    """When the caller joins and their audio comes up, from the agent's arrival; None: they are
    in the room, audio up, when the agent arrives (and nothing is held back)."""
    observers: list[Observer] = field(default_factory=list)
    aec_warmup: bool = False  # a simulated caller never hears the agent's echo
    close_transcript_timeout: float = 0.2
    dtmf_sent: list[str] = field(default_factory=list)
    """Keys the agent pressed with ``send_dtmf``, in order."""
    caller_joined_at: float | None = None
    """The call clock's monotonic seconds when the caller's participant joined."""
    caller_audio_at: float | None = None
    """The call clock's monotonic seconds when the caller's audio came up (both ways)."""
    _lifecycle: CallLifecycle | None = None
    _phone: PhoneLine | None = None
    _control: ControlChannel | None = None
    _audio_up: asyncio.Event = field(default_factory=asyncio.Event)
    _timers: list[asyncio.TimerHandle] = field(default_factory=list)
    _caller_left: bool = False

    def __post_init__(self) -> None:
        if self.started is None:
            self.started = self.time_base.monotonic()

    # -- the CallRoom ---------------------------------------------------------------------------

    async def join(
        self, lifecycle: CallLifecycle, phone: PhoneLine, control: ControlChannel
    ) -> Unbind:
        self._lifecycle, self._phone, self._control = lifecycle, phone, control
        if self.arrival is not None:
            self.audio.caller_absent()  # nothing heard either way before the caller is there
        plan = self.arrival or CallerJoin()
        if self.caller is not None and not plan.never:
            self._at(plan.after_seconds, self._caller_joins)
            self._at(plan.audio_at, self._caller_audio_up)
            if plan.leave_after_seconds is not None:
                self._at(plan.leave_after_seconds, self.caller_hangs_up)
        for observer in self.observers:
            self._at(observer.join_after_seconds, partial(self._observer_joins, observer))
            if observer.leave_after_seconds is not None:
                self._at(observer.leave_after_seconds, partial(self._observer_leaves, observer))
        return self._cancel_schedule

    async def start_session(self, session: AgentSession[Any], agent: Agent) -> None:
        self.audio.attach(session)  # the session makes no RoomIO of its own then
        await session.start(agent=agent)

    async def caller_answered(self, caller: RoomParty) -> None:
        await self._audio_up.wait()

    async def publish_dtmf(self, code: int, digit: str) -> None:
        self.dtmf_sent.append(digit)
        self._print(f"{'dtmf':<6}  agent pressed {digit} (code {code})")

    def hang_up(self) -> None:
        self._cancel_schedule()
        self.audio.caller.hang_up()  # the agent hung up: the caller's line goes dead

    async def aclose(self) -> None:
        self._cancel_schedule()
        await self.audio.aclose()

    # -- the schedule ---------------------------------------------------------------------------

    def _at(self, seconds: float, action: Callable[[], None]) -> None:
        """``action`` ``seconds`` after the agent joined: at once for 0 (so a caller already in
        the room is there before the session starts), else on the loop's clock."""
        if seconds <= 0:
            action()
            return
        self._timers.append(asyncio.get_running_loop().call_later(seconds, action))

    def _cancel_schedule(self) -> None:
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()

    def _caller_joins(self) -> None:
        assert self.caller is not None
        assert self._lifecycle is not None
        self.caller_joined_at = self.time_base.monotonic()
        self._print(f"{'room':<6}  the caller joined")
        kind: PartyKind = "sip" if self.caller.is_sip else "standard"
        self._lifecycle.on_participant_joined(
            RoomParty(self.caller.identity, kind, dict(self.caller.attributes))
        )

    def _caller_audio_up(self) -> None:
        if self._caller_left:
            return
        self.caller_audio_at = self.time_base.monotonic()
        self.audio.caller_audio_up()
        self._audio_up.set()

    def _observer_joins(self, observer: Observer) -> None:
        assert self._lifecycle is not None
        self._print(f"{'room':<6}  {observer.identity} joined")
        self._lifecycle.on_participant_joined(RoomParty(observer.identity, observer.kind))

    def _observer_leaves(self, observer: Observer) -> None:
        assert self._lifecycle is not None
        self._print(f"{'room':<6}  {observer.identity} left")
        self._lifecycle.on_participant_left(observer.identity, HANG_UP_REASON)

    # -- what the scripted caller does ----------------------------------------------------------

    def caller_hangs_up(self) -> None:
        """The caller hangs up (``CLIENT_INITIATED``)."""
        self.caller_disconnects(HANG_UP_REASON)

    def caller_disconnects(self, reason: str) -> None:
        """The caller leaves for ``reason`` (LiveKit's name): their audio stops and the
        lifecycle hears it as ``bind_room`` reports a participant leaving."""
        if self._caller_left:
            return
        self._caller_left = True
        self.audio.caller.hang_up()
        assert self._lifecycle is not None, "join() first"
        self._print(f"{'room':<6}  the caller left ({reason})")
        identity = self.caller.identity if self.caller is not None else WEB_IDENTITY
        self._lifecycle.on_participant_left(identity, reason)

    def sender(self, written: str) -> str | None:
        """A step's ``from``: None for the server API, the caller's identity for ``caller``."""
        if written == "server":
            return None
        if written == "caller":
            return self.caller.identity if self.caller is not None else WEB_IDENTITY
        return written

    async def send_control(self, step: ControlStep) -> ControlResult:
        assert self._control is not None, "join() first"
        data = json.dumps(step.command).encode()
        result = await self._control.handle(data, self.sender(step.sender))
        # What the script sent, by its own type: a refused sender's packet is never read.
        sent = step.command.get("type", result.command)
        self._print(f"{'control':<6}  {sent} from {step.sender} -> {result.outcome}")
        return result

    async def press(self, step: DtmfStep) -> None:
        assert self._phone is not None, "join() first"
        collector = self._phone.dtmf
        self._print(f"{'dtmf':<6}  caller pressed {len(step.digits)} key(s)")
        for index, digit in enumerate(step.digits):
            if index:
                await asyncio.sleep(KEY_GAP_SECONDS)
            collector.press(digit)

    def transfers(self) -> list[TransferRequest]:
        if self.server is None:
            return []
        return [
            TransferRequest(r.participant_identity, r.transfer_to)
            for r in self.server.requests(TRANSFER)
        ]

    def _print(self, line: str) -> None:
        started = self.started or 0.0
        self.say(f"{self.time_base.monotonic() - started:7.2f}s  {line}")


def caller_party(scenario: Scenario, spec: CallSpec | None = None) -> CallerParty:
    """The scenario's caller: a SIP participant with ``phone``, else a web one; an outbound
    call's is the callee the SIP service puts in the room (``callee-<call id>``)."""
    phone = scenario.phone
    named = scenario.join.identity if scenario.join is not None else None
    # An outbound call's caller is the callee the worker dialled, named as it names them.
    callee = (
        callee_identity(spec.call_id)
        if spec is not None and spec.call.type is CallType.OUTBOUND_PHONE
        else None
    )
    if phone is None or not phone.sip:
        return CallerParty(named or callee or WEB_IDENTITY, is_sip=False)
    attributes = {}
    if phone.caller_number:
        attributes[SIP_PHONE_NUMBER] = phone.caller_number
    if phone.called_number:
        attributes[SIP_TRUNK_PHONE_NUMBER] = phone.called_number
    identity = named or callee or phone.participant_identity()
    return CallerParty(identity, is_sip=True, attributes=attributes)


@asynccontextmanager
async def simulated_room(
    scenario: Scenario,
    *,
    room_name: str,
    say: Callable[[str], None],
    started: float,
    spec: CallSpec | None = None,
    time_base: TimeBase,
    on_segment_started: Callable[[PlayedSegment], None] | None = None,
) -> AsyncIterator[SimulatedCallRoom]:
    """The scenario's room; for a SIP caller, with the offline SIP gateway running."""
    caller = caller_party(scenario, spec)
    async with AsyncExitStack() as stack:
        server: OfflineLiveKitServer | None = None
        sip: SipGateway | None = None
        if caller.is_sip:
            server, lkapi = await stack.enter_async_context(
                offline_livekit(
                    scenario.providers.sip_transfer,
                    transfer_seconds=scenario.providers.sip_transfer_ms / 1000,
                )
            )
            sip = SipGateway(lkapi, room_name)
        audio = SimulatedAudio.create(on_segment_started=on_segment_started, time_base=time_base)
        yield SimulatedCallRoom(
            audio,
            caller,
            say=say,
            time_base=time_base,
            started=started,
            sip=sip,
            server=server,
            arrival=scenario.join or CallerJoin(),
            observers=list(scenario.observers),
        )
