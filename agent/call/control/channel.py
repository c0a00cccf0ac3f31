"""The control channel of one call: who may command it, and what each command does.

Commands arrive as data packets on ``CONTROL_TOPIC``. ``RoomService.SendData`` from the
backend reaches the agent with no participant (``participant=None``): that is the trusted
path. A packet from a room participant is refused unless the operator listed that identity in
``VOICE_AGENT_CONTROL_ALLOWED_IDENTITIES``: the caller's browser can publish data too.

Each packet goes through, in order: sender check -> validation -> rate limit (10 per minute,
sliding) -> the call must not be ending -> the command. A packet whose sender is refused is
never parsed (its command is recorded as ``unread``); parsing refuses anything that is not one
valid command (agent/contracts/control.py) without raising anything else:

    inject-context -> call.add_context(content) (+ call.reply() when trigger_response)
    say            -> call.say(content) (+ end agent_hangup "control_end_after" once heard)
    end-call       -> call.end(agent_hangup, "control_end_call", goodbye=message)
    transfer       -> the transfer path of the transfer_call tool (telephony/transfer.py)

The channel acts on the call only through its ``CallHandle`` (agent/call/handle.py). Every
packet gets one result, logged (``control_command``) and kept in the call record
(``call.note_control``), including the refused ones; but as any participant can publish
packets, only the first few refused are kept (agent/report/record.py ``REFUSED_CONTROLS_KEPT``)
and logged at info, the rest are counted (the report's ``control_refused``) and logged at
debug, so a flood grows neither the report nor the info log. Sender identities can hold phone
numbers (SIP identities often do), so they are logged at debug level only, and not under
gdpr_mode.

``ControlChannel.handle`` is the whole pipeline: the room (agent/call/room.py) feeds it the
``data_received`` packets on the topic; the simulator's room and tests call it directly.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass

import structlog
from livekit import rtc

from agent.call.control import CONTROL_TOPIC
from agent.call.control.rate import SlidingWindowLimit
from agent.call.handle import CallHandle
from agent.call.telephony.transfer import WEB_CALL_REFUSED_LINE, CallTransfer
from agent.clock import Clock, RealClock
from agent.contracts.control import (
    ControlCommand,
    EndCall,
    InjectContext,
    InvalidCommand,
    Say,
    Transfer,
    parse_command,
)
from agent.contracts.end_reason import EndReason
from agent.worker.logs import gdpr_active

log = structlog.get_logger(__name__)


UNREAD = "unread"
"""The command of a packet refused before it was parsed (its sender is not allowed)."""


@dataclass(frozen=True)
class ControlResult:
    command: str
    """The command's ``type``; ``invalid`` when it could not be read, ``unread`` when its sender
    was refused before it was parsed."""
    outcome: str
    """``ok``, ``refused: <why>``, ``failed: <why>`` or the transfer's outcome."""

    @property
    def accepted(self) -> bool:
        return not self.outcome.startswith("refused")


class ControlChannel:
    """Runs control packets against one call."""

    def __init__(
        self,
        call: CallHandle,
        *,
        allowed_identities: Iterable[str] = (),
        transfer: CallTransfer | None = None,
        clock: Clock | None = None,
    ) -> None:
        self._call = call
        self._allowed = frozenset(allowed_identities)
        self._transfer = transfer
        self._limit = SlidingWindowLimit((clock or RealClock()).now)
        self._pending: set[asyncio.Task[ControlResult]] = set()
        self._detach: list[rtc.Room] = []

    # -- entry points ---------------------------------------------------------------------------

    def receive(self, data: bytes, sender: str | None) -> asyncio.Task[ControlResult]:
        """Handle a packet on its own task (room events are synchronous); the task is held."""
        task = asyncio.create_task(self.handle(data, sender))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)
        return task

    async def handle(self, data: bytes, sender: str | None) -> ControlResult:
        """One packet, start to result. ``sender``: None for the server API, else the identity
        of the room participant that published it."""
        result = await self._run(data, sender)
        listed = self._call.note_control(result.command, result.outcome)
        (log.info if listed else log.debug)(
            "control_command",
            command=result.command,
            outcome=result.outcome,
            sender="server" if sender is None else "participant",
        )
        if sender is not None and not gdpr_active():
            log.debug("control_sender", identity=sender)
        return result

    # -- the pipeline ---------------------------------------------------------------------------

    async def _run(self, data: bytes, sender: str | None) -> ControlResult:
        # The sender first: a packet from someone not allowed is not even parsed, so nothing
        # in it (size, nesting, duplicate keys) reaches the parser, and its type is unknown.
        if sender is not None and sender not in self._allowed:
            return ControlResult(UNREAD, "refused: sender not allowed")
        try:
            command = parse_command(data)
        except InvalidCommand as exc:
            return ControlResult("invalid", f"refused: invalid command: {exc}")
        if not self._limit.try_take():
            return ControlResult(command.type, "refused: rate limit (10 per minute)")
        if self._call.is_ending:
            return ControlResult(command.type, "refused: the call is ending")
        try:
            outcome = await self._execute(command)
        except Exception as exc:
            log.warning("control_failed", command=command.type, error_type=type(exc).__name__)
            outcome = f"failed: {type(exc).__name__}"
        return ControlResult(command.type, outcome)

    async def _execute(self, command: ControlCommand) -> str:
        call = self._call
        if isinstance(command, InjectContext):
            await call.add_context(command.content)
            if command.trigger_response:
                call.reply()
            return "ok"
        if isinstance(command, Say):
            line = call.say(command.content)
            if command.end_after:

                def end_after(_line: object) -> None:
                    call.end(EndReason.AGENT_HANGUP, "control_end_after")

                line.add_done_callback(end_after)
            return "ok"
        if isinstance(command, EndCall):
            decided = call.end(EndReason.AGENT_HANGUP, "control_end_call", goodbye=command.message)
            return "ok" if decided else "refused: the call is already ending"
        return await self._transfer_to(command)

    async def _transfer_to(self, command: Transfer) -> str:
        transfer = self._transfer
        if transfer is None:
            return "refused: no telephony on this call"
        reason = transfer.refusal()
        if reason is not None:
            if transfer.caller is None or not transfer.caller.is_sip:
                self._call.say(WEB_CALL_REFUSED_LINE)
            return f"refused: {reason}"
        outcome = await transfer.start(command.destination, command.message, label="control")
        return str(outcome)

    # -- the room -------------------------------------------------------------------------------

    def attach(self, room: rtc.Room) -> None:
        room.on("data_received", self._on_data)
        self._detach.append(room)

    def detach(self) -> None:
        for room in self._detach:
            room.off("data_received", self._on_data)
        self._detach.clear()

    def _on_data(self, packet: rtc.DataPacket) -> None:
        if packet.topic != CONTROL_TOPIC:
            return
        sender = packet.participant.identity if packet.participant is not None else None
        self.receive(packet.data, sender)
