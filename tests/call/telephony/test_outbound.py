"""Outbound calls: the dial request LiveKit gets, no answer, and what a voicemail verdict does.

The dial goes to a fake LiveKit server (real livekit-api client). Answering-machine detection
is livekit's LLM classifier on live SIP audio; here its verdict is given (the vendor boundary),
and the call itself is assembled by the composition root on the simulator's room, and run as
the job runs it (``converse``: dial, go live, screen; then ``finish``)."""

from __future__ import annotations

from typing import Any

import pytest

from agent.call.telephony.caller import CallerParty
from agent.call.telephony.outbound import MachineDetector, MachineVerdict, callee_identity
from agent.call.telephony.sip import SipGateway
from agent.contracts.events import EndOfCallReport
from tests.support.telephony import (
    FakeLiveKit,
    SimCall,
    assistant,
    livekit_server,
    start_sim_call,
)

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


def verdict(value: MachineVerdict) -> MachineDetector:
    async def detect(identity: str) -> MachineVerdict:
        assert identity == callee_identity("out-1")
        return value

    return detect


async def dial_out(
    lkapi: Any, dispatch: dict[str, Any], detect: MachineDetector | None = None
) -> tuple[SimCall, EndOfCallReport]:
    """The outbound call, start to report, as run_job runs it."""
    sim = await start_sim_call(
        dispatch,
        sip=SipGateway(lkapi, "telephony-room"),
        answering_machine=detect,
        start=False,
        caller=CallerParty(callee_identity("out-1"), is_sip=True),  # in the room once it rings
    )
    try:
        await sim.call.converse()
        report = await sim.call.finish()
    finally:
        await sim.room.aclose()
    return sim, report


async def test_unanswered_call_ends_no_answer(livekit_server: FakeLiveKit) -> None:
    livekit_server.answers[CREATE] = (
        400,
        {"code": "unavailable", "msg": "no answer",
         "meta": {"sip_status_code": "480", "sip_status": "Temporarily Unavailable"}},
    )  # fmt: skip
    async with livekit_server.api() as lkapi:
        sim, report = await dial_out(lkapi, outbound())
    (request,) = livekit_server.requests(CREATE)
    assert request.sip_trunk_id == "ST_trunk"
    assert request.sip_call_to == "+31612345678"
    assert request.room_name == "telephony-room"
    assert request.participant_identity == "callee-out-1"
    assert request.wait_until_answered
    assert request.ringing_timeout.seconds == 20
    assert report.end_reason == "no_answer"
    assert report.end_detail == "480 Temporarily Unavailable"
    # Dialing, then ended: nobody answering is not a failure (seed 002 statuses).
    assert [m["status"] for m in sim.sink.messages("status-update")] == ["dialing", "ended"]
    assert report.call.status == "ended"


async def test_dial_error_is_an_error_not_no_answer(livekit_server: FakeLiveKit) -> None:
    livekit_server.answers[CREATE] = (401, {"code": "unauthenticated", "msg": "bad key"})
    async with livekit_server.api() as lkapi:
        sim, report = await dial_out(lkapi, outbound())
    assert report.end_reason == "error"
    assert report.end_detail is not None
    assert report.end_detail.startswith("sip: unauthenticated")
    # The call never went live: a failed call (seed 002 "failed"), reported as such.
    assert [m["status"] for m in sim.sink.messages("status-update")] == ["dialing", "failed"]
    assert report.call.status == "failed"


@pytest.mark.simulated_call
async def test_voicemail_message_is_left_then_the_call_ends(livekit_server: FakeLiveKit) -> None:
    detection = {"enabled": True, "voicemail_message": VOICEMAIL_MESSAGE}
    async with livekit_server.api() as lkapi:
        sim, report = await dial_out(
            lkapi, outbound(voicemail_detection=detection), verdict(MachineVerdict.VOICEMAIL)
        )
    assert len(livekit_server.requests(CREATE)) == 1
    assert report.end_reason == "voicemail"
    assert report.end_detail == "voicemail_left"
    said = [m.text for m in sim.call.record.messages() if m.role == "assistant"]
    assert said == [VOICEMAIL_MESSAGE]


@pytest.mark.simulated_call
async def test_voicemail_without_message_just_ends(livekit_server: FakeLiveKit) -> None:
    async with livekit_server.api() as lkapi:
        sim, report = await dial_out(
            lkapi,
            outbound(voicemail_detection={"enabled": True}),
            verdict(MachineVerdict.VOICEMAIL),
        )
    assert report.end_reason == "voicemail"
    assert report.end_detail == "voicemail_detected"
    assert [m.text for m in sim.call.record.messages() if m.role == "assistant"] == []
    # Seed 002's outbound life: dialing, then in progress once answered, then ended.
    statuses = [m["status"] for m in sim.sink.messages("status-update")]
    assert statuses == ["dialing", "in-progress", "ended"]
    assert report.call.status == "ended"


async def test_a_server_message_quoting_the_number_is_masked(livekit_server: FakeLiveKit) -> None:
    """LiveKit's error text may quote the number dialled: it reaches end_detail (the report,
    the call_summary log line) with the number masked."""
    livekit_server.answers[CREATE] = (
        400,
        {"code": "invalid_argument", "msg": "cannot dial sip:+31612345678@trunk: rejected"},
    )
    async with livekit_server.api() as lkapi:
        _sim, report = await dial_out(lkapi, outbound())
    assert report.end_reason == "error"
    assert report.end_detail == "sip: invalid_argument: cannot dial sip:[PHONE]@trunk: rejected"
