"""A webhook receiver for local development: prints each event it can verify, answers 200.

`python -m agent.devtools.receiver [--host H] [--port P] [--secret S]` (secret default:
VOICE_AGENT_WEBHOOK_SECRET). Signatures are checked exactly as a platform's receiver checks
them: ``X-Webhook-Signature: sha256=<hex HMAC-SHA256(secret, "{X-Webhook-Timestamp}.{raw
body}")>``, with a timestamp no more than 5 minutes off. A bad signature or stale timestamp is
answered 401 and printed as rejected; without a secret every event is printed as unverified.
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

from agent.delivery.signing import sign

TIMESTAMP_TOLERANCE_SECONDS = 300


def verify(body: bytes, timestamp: str, signature: str, secret: str, *, now: float) -> bool:
    try:
        stamp = int(timestamp)
    except ValueError:
        return False
    if abs(now - stamp) > TIMESTAMP_TOLERANCE_SECONDS:
        return False
    return hmac.compare_digest(sign(body, secret, stamp), signature)


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
