"""A real tool server on 127.0.0.1 and the call specs that point at it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web

from agent.intake.dispatch import CallSpec, parse_dispatch
from tests.support.receiver import verify_webhook_signature

SECRET = "whsec_tool_server_secret"
BOOK = {
    "type": "object",
    "properties": {
        "day": {"type": "string", "enum": ["friday", "saturday"]},
        "guests": {"type": "integer", "minimum": 1, "maximum": 12},
    },
    "required": ["day", "guests"],
}


@dataclass
class ToolServer:
    """Answers POST /tools by ``mode``: ok, hang (until released), 500, shape, error, redirect,
    raw (``answer(call_id)``'s bytes, exactly as they are)."""

    mode: str = "ok"
    requests: list[dict[str, Any]] = field(default_factory=list)
    signatures_ok: list[bool] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    received: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    in_flight: int = 0
    max_in_flight: int = 0
    expect_together: int = 1
    """Hold every request until this many are in flight at once (proves concurrency)."""
    _together: asyncio.Event = field(default_factory=asyncio.Event)
    url: str = ""
    answer: Callable[[str], bytes] = field(default=lambda call_id: b"{}")
    """Mode ``raw``: the body for a call id, sent byte for byte (invalid JSON, any size)."""
    chunk_bytes: int = 0
    """When set, the answer is streamed without a Content-Length, ``chunk_bytes`` per write,
    each flushed to the socket on its own (a body spread over many network chunks)."""

    async def handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.text()
        self.signatures_ok.append(
            verify_webhook_signature(
                raw,
                request.headers.get("X-Webhook-Timestamp", ""),
                request.headers.get("X-Webhook-Signature", ""),
                SECRET,
            )
        )
        self.headers.append(dict(request.headers))
        body = json.loads(raw)
        self.requests.append(body)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        if self.in_flight >= self.expect_together:
            self._together.set()
        self.received.set()
        try:
            await self._together.wait()
            if self.mode == "hang":
                await self.release.wait()
            call = body["message"]["toolCallList"][0]
            if self.mode == "500":
                return web.json_response({"error": "boom"}, status=500)
            if self.mode == "shape":
                return web.json_response({"answer": "booked"})
            if self.mode == "redirect":
                raise web.HTTPFound("http://169.254.169.254/latest/meta-data")
            if self.mode == "error":
                return web.json_response(
                    {"results": [{"toolCallId": call["id"], "error": "no table free"}]}
                )
            if self.mode == "raw":
                return await self._send(request, self.answer(call["id"]))
            result = {"booked": True, "day": call["arguments"].get("day")}
            return web.json_response({"results": [{"toolCallId": call["id"], "result": result}]})
        finally:
            self.in_flight -= 1

    async def _send(self, request: web.Request, body: bytes) -> web.StreamResponse:
        if not self.chunk_bytes:
            return web.Response(body=body, content_type="application/json")
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        for start in range(0, len(body), self.chunk_bytes):
            await response.write(body[start : start + self.chunk_bytes])
            await asyncio.sleep(0.001)  # let each chunk leave on its own
        await response.write_eof()
        return response


@pytest.fixture
async def server() -> AsyncIterator[ToolServer]:
    srv = ToolServer()
    app = web.Application()
    app.router.add_post("/tools", srv.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    srv.url = f"http://127.0.0.1:{runner.addresses[0][1]}/tools"
    yield srv
    srv.release.set()
    srv._together.set()
    await runner.cleanup()


def tool_config(url: str | None, **messages: Any) -> dict[str, Any]:
    tool: dict[str, Any] = {
        "type": "function",
        "function": {"name": "book_table", "description": "Book a table", "parameters": BOOK},
        "messages": {
            "request_start": "One moment.",
            "request_delayed": "Still checking.",
            "request_failed": "Sorry, the booking system is down.",
        }
        | messages,
    }
    if url is not None:
        tool["server"] = {"url": url, "secret": SECRET, "headers": {"Authorization": "Bearer t"}}
    return tool


async def call_spec(*tools: dict[str, Any], webhook_url: str | None = None) -> CallSpec:
    assistant: dict[str, Any] = {
        "name": "Tools",
        "stt_config": {"provider": "deepgram"},
        "llm_config": {"model": "gpt-4.1-mini"},
        "tts_config": {"provider": "elevenlabs", "voice_id": "v"},
        "tools": list(tools),
    }
    if webhook_url is not None:
        assistant |= {"webhook_url": webhook_url, "webhook_secret": SECRET}
    return await parse_dispatch(
        {"call": {"id": "call-tools", "type": "web_call"}, "assistant": assistant},
        room_name="room",
    )
