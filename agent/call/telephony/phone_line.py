"""PhoneLine: the telephony parts of one call (transfer, DTMF, who the caller is).

Built by the composition root (agent/call/assemble.py) with the call's ``CallHandle``; its tools
go into the agent. The call tells it who the caller is once the lifecycle has bound one
(``caller_joined``: lifecycle/parties.py chooses), and the room (agent/call/room.py, or the
simulator's) feeds it the caller's key presses (``dtmf``):

    phone = PhoneLine(call, spec, sip=io.sip, clock=io.clock)
    tools = phone.tools(io.room.publish_dtmf)        # transfer_call, send_dtmf
    ... once in the room: phone.attach_room(room)    # their key presses
"""

from __future__ import annotations

from collections.abc import Callable

from livekit import rtc
from livekit.agents import llm

from agent.call.handle import CallHandle
from agent.call.telephony.caller import CallerParty
from agent.call.telephony.dtmf import DtmfCollector, Publish, bind_dtmf, dtmf_to_llm, send_dtmf_tool
from agent.call.telephony.sip import SipGateway
from agent.call.telephony.transfer import CallTransfer, transfer_call_tool
from agent.clock import Clock
from agent.contracts.tool_definitions import DtmfTool, TransferCallTool
from agent.intake.dispatch import CallSpec


class PhoneLine:
    """Transfer, DTMF and the caller party for one call."""

    def __init__(
        self, call: CallHandle, spec: CallSpec, *, sip: SipGateway | None, clock: Clock
    ) -> None:
        self.spec = spec
        self.sip = sip
        """The LiveKit server API for REFER and dialling; None: no SIP (transfers refused)."""
        self._call = call
        self.transfer = CallTransfer(call, sip)
        self.dtmf = DtmfCollector(clock, dtmf_to_llm(call))

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

    def caller_joined(self, caller: CallerParty) -> None:
        """The caller is in the room (the lifecycle bound them; LiveCall tells us)."""
        self.transfer.caller = caller
        self._call.note_caller(caller)

    def attach_room(self, room: rtc.Room) -> Callable[[], None]:
        """Feed the room's key presses to the DTMF collector; returns a detach function."""
        return bind_dtmf(room, self.dtmf)
