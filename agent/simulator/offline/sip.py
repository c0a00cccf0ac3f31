"""An offline LiveKit server API: the SIP gateway a simulated phone call transfers through.

A transfer leaves the worker as one request, ``TransferSIPParticipant``, through the real
``livekit.api.LiveKitAPI`` client (:class:`agent.call.telephony.sip.SipGateway`). To simulate a SIP
REFER without a LiveKit server, this is that server: an aiohttp app on 127.0.0.1 (port 0)
speaking LiveKit's Twirp protocol (protobuf bodies). It keeps every request it got (decoded,
with its bearer token) and answers each method with a configured protobuf reply or a Twirp
error, so everything on our side of the boundary (request shape, error mapping, outcomes) is
the production code.

A scenario picks the transfer's fate with ``providers.sip_transfer``: ``ok`` answers
``STS_TRANSFER_SUCCESSFUL``; ``fail`` answers the Twirp error LiveKit returns when the far end
rejects the REFER (SIP 486 Busy Here); ``providers.sip_transfer_ms`` is how long the answer
takes (a real REFER rings the far end first). Tests use the same server for the other server API
calls (``CreateSIPParticipant``, ``RoomService.SendData``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

from aiohttp import web
from google.protobuf.message import Message
from livekit import api

API_KEY = "offline-key"
API_SECRET = "offline-secret-long-enough-for-hs256-signing"  # noqa: S105 - not a secret
"""Credentials of this offline server only (it checks none; the client needs some to sign)."""

TRANSFER = "livekit.SIP/TransferSIPParticipant"
DIAL = "livekit.SIP/CreateSIPParticipant"
SEND_DATA = "livekit.RoomService/SendData"

_REQUESTS: dict[str, type[Message]] = {
    TRANSFER: api.TransferSIPParticipantRequest,
    DIAL: api.CreateSIPParticipantRequest,
    SEND_DATA: api.SendDataRequest,
}

SipTransferOutcome = Literal["ok", "fail"]

REFER_REJECTED: tuple[int, dict[str, Any]] = (
    400,
    {
        "code": "failed_precondition",
        "msg": "refer rejected",
        "meta": {"sip_status_code": "486", "sip_status": "Busy Here"},
    },
)
"""The Twirp error of a REFER the far end refused (``SipCallError`` 486 on the client)."""


@dataclass
class Seen:
    """One request as the server got it."""

    path: str
    body: Any
    """The decoded protobuf request (raw bytes for a method it does not know)."""
    authorization: str


@dataclass
class OfflineLiveKitServer:
    """The server API on 127.0.0.1; ``answers`` says what each ``Service/Method`` returns."""

    url: str = ""
    seen: list[Seen] = field(default_factory=list)
    answers: dict[str, Message | tuple[int, dict[str, Any]]] = field(default_factory=dict)
    """``Service/Method`` -> protobuf reply, or (HTTP status, Twirp error JSON)."""
    delays: dict[str, float] = field(default_factory=dict)
    """``Service/Method`` -> seconds before it answers (the loop's: call time when sped up)."""
    _runner: web.AppRunner | None = None

    async def handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        body = await request.read()
        decoded = _REQUESTS[method].FromString(body) if method in _REQUESTS else body
        self.seen.append(Seen(request.path, decoded, request.headers.get("Authorization", "")))
        if self.delays.get(method):
            await asyncio.sleep(self.delays[method])
        answer = self.answers.get(method)
        if isinstance(answer, tuple):
            status, error = answer
            return web.json_response(error, status=status)
        payload = answer.SerializeToString() if answer is not None else b""
        return web.Response(body=payload, content_type="application/protobuf")

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/twirp/{method:.+}", self.handle)
        return app

    async def start(self) -> None:
        """Listen on 127.0.0.1, a free port; ``url`` is set once listening."""
        runner = web.AppRunner(self.app(), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self._runner = runner
        self.url = f"http://127.0.0.1:{runner.addresses[0][1]}"

    async def aclose(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def api(self) -> api.LiveKitAPI:
        """A real client for this server (close it with ``aclose``)."""
        return api.LiveKitAPI(self.url, API_KEY, API_SECRET)

    def requests(self, method: str) -> list[Any]:
        return [s.body for s in self.seen if s.path == f"/twirp/{method}"]

    def answer_transfers(self, outcome: SipTransferOutcome) -> None:
        """Every REFER succeeds (``ok``) or is rejected by the far end (``fail``)."""
        self.answers[TRANSFER] = (
            api.TransferSIPParticipantResponse(status="STS_TRANSFER_SUCCESSFUL")
            if outcome == "ok"
            else REFER_REJECTED
        )


@asynccontextmanager
async def offline_livekit(
    transfer: SipTransferOutcome = "ok",
    transfer_seconds: float = 0.0,
) -> AsyncIterator[tuple[OfflineLiveKitServer, api.LiveKitAPI]]:
    """A running offline server whose REFERs end ``transfer`` after ``transfer_seconds``, and a
    client talking to it."""
    server = OfflineLiveKitServer()
    server.answer_transfers(transfer)
    server.delays[TRANSFER] = transfer_seconds
    await server.start()
    try:
        lkapi = server.api()
        try:
            yield server, lkapi
        finally:
            await lkapi.aclose()
    finally:
        await server.aclose()
