"""Outbound calls: the dial request LiveKit gets, no answer, and what a voicemail verdict does.

The dial goes to a fake LiveKit server (real livekit-api client). Answering-machine detection
is livekit's LLM classifier on live SIP audio; here its verdict is given (the vendor boundary),
and the call itself runs on the simulator's room."""

from __future__ import annotations

from typing import Any

import pytest

from agent.call.live_call import LiveCall
from agent.call.telephony.outbound import MachineVerdict, callee_identity, run_outbound_call
from agent.call.telephony.sip import SipGateway
from tests.support.telephony import FakeLiveKit, assistant, livekit_server, start_sim_call

__all__ = ["livekit_server"]

CREATE = "livekit.SIP/CreateSIPParticipant"
VOICEMAIL_MESSAGE = "Hi, this is Acme confirming your appointment. Please call us back."


def outbound(**overrides: Any) -> dict[str, Any]:
    return {
        "call": {
            "id": "out-1",
            "type": "outbound_phone_call",
            "destination": "+31612345678",
            "sip_trunk_id": "ST_trunk",
            "answer_timeout_seconds": 20,
        },
        "assistant": assistant(**overrides),
    }


def verdict(value: MachineVerdict) -> Any:
    async def detect(call: LiveCall, identity: str) -> MachineVerdict:
        assert identity == callee_identity(call)
        return value

    return detect


async def test_unanswered_call_ends_no_answer(livekit_server: FakeLiveKit) -> None:
    livekit_server.answers[CREATE] = (
        400,
        {"code": "unavailable", "msg": "no answer",
         "meta": {"sip_status_code": "480", "sip_status": "Temporarily Unavailable"}},
    )  # fmt: skip
    async with livekit_server.api() as lkapi:
        sim = await start_sim_call(outbound(), start=False)
        try:
            report = await run_outbound_call(sim.call, SipGateway(lkapi, "telephony-room"))
        finally:
            await sim.room.aclose()
    (request,) = livekit_server.requests(CREATE)
    assert request.sip_trunk_id == "ST_trunk"
    assert request.sip_call_to == "+31612345678"
    assert request.room_name == "telephony-room"
    assert request.participant_identity == "callee-out-1"
    assert request.wait_until_answered
    assert request.ringing_timeout.seconds == 20
    assert report.end_reason == "no_answer"
    assert report.end_detail == "480 Temporarily Unavailable"
    assert [m["status"] for m in sim.sink.messages("status-update")] == ["ended"]


async def test_dial_error_is_an_error_not_no_answer(livekit_server: FakeLiveKit) -> None:
    livekit_server.answers[CREATE] = (401, {"code": "unauthenticated", "msg": "bad key"})
    async with livekit_server.api() as lkapi:
        sim = await start_sim_call(outbound(), start=False)
        try:
            report = await run_outbound_call(sim.call, SipGateway(lkapi, "telephony-room"))
        finally:
            await sim.room.aclose()
    assert report.end_reason == "error"
    assert report.end_detail is not None
    assert report.end_detail.startswith("sip: unauthenticated")


@pytest.mark.slow
async def test_voicemail_message_is_left_then_the_call_ends(livekit_server: FakeLiveKit) -> None:
    detection = {"enabled": True, "voicemail_message": VOICEMAIL_MESSAGE}
    async with livekit_server.api() as lkapi:
        sim = await start_sim_call(outbound(voicemail_detection=detection), start=False)
        try:
            report = await run_outbound_call(
                sim.call,
                SipGateway(lkapi, "telephony-room"),
                detect=verdict(MachineVerdict.VOICEMAIL),
            )
        finally:
            await sim.room.aclose()
    assert len(livekit_server.requests(CREATE)) == 1
    assert report.end_reason == "voicemail"
    assert report.end_detail == "voicemail_left"
    said = [m.text for m in sim.call.record.messages() if m.role == "assistant"]
    assert said == [VOICEMAIL_MESSAGE]


@pytest.mark.slow
async def test_voicemail_without_message_just_ends(livekit_server: FakeLiveKit) -> None:
    async with livekit_server.api() as lkapi:
        sim = await start_sim_call(outbound(voicemail_detection={"enabled": True}), start=False)
        try:
            report = await run_outbound_call(
                sim.call,
                SipGateway(lkapi, "telephony-room"),
                detect=verdict(MachineVerdict.VOICEMAIL),
            )
        finally:
            await sim.room.aclose()
    assert report.end_reason == "voicemail"
    assert report.end_detail == "voicemail_detected"
    assert [m.text for m in sim.call.record.messages() if m.role == "assistant"] == []
