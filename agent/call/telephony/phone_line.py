"""PhoneLine: the telephony parts of one call, built from its CallSpec and wired by the job.

The tools exist before the LiveCall (they are part of its agent), the transfer path needs the
LiveCall, and the caller is known only once they are in the room; so a PhoneLine is made
first, its tools go into ``LiveCall(extra_tools=...)``, then ``bind(call)``, then
``attach_room(room)`` once connected:

    phone = PhoneLine.for_job(ctx, spec)
    call = LiveCall(spec, ..., extra_tools=phone.tools(room_publisher(ctx.room)))
    phone.bind(call)
    await ctx.connect()
    detach = phone.attach_room(ctx.room)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import structlog
from livekit import rtc
from livekit.agents import JobContext, llm

from agent.call.telephony.caller import CallerParty, record_numbers, watch_for_caller
from agent.call.telephony.dtmf import DtmfCollector, Publish, bind_dtmf, dtmf_to_llm, send_dtmf_tool
from agent.call.telephony.sip import SipGateway
from agent.call.telephony.transfer import CallTransfer, transfer_call_tool
from agent.clock import Clock, RealClock
from agent.contracts.assistant import DtmfTool, TransferCallTool
from agent.intake.dispatch import CallSpec

if TYPE_CHECKING:
    from agent.call.live_call import LiveCall

log = structlog.get_logger(__name__)


class PhoneLine:
    """Transfer, DTMF and caller numbers for one call."""

    def __init__(self, spec: CallSpec, *, sip: SipGateway | None, clock: Clock | None = None):
        self.spec = spec
        self.sip = sip
        self.transfer = CallTransfer(sip)
        self._clock = clock or RealClock()
        self._call: LiveCall | None = None
        self.dtmf: DtmfCollector | None = None

    @classmethod
    def for_job(cls, ctx: JobContext, spec: CallSpec) -> PhoneLine:
        """The job's phone line: SIP through ``ctx.api`` (the worker exports LIVEKIT_URL and
        credentials to job processes). Without them there is no SIP: transfers are refused."""
        try:
            sip: SipGateway | None = SipGateway(ctx.api, ctx.job.room.name)
        except ValueError as exc:  # LiveKitAPI without a URL or credentials
            log.warning("sip_unavailable", reason=str(exc))
            sip = None
        return cls(spec, sip=sip)

    def tools(self, publish: Publish | None) -> list[llm.Tool]:
        """``transfer_call`` for each transfer_call config, ``send_dtmf`` when configured."""
        tools: list[llm.Tool] = []
        for tool in self.spec.assistant.tools:
            if isinstance(tool, TransferCallTool):
                tools.append(transfer_call_tool(tool, self.transfer))
                break  # one transfer tool; AssistantConfig keeps tool names unique
        wants_dtmf = any(isinstance(tool, DtmfTool) for tool in self.spec.assistant.tools)
        if wants_dtmf and publish is not None:
            tools.append(send_dtmf_tool(publish))
        return tools

    def bind(self, call: LiveCall) -> None:
        self._call = call
        self.transfer.bind(call)
        self.dtmf = DtmfCollector(self._clock, dtmf_to_llm(call))

    def caller_joined(self, caller: CallerParty) -> None:
        """The caller is in the room (production: from ``attach_room``; simulator: directly)."""
        self.transfer.caller = caller
        if self._call is not None:
            record_numbers(self._call.record, caller)

    def attach_room(self, room: rtc.Room) -> Callable[[], None]:
        """Watch for the caller and their key presses; returns a detach function."""
        detach = [watch_for_caller(room, self.caller_joined)]
        if self.dtmf is not None:
            detach.append(bind_dtmf(room, self.dtmf))

        def detach_all() -> None:
            for undo in detach:
                undo()

        return detach_all
