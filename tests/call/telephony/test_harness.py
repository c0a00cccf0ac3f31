"""The offline LiveKit server answers the real livekit-api client over Twirp."""

from __future__ import annotations

from livekit import api

from tests.support.telephony import FakeLiveKit


async def test_fake_livekit_speaks_twirp(livekit_server: FakeLiveKit) -> None:
    """The fake answers the real client, and keeps the decoded request and its bearer token."""
    livekit_server.answers["livekit.SIP/TransferSIPParticipant"] = (
        api.TransferSIPParticipantResponse(status="STS_TRANSFER_SUCCESSFUL")
    )
    async with livekit_server.api() as lkapi:
        await lkapi.sip.transfer_sip_participant(
            api.TransferSIPParticipantRequest(
                room_name="r", participant_identity="p", transfer_to="+3120"
            )
        )
    (seen,) = livekit_server.seen
    assert seen.path == "/twirp/livekit.SIP/TransferSIPParticipant"
    assert seen.body.participant_identity == "p"
    assert seen.authorization.startswith("Bearer ")
