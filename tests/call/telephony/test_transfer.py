"""transfer_call in whole simulated calls: the LLM picks a destination, the SIP REFER goes to
a fake LiveKit server (real livekit-api client), and the call ends or goes on."""

from __future__ import annotations

from typing import Any

import pytest
from livekit import api

from agent.call.telephony.caller import CallerParty
from agent.call.telephony.sip import SipGateway
from agent.call.telephony.transfer import TRANSFER_FAILED_LINE, destination_labels
from agent.contracts.tool_definitions import TransferCallTool
from agent.report.record import MessageEntry
from tests.support.telephony import (
    FakeLiveKit,
    assistant,
    livekit_server,
    start_sim_call,
    wait_for,
)

__all__ = ["livekit_server"]

pytestmark = pytest.mark.simulated_call

TRANSFER = "livekit.SIP/TransferSIPParticipant"
TOOLS = [
    {
        "type": "transfer_call",
        "destinations": [
            {
                "number": "+31201234567",
                "description": "sales team",
                "message": "Transferring you to sales.",
            },
            {"sip_uri": "sip:support@pbx.example", "description": "support"},
        ],
    }
]
PICK_SALES: list[dict[str, Any]] = [
    {"tool": {"name": "transfer_call", "arguments": {"destination": "sales team"}}}
]
SIP_CALLER = CallerParty(
    "sip_caller",
    is_sip=True,
    attributes={"sip.phoneNumber": "+31612345678", "sip.trunkPhoneNumber": "+31850000000"},
)


def dispatch(**overrides: Any) -> dict[str, Any]:
    return {
        "call": {"id": "call-transfer", "type": "inbound_phone_call"},
        "assistant": assistant(tools=TOOLS, **overrides),
    }


def test_labels_are_descriptions_made_unique() -> None:
    tool = TransferCallTool.model_validate(
        {
            "type": "transfer_call",
            "destinations": [
                {"number": "+31201234567", "description": "sales"},
                {"number": "+31201234568", "description": "sales"},
                {"sip_uri": "sip:x@y"},
            ],
        }
    )
    assert list(destination_labels(tool)) == ["sales", "sales (2)", "sip:x@y"]


async def test_sip_caller_is_transferred(livekit_server: FakeLiveKit) -> None:
    livekit_server.answers[TRANSFER] = api.TransferSIPParticipantResponse(
        status="STS_TRANSFER_SUCCESSFUL"
    )
    async with livekit_server.api() as lkapi:
        sim = await start_sim_call(
            dispatch(),
            llm_replies=PICK_SALES,
            sip=SipGateway(lkapi, "telephony-room"),
            caller=SIP_CALLER,
        )
        try:
            await sim.caller_says("Put me through to sales, please.")
            await sim.ended()
            report = await sim.call.finish()
        finally:
            await sim.close()

    (request,) = livekit_server.requests(TRANSFER)
    assert request.room_name == "telephony-room"
    assert request.participant_identity == "sip_caller"
    assert request.transfer_to == "+31201234567"
    statuses = [(m["status"], m.get("destination")) for m in sim.sink.messages("status-update")]
    assert ("forwarding", "+31201234567") in statuses
    assert statuses.index(("forwarding", "+31201234567")) < statuses.index(("ended", None))
    assert report.end_reason == "transferred"
    assert report.destination == "+31201234567"
    said = [m.text for m in sim.call.record.messages() if m.role == "assistant"]
    assert "Transferring you to sales." in said  # the destination's message was spoken first
    # inbound numbers from the SIP attributes
    assert sim.call.record.caller_number == "+31612345678"
    assert report.customer is not None
    assert report.customer.number == "+31612345678"


async def test_failed_transfer_tells_the_caller_and_goes_on(livekit_server: FakeLiveKit) -> None:
    livekit_server.answers[TRANSFER] = (
        400,
        {"code": "failed_precondition", "msg": "refer rejected",
         "meta": {"sip_status_code": "486", "sip_status": "Busy Here"}},
    )  # fmt: skip
    async with livekit_server.api() as lkapi:
        sim = await start_sim_call(
            dispatch(),
            llm_replies=PICK_SALES,
            sip=SipGateway(lkapi, "telephony-room"),
            caller=SIP_CALLER,
        )
        try:
            await sim.caller_says("Sales, please.")
            record = sim.call.record
            await wait_for(lambda: any(m.text == TRANSFER_FAILED_LINE for m in record.messages()))
            assert not sim.call.lifecycle.is_ending  # the call goes on
            sim.room.caller_hangs_up()  # as the room binding reports the caller leaving
            await sim.ended()
            report = await sim.call.finish()
        finally:
            await sim.close()

    assert len(livekit_server.requests(TRANSFER)) == 1
    assert report.end_reason == "user_hangup"
    assert report.destination is None or report.destination != "+31201234567"
    statuses = [m["status"] for m in sim.sink.messages("status-update")]
    assert statuses[:3] == ["in-progress", "forwarding", "in-progress"]
    system = [
        m.text for m in record.messages() if isinstance(m, MessageEntry) and m.role == "system"
    ]
    assert any("486 Busy Here" in text for text in system)


async def test_web_caller_is_refused(livekit_server: FakeLiveKit) -> None:
    replies = [*PICK_SALES, {"say": "I'm sorry, I can't transfer a web call."}]
    async with livekit_server.api() as lkapi:
        sim = await start_sim_call(
            dispatch() | {"call": {"id": "web", "type": "web_call"}},
            llm_replies=replies,
            sip=SipGateway(lkapi, "telephony-room"),
            caller=CallerParty("browser", is_sip=False),
        )
        try:
            await sim.caller_says("Transfer me to sales.")
            record = sim.call.record
            await wait_for(lambda: any(t.finished for t in record.tool_calls()))
            await wait_for(lambda: any("can't transfer" in m.text for m in record.messages()))
            assert not sim.call.lifecycle.is_ending
        finally:
            await sim.close()

    assert livekit_server.requests(TRANSFER) == []
    (tool_call,) = record.tool_calls()
    assert tool_call.name == "transfer_call"
    assert tool_call.error is not None
    assert "transfer_refused" in tool_call.error
