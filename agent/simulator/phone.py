"""The simulated call's phone line and control channel, wired as job.py wires them in a room.

Production gets three things from the room and the LiveKit server that a simulated call must
get from here, or its scenario could not test transfers and live control:

- the caller party: a SIP participant with ``sip.phoneNumber`` / ``sip.trunkPhoneNumber``
  attributes when the scenario has ``phone``, else a web participant (``WEB_IDENTITY``); handed
  to :class:`~agent.call.telephony.phone_line.PhoneLine` as ``attach_room`` would;
- the LiveKit server API for the REFER: a SIP caller's transfers go through the real
  :class:`~agent.call.telephony.sip.SipGateway` to an :mod:`offline server <.offline.sip>` on
  127.0.0.1, which answers per ``providers.sip_transfer``; a web caller has none (as a job
  without SIP), so a transfer is refused;
- data packets and key presses: a scenario's ``control`` step goes to
  :meth:`ControlChannel.handle` with the sender the room would name (None for the server API),
  a ``dtmf`` step to the phone line's DTMF collector, key by key ``KEY_GAP_SECONDS`` apart.

Everything past those inputs (tools, transfer path, control pipeline, DTMF turns) is the
production code.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field

import structlog
from livekit.agents import llm

from agent.call.control.channel import ControlChannel, ControlResult
from agent.call.live_call import LiveCall
from agent.call.telephony.caller import SIP_PHONE_NUMBER, SIP_TRUNK_PHONE_NUMBER, CallerParty
from agent.call.telephony.phone_line import PhoneLine
from agent.call.telephony.sip import SipGateway
from agent.intake.dispatch import CallSpec
from agent.worker.settings import WorkerSettings

from .offline.sip import TRANSFER, OfflineLiveKitServer, offline_livekit
from .scenario import Scenario
from .script import ControlStep, DtmfStep

log = structlog.get_logger(__name__)

WEB_IDENTITY = "caller"
"""The web caller's participant identity (a scenario without ``phone``)."""
KEY_GAP_SECONDS = 0.15
"""Between two key presses of one ``dtmf`` step: a person typing, well inside the 2 s gap."""


@dataclass(frozen=True)
class TransferRequest:
    """A REFER the offline SIP gateway got."""

    participant_identity: str
    transfer_to: str


@dataclass
class SimulatedPhone:
    """Telephony and live control of one simulated call."""

    line: PhoneLine
    caller: CallerParty
    say: Callable[[str], None]
    started: float
    server: OfflineLiveKitServer | None = None
    control: ControlChannel | None = None
    dtmf_sent: list[str] = field(default_factory=list)
    """Keys the agent pressed with ``send_dtmf``, in order."""

    def tools(self) -> list[llm.Tool]:
        """``transfer_call`` / ``send_dtmf`` as the assistant configures them."""
        return self.line.tools(self._publish)

    async def _publish(self, code: int, digit: str) -> None:
        self.dtmf_sent.append(digit)
        self._print(f"{'dtmf':<6}  agent pressed {digit} (code {code})")

    def bind(self, call: LiveCall, settings: WorkerSettings) -> None:
        """As job.py after connecting: the caller is in the room, control is listened for."""
        self.line.bind(call)
        self.line.caller_joined(self.caller)
        self.control = ControlChannel(
            call,
            allowed_identities=settings.control_allowed_identities,
            transfer=self.line.transfer,
        )

    def sender(self, written: str) -> str | None:
        """A step's ``from``: None for the server API, the caller's identity for ``caller``."""
        if written == "server":
            return None
        return self.caller.identity if written == "caller" else written

    async def send_control(self, step: ControlStep) -> ControlResult:
        assert self.control is not None, "bind() first"
        data = json.dumps(step.command).encode()
        result = await self.control.handle(data, self.sender(step.sender))
        self._print(f"{'control':<6}  {result.command} from {step.sender} -> {result.outcome}")
        return result

    async def press(self, step: DtmfStep) -> None:
        collector = self.line.dtmf
        assert collector is not None, "bind() first"
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
        self.say(f"{time.monotonic() - self.started:7.2f}s  {line}")


def caller_party(scenario: Scenario) -> CallerParty:
    phone = scenario.phone
    if phone is None or not phone.sip:
        return CallerParty(WEB_IDENTITY, is_sip=False)
    attributes = {}
    if phone.caller_number:
        attributes[SIP_PHONE_NUMBER] = phone.caller_number
    if phone.called_number:
        attributes[SIP_TRUNK_PHONE_NUMBER] = phone.called_number
    return CallerParty(phone.participant_identity(), is_sip=True, attributes=attributes)


@asynccontextmanager
async def simulated_phone(
    scenario: Scenario,
    spec: CallSpec,
    *,
    room_name: str,
    say: Callable[[str], None],
    started: float,
) -> AsyncIterator[SimulatedPhone]:
    """The call's phone line; for a SIP caller, with the offline SIP gateway running."""
    caller = caller_party(scenario)
    async with AsyncExitStack() as stack:
        server: OfflineLiveKitServer | None = None
        sip: SipGateway | None = None
        if caller.is_sip:
            server, lkapi = await stack.enter_async_context(
                offline_livekit(scenario.providers.sip_transfer)
            )
            sip = SipGateway(lkapi, room_name)
        line = PhoneLine(spec, sip=sip)
        yield SimulatedPhone(line, caller, say, started, server=server)
