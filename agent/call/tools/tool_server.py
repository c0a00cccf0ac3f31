"""The HTTP side of a tool call: one signed POST to the tool's server, its answer read back.

A tool server URL comes from the dispatch document, so it gets the same guard as every webhook
(:mod:`agent.delivery.target_policy`): the host is resolved and checked, the connection is pinned
to the
checked addresses, redirects are never followed (a 302 to ``http://169.254.169.254/`` would
walk round the check), and no cookies or proxy settings travel. Unlike a webhook, a tool call
is a request whose answer the model is waiting for: there is no retry and no outbox, the
answer is read (up to :data:`MAX_ANSWER_BYTES`) and handed back, and a failure is an answer
too (:class:`ToolServerError`, with a reason the model can be shown).

One client per call: its connection pool is reused by every tool call of that call (a second
call to the same backend skips the TCP and TLS handshakes) and closed with the call.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import aiohttp

from agent.delivery.attempt import url_host
from agent.delivery.base import Delivery
from agent.delivery.signing import delivery_headers
from agent.delivery.target_policy import PinnedResolver, TargetPolicy, TargetRefused
from agent.delivery.webhook import SessionFactory, default_session

MAX_ANSWER_BYTES = 256 * 1024
"""A tool answer the model reads; anything bigger is a backend bug, not a result."""

# Headers a tool's own `server.headers` may not replace: they are the signature contract.
_PROTECTED = frozenset(
    h.lower()
    for h in (
        "Content-Type",
        "X-Webhook-Timestamp",
        "X-Webhook-Signature",
        "X-Webhook-Id",
        "X-Webhook-Event",
        "Host",
        "Content-Length",
    )
)


class ToolServerError(Exception):
    """The exchange failed. ``reason`` is safe to show the model and to log: it names the
    host at most, never the path or query (which may carry tokens)."""

    def __init__(self, reason: str, *, status: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


@dataclass(frozen=True, slots=True)
class ToolServerAnswer:
    status: int
    body: bytes


class ToolServerClient:
    """Posts tool-calls deliveries under the SSRF policy. Not retried: the model is waiting."""

    def __init__(
        self,
        policy: TargetPolicy,
        *,
        session_factory: SessionFactory = default_session,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._policy = policy
        self._resolver = PinnedResolver()
        self._session_factory = session_factory
        self._session: aiohttp.ClientSession | None = None
        self._wall_clock = wall_clock

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = self._session_factory(self._resolver)
        return self._session

    async def post(
        self, delivery: Delivery, *, extra_headers: Mapping[str, str] | None = None
    ) -> ToolServerAnswer:
        """POST ``delivery`` once and return the 2xx answer; raise :class:`ToolServerError`
        for a refused target, a connection failure, a non-2xx status or an oversized body.
        Timeouts are the caller's (it cancels this coroutine)."""
        if delivery.url is None:
            raise ToolServerError("no tool server URL (set server.url or webhook_url)")
        if delivery.unsigned_but_required:
            raise ToolServerError("the tool's signing secret is not available; nothing was sent")
        host = url_host(delivery.url)
        try:
            target = await self._policy.check(delivery.url)
        except TargetRefused as exc:
            raise ToolServerError(f"the tool server {host!r} is not allowed: {exc.reason}") from exc
        except OSError as exc:
            raise ToolServerError(f"the tool server {host!r} could not be resolved") from exc
        self._resolver.pin(target)
        headers = {
            name: value
            for name, value in (extra_headers or {}).items()
            if name.lower() not in _PROTECTED
        }
        headers |= delivery_headers(delivery, self._wall_clock())
        try:
            async with self._client().post(
                delivery.url, data=delivery.body, headers=headers, allow_redirects=False
            ) as response:
                status = response.status
                body = await response.content.read(MAX_ANSWER_BYTES + 1)
        except (aiohttp.ClientError, OSError) as exc:
            raise ToolServerError(
                f"could not reach the tool server {host!r} ({type(exc).__name__})"
            ) from exc
        if 300 <= status <= 399:
            raise ToolServerError(
                f"the tool server answered HTTP {status} (redirects are not followed)",
                status=status,
            )
        if not 200 <= status <= 299:
            raise ToolServerError(f"the tool server answered HTTP {status}", status=status)
        if len(body) > MAX_ANSWER_BYTES:
            raise ToolServerError(
                f"the tool server's answer is larger than {MAX_ANSWER_BYTES} bytes", status=status
            )
        return ToolServerAnswer(status=status, body=body)

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
