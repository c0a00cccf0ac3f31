"""A webhook receiver for local development: prints each event it can verify, answers 200.

`python -m agent.devtools.receiver [--host H] [--port P] [--secret S]` (secret default:
VOICE_AGENT_WEBHOOK_SECRET). Signatures are checked exactly as a platform's receiver checks
them, in the format of the delivery: HMS's ``X-Webhook-Signature: sha256=<hex
HMAC-SHA256(secret, "{X-Webhook-Timestamp}.{raw body}")>`` with a timestamp no more than 5
minutes off, or CallMissed's ``X-CallMissed-Signature: sha256=<hex HMAC-SHA256(secret, raw
body)>`` (when ``X-CallMissed-Event`` is there). A bad signature or stale timestamp is answered
401 and printed as rejected; without a secret every event is printed as unverified.
Transcript text is printed for transcript events: this is a developer's own terminal.
"""

from __future__ import annotations

import argparse
import asyncio
import hmac
import json
import os
import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

from aiohttp import web

from agent.delivery.signing import sign, sign_callmissed

TIMESTAMP_TOLERANCE_SECONDS = 300


def verify(body: bytes, timestamp: str, signature: str, secret: str, *, now: float) -> bool:
    try:
        stamp = int(timestamp)
    except ValueError:
        return False
    if abs(now - stamp) > TIMESTAMP_TOLERANCE_SECONDS:
        return False
    return hmac.compare_digest(sign(body, secret, stamp), signature)


def verify_callmissed(body: bytes, signature: str, secret: str) -> bool:
    return hmac.compare_digest(sign_callmissed(body, secret), signature)


def describe_session(event: str, session: dict[str, Any]) -> str:
    """One line for a CallMissed event: name, session id, status and end reason."""
    line = f"{event} session={session.get('id')} status={session.get('status')}"
    if session.get("end_reason") is not None:
        line += f" end_reason={session['end_reason']} duration={session.get('duration_seconds')}s"
    return line


def describe(message: dict[str, Any]) -> str:
    """One line per event: type, call id, seq, and what matters for that type."""
    kind = str(message.get("type"))
    call = message.get("call") or {}
    line = f"{kind} call={call.get('id')} seq={message.get('seq')}"
    if kind == "status-update":
        line += f" status={message.get('status')}"
    elif kind == "end-of-call-report":
        line += (
            f" end_reason={message.get('end_reason')} duration={message.get('duration_seconds')}s"
        )
    elif kind == "transcript":
        line += f" {message.get('role')}: {message.get('transcript')}"
    return line


def build_app(
    secret: str | None, *, out: TextIO = sys.stdout, clock: Callable[[], float] = time.time
) -> web.Application:
    async def receive(request: web.Request) -> web.Response:
        body = await request.read()
        event = request.headers.get("X-CallMissed-Event")
        if event is not None:
            return callmissed(request, body, event)
        if secret:
            ok = verify(
                body,
                request.headers.get("X-Webhook-Timestamp", ""),
                request.headers.get("X-Webhook-Signature", ""),
                secret,
                now=clock(),
            )
            if not ok:
                print(f"REJECTED bad signature id={request.headers.get('X-Webhook-Id')}", file=out)
                out.flush()
                return web.json_response({"error": "bad signature"}, status=401)
        try:
            message = json.loads(body)["message"]
        except (ValueError, KeyError, TypeError):
            print("REJECTED not an event envelope", file=out)
            out.flush()
            return web.json_response({"error": "not an event"}, status=400)
        mark = "verified" if secret else "UNVERIFIED (no secret)"
        print(f"{mark} {describe(message)}", file=out)
        out.flush()
        return web.json_response({"ok": True})

    def callmissed(request: web.Request, body: bytes, event: str) -> web.Response:
        delivery = request.headers.get("X-CallMissed-Delivery")
        signature = request.headers.get("X-CallMissed-Signature", "")
        if secret and not verify_callmissed(body, signature, secret):
            print(f"REJECTED bad signature delivery={delivery}", file=out)
            out.flush()
            return web.json_response({"error": "bad signature"}, status=401)
        try:
            session = json.loads(body)
        except ValueError:
            session = None
        if not isinstance(session, dict):
            print("REJECTED not a session body", file=out)
            out.flush()
            return web.json_response({"error": "not a session"}, status=400)
        mark = "verified" if secret else "UNVERIFIED (no secret)"
        print(f"{mark} {describe_session(event, session)}", file=out)
        out.flush()
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_post("/{tail:.*}", receive)
    return app


async def serve(host: str, port: int, secret: str | None) -> None:
    runner = web.AppRunner(build_app(secret))
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    print(f"webhook receiver on http://{host}:{port}/ (any path)", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m agent.devtools.receiver")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8090)
    parser.add_argument("--secret", default=os.environ.get("VOICE_AGENT_WEBHOOK_SECRET"))
    args = parser.parse_args(argv)
    if not args.secret:
        print("no --secret / VOICE_AGENT_WEBHOOK_SECRET: events are NOT verified", flush=True)
    try:
        asyncio.run(serve(args.host, args.port, args.secret))
    except KeyboardInterrupt:
        return 0
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
