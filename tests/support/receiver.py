"""A real webhook receiver on 127.0.0.1, checking every signature with the seeds' verifiers:
HMS's ``verify_webhook_signature`` (seeds/001) for ``X-Webhook-*`` deliveries, CallMissed's
snippet (seeds/004, tests/support/callmissed.py) for ``X-CallMissed-*`` ones."""

from __future__ import annotations

import asyncio
import hashlib  # the seed verifier's imports
import hmac
import json
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web

from agent.contracts.wire import WireFormat
from agent.delivery.base import Delivery
from tests.support.callmissed import callmissed_verdict


# fmt: off
# --- verbatim from seeds/001_2de4bd04417139a6.txt ("Webhooks Security", Python) ---
def verify_webhook_signature(payload: str, timestamp: str, signature: str, secret: str) -> bool:
    sig_hex = signature.removeprefix("sha256=")
    message = f"{timestamp}.{payload}"
    expected = hmac.new(
        secret.encode(),
        message.encode(),
        hashlib.sha256
    ).hexdigest()
    return hmac.compare_digest(sig_hex, expected)
# --- end verbatim ---
# fmt: on


SECRET = "whsec_test_very_secret_value"


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    signature_ok: bool | None
    """The seed verifier's verdict; None when an HMS request carried no signature (the
    CallMissed snippet refuses an unsigned request itself: False)."""


@dataclass
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    hang: bool = False
    """Hold the request until the test releases it (a receiver slower than any timeout)."""
    body: bytes = b"{}"


class Receiver:
    """Answers each path from a script (one reply per request, the last one repeating)."""

    def __init__(self, secret: str = SECRET) -> None:
        self.secret = secret
        self.received: list[Received] = []
        self.scripts: dict[str, list[Reply]] = {}
        self.release = asyncio.Event()
        self.before: Callable[[web.Request], None] | None = None
        """Runs before a reply is picked: lets a test rewrite the script per request."""
        self.port = 0
        self._runner: web.AppRunner | None = None

    def script(self, path: str, *replies: Reply) -> str:
        self.scripts[path] = list(replies)
        return self.url(path)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def at(self, path: str) -> list[Received]:
        return [r for r in self.received if r.path == path]

    def messages(self, event_type: str | None = None) -> list[dict[str, Any]]:
        """The ``message`` of every JSON body received (of ``event_type`` when given)."""
        found = [json.loads(r.body)["message"] for r in self.received]
        return [m for m in found if event_type is None or m.get("type") == event_type]

    def reports(self) -> list[dict[str, Any]]:
        return self.messages("end-of-call-report")

    def only_report(self) -> dict[str, Any]:
        """The one end-of-call report: fails on none, on two, or on a bad signature."""
        reports = self.reports()
        assert len(reports) == 1, f"{len(reports)} end-of-call reports"
        assert all(r.signature_ok for r in self.received), "a delivery failed the seed verifier"
        return reports[0]

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        payload = await request.text()
        signature = request.headers.get("X-Webhook-Signature")
        ok = None
        if "X-CallMissed-Event" in request.headers:
            ok = await callmissed_verdict(await request.read(), request.headers, self.secret)
        elif signature is not None:
            timestamp = request.headers.get("X-Webhook-Timestamp", "")
            ok = verify_webhook_signature(payload, timestamp, signature, self.secret)
        self.received.append(
            Received(request.path, dict(request.headers), await request.read(), ok)
        )
        if self.before is not None:
            self.before(request)
        script = self.scripts.get(request.path, [Reply()])
        reply = script.pop(0) if len(script) > 1 else script[0]
        if reply.hang:
            await self.release.wait()
        return web.Response(status=reply.status, headers=reply.headers, body=reply.body)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("POST", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = int(self._runner.addresses[0][1])

    async def stop(self) -> None:
        self.release.set()
        if self._runner is not None:
            await self._runner.cleanup()


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    r = Receiver()
    await r.start()
    yield r
    await r.stop()


class VirtualClock:
    """Backoff waits on a virtual clock: ``sleep`` records the delay, advances time, and
    returns at once. ``monotonic`` and ``wall`` read the virtual time."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    async def sleep(self, delay: float) -> None:
        self.sleeps.append(delay)
        self.now += delay
        await asyncio.sleep(0)

    def monotonic(self) -> float:
        return self.now

    def wall(self) -> float:
        return 1_700_000_000.0 + self.now


def make_delivery(
    url: str | None,
    *,
    call_id: str = "call-1",
    seq: int = 1,
    event_type: str = "status-update",
    secret: str | None = SECRET,
    body: bytes | None = None,
    wire: WireFormat = "hms",
) -> Delivery:
    if body is None:
        # Non-ASCII text on purpose: the signature covers UTF-8 bytes, not escapes.
        message = {"type": event_type, "call": {"id": call_id}, "seq": seq, "note": "café – ok"}
        body = json.dumps({"message": message}, ensure_ascii=False).encode()
    return Delivery(
        delivery_id=str(uuid.uuid4()),
        call_id=call_id,
        event_type=event_type,
        seq=seq,
        body=body,
        url=url,
        secret=secret,
        wire=wire,
    )
