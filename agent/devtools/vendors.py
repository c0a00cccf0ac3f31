"""Every vendor endpoint (OpenAI, Deepgram, ElevenLabs) on 127.0.0.1, accepting and silent.

A real job's session connects to its vendors as soon as it starts, even when no audio flows
(Deepgram opens its streaming websocket, ElevenLabs prewarms its websocket, the OpenAI plugin
GETs `/models`). Fake jobs of a real AgentServer (the job-path tests, and the bench's
production figures, agent/bench/production.py) point every vendor base URL here, so nothing
reaches the internet: HTTP requests get 503, websockets are held open and never answered.
"""

from __future__ import annotations

from aiohttp import web


class SilentVendors:
    """Records every request, holds websockets open, answers nothing."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        self.port = 0
        self._sockets: set[web.WebSocketResponse] = set()
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def environment(self) -> dict[str, str]:
        """The worker settings that point every vendor here (with stand-in keys)."""
        return {
            "DEEPGRAM_API_KEY": "dummy-deepgram-key",
            "OPENAI_API_KEY": "dummy-openai-key",
            "ELEVEN_API_KEY": "dummy-eleven-key",
            "VOICE_AGENT_OPENAI_BASE_URL": f"{self.url}/v1",
            "VOICE_AGENT_DEEPGRAM_BASE_URL": f"{self.url}/v1/listen",
            "VOICE_AGENT_ELEVENLABS_BASE_URL": f"{self.url}/v1",
        }

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(f"{request.method} {request.path}")
        if request.headers.get("Upgrade", "").lower() != "websocket":
            return web.Response(status=503, text="offline stand-in")
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self._sockets.add(ws)
        try:
            async for _ in ws:  # keep-alives and audio frames
                pass
        finally:
            self._sockets.discard(ws)
        return ws

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.port = int(self._runner.addresses[0][1])

    async def stop(self) -> None:
        for ws in list(self._sockets):
            await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()
