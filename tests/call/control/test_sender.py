"""`python -m agent control ROOM JSON` against a fake LiveKit server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json

import pytest
from livekit import api

from agent.call.control import CONTROL_TOPIC
from agent.cli import main
from tests.support.telephony import API_KEY, API_SECRET, FakeLiveKit, livekit_server

__all__ = ["livekit_server"]

SEND_DATA = "livekit.RoomService/SendData"


@pytest.fixture
def settings_env(monkeypatch: pytest.MonkeyPatch, livekit_server: FakeLiveKit) -> FakeLiveKit:
    monkeypatch.setenv("LIVEKIT_URL", livekit_server.url)
    monkeypatch.setenv("LIVEKIT_API_KEY", API_KEY)
    monkeypatch.setenv("LIVEKIT_API_SECRET", API_SECRET)
    return livekit_server


async def test_sends_send_data_to_the_agent(
    settings_env: FakeLiveKit, capsys: pytest.CaptureFixture[str]
) -> None:
    command = '{"type": "say", "content": "One moment please.", "end_after": false}'
    # main() runs its own event loop; the fake server lives on this one.
    code = await asyncio.to_thread(
        main, ["control", "room-42", command, "--identity", "agent-AJ_1"]
    )
    assert code == 0
    (seen,) = settings_env.seen
    assert seen.path == f"/twirp/{SEND_DATA}"
    request = seen.body
    assert isinstance(request, api.SendDataRequest)
    assert request.room == "room-42"
    assert request.topic == CONTROL_TOPIC
    assert list(request.destination_identities) == ["agent-AJ_1"]
    assert request.kind == api.DataPacket.Kind.RELIABLE
    assert json.loads(request.data) == {
        "type": "say",
        "content": "One moment please.",
        "end_after": False,
    }
    assert seen.authorization.startswith("Bearer ")
    assert json.loads(capsys.readouterr().out)["sent"] == "say"


async def test_without_identity_everyone_gets_it(settings_env: FakeLiveKit) -> None:
    code = await asyncio.to_thread(main, ["control", "room-42", '{"type": "end-call"}'])
    assert code == 0
    (request,) = settings_env.requests(SEND_DATA)
    assert list(request.destination_identities) == []


async def test_server_refusal_exits_1(settings_env: FakeLiveKit) -> None:
    settings_env.answers[SEND_DATA] = (404, {"code": "not_found", "msg": "room not found"})
    code = await asyncio.to_thread(main, ["control", "nope", '{"type": "end-call"}'])
    assert code == 1


def test_invalid_command_is_not_sent(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["control", "room-42", '{"type": "say"}'])
    assert code == 2
    assert "say.content" in capsys.readouterr().err
