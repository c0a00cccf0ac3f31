"""`dispatch` and `token` against a fake LiveKit server API on 127.0.0.1, and the dev receiver
fed by the real webhook sink. livekit-api 1.x speaks Twirp with protobuf bodies
(Content-Type: application/protobuf), so the fake decodes the protocol messages."""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from livekit import api
from livekit.protocol import agent_dispatch, models, room

from agent.delivery.base import Delivery
from agent.delivery.outbox import Outbox
from agent.delivery.target_policy import TargetPolicy
from agent.delivery.webhook import WebhookSink
from agent.devtools.commands import create_dispatch, join_token
from agent.devtools.receiver import build_app
from agent.worker.settings import WorkerSettings


class FakeTwirp:
    def __init__(self) -> None:
        self.requests: list[tuple[str, bytes, str]] = []

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.requests.append((request.path, body, request.headers.get("Authorization", "")))
        if request.path.endswith("RoomService/CreateRoom"):
            made = room.CreateRoomRequest.FromString(body)
            reply = models.Room(name=made.name, sid="RM_fake").SerializeToString()
        else:
            asked = agent_dispatch.CreateAgentDispatchRequest.FromString(body)
            reply = agent_dispatch.AgentDispatch(
                id="AD_fake", agent_name=asked.agent_name, room=asked.room, metadata=asked.metadata
            ).SerializeToString()
        return web.Response(body=reply, content_type="application/protobuf")


@pytest.fixture
async def fake_livekit() -> AsyncIterator[tuple[FakeTwirp, str]]:
    fake = FakeTwirp()
    app = web.Application()
    app.router.add_post("/twirp/{method:.*}", fake.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    yield fake, f"ws://127.0.0.1:{runner.addresses[0][1]}"
    await runner.cleanup()


async def test_dispatch_creates_the_room_then_an_explicit_dispatch(
    fake_livekit: tuple[FakeTwirp, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    fake, url = fake_livekit
    monkeypatch.setenv("LIVEKIT_URL", url)
    monkeypatch.setenv("VOICE_AGENT_NAME", "front-desk")
    document = json.dumps({"assistant": {"name": "Front desk"}})

    result = await create_dispatch(WorkerSettings(), "room-7", document)

    assert result == {"room": "room-7", "dispatch_id": "AD_fake", "agent_name": "front-desk"}
    paths = [path for path, _, _ in fake.requests]
    assert paths == [
        "/twirp/livekit.RoomService/CreateRoom",
        "/twirp/livekit.AgentDispatchService/CreateDispatch",
    ]
    asked = agent_dispatch.CreateAgentDispatchRequest.FromString(fake.requests[1][1])
    assert (asked.agent_name, asked.room, asked.metadata) == ("front-desk", "room-7", document)
    assert room.CreateRoomRequest.FromString(fake.requests[0][1]).name == "room-7"
    # Signed with the dev server's credentials (devkey/secret by default).
    bearer = fake.requests[1][2].removeprefix("Bearer ")
    claims = api.TokenVerifier("devkey", "secret").verify(bearer)
    assert claims.video is not None
    assert claims.video.room_admin


def test_token_joins_the_room_as_the_identity_and_verifies() -> None:
    token = join_token(WorkerSettings(), "room-7", "me")

    claims = api.TokenVerifier("devkey", "secret").verify(token)
    assert claims.identity == "me"
    assert claims.video is not None
    assert claims.video.room == "room-7"
    assert claims.video.room_join
    assert claims.video.can_publish
    with pytest.raises(Exception, match="Signature"):
        api.TokenVerifier("devkey", "not-the-secret").verify(token)


async def test_receiver_prints_events_the_sink_signed_and_rejects_a_wrong_secret(
    tmp_path: Path,
) -> None:
    out = io.StringIO()
    runner = web.AppRunner(build_app("whsec_dev", out=out))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
    sink = WebhookSink(TargetPolicy.loopback_allowed(), Outbox(tmp_path), max_attempts=1)
    body = {"message": {"type": "status-update", "status": "ended", "seq": 4, "call": {"id": "c9"}}}
    try:
        for secret, delivery_id in (("whsec_dev", "d1"), ("wrong", "d2")):
            await sink.submit(
                Delivery(
                    delivery_id, "c9", "status-update", 4, json.dumps(body).encode(), url, secret
                )
            )
        await sink.aclose(timeout=10.0)
    finally:
        await runner.cleanup()

    lines = out.getvalue().splitlines()
    assert lines[0] == "verified status-update call=c9 seq=4 status=ended"
    assert lines[1].startswith("REJECTED bad signature id=d2")
    assert [o.outcome for o in sink.outcomes("c9")] == ["delivered", "outboxed"]


async def test_receiver_verifies_callmissed_deliveries_too(tmp_path: Path) -> None:
    out = io.StringIO()
    runner = web.AppRunner(build_app("whsec_dev", out=out))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}/voice"
    sink = WebhookSink(TargetPolicy.loopback_allowed(), Outbox(tmp_path), max_attempts=1)
    body = {"id": "s1", "status": "completed", "end_reason": "user_hangup", "duration_seconds": 4.5}
    try:
        for secret, delivery_id in (("whsec_dev", "d1"), ("wrong", "d2")):
            await sink.submit(
                Delivery(
                    delivery_id, "s1", "voice_session.ended", 2, json.dumps(body).encode(), url,
                    secret, wire="callmissed",
                )
            )  # fmt: skip
        await sink.aclose(timeout=10.0)
    finally:
        await runner.cleanup()

    lines = out.getvalue().splitlines()
    assert lines[0] == (
        "verified voice_session.ended session=s1 status=completed end_reason=user_hangup "
        "duration=4.5s"
    )
    assert lines[1] == "REJECTED bad signature delivery=d2"
