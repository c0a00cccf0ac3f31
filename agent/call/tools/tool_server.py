"""The HTTP side of a tool call: one signed POST to the tool's server, its answer read back.

A tool server URL comes from the dispatch document, so the request goes out through the one
signed POST every such URL gets (:mod:`agent.delivery.http_post`): the host resolved and
checked by the SSRF policy, the connection pinned to the checked addresses, redirects never
followed (a 302 to ``http://169.254.169.254/`` would walk round the check), no cookies or proxy
settings, and the answer read to its end. Unlike a webhook, a tool call is a request whose
answer the model is waiting for: there is no retry and no outbox, the answer is read whole (up
to :data:`MAX_ANSWER_BYTES`; a longer one is refused as too large, never parsed in part) and
handed back, and a failure is an answer too (:class:`ToolServerError`, with a reason the model
can be shown).

One client per call: its connection pool is reused by every tool call of that call (a second
call to the same backend skips the TCP and TLS handshakes) and closed with the call.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from agent.contracts.tool_answer import MAX_TOOL_ANSWER_BYTES
from agent.delivery.attempt import url_host
from agent.delivery.base import Delivery
from agent.delivery.http_post import (
    PostFailed,
    PostFailure,
    SessionFactory,
    SignedPost,
    default_session,
)
from agent.delivery.target_policy import TargetPolicy

MAX_ANSWER_BYTES = MAX_TOOL_ANSWER_BYTES
"""A tool answer the model reads; anything bigger is a backend bug, not a result."""


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
        self._poster = SignedPost(policy, session_factory=session_factory, wall_clock=wall_clock)

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
            answer = await self._poster.post(
                delivery, max_body=MAX_ANSWER_BYTES, extra_headers=extra_headers
            )
        except PostFailed as exc:
            if exc.failure is PostFailure.REFUSED:
                raise ToolServerError(
                    f"the tool server {host!r} is not allowed: {exc.detail}"
                ) from exc
            if exc.failure is PostFailure.UNRESOLVED:
                raise ToolServerError(f"the tool server {host!r} could not be resolved") from exc
            raise ToolServerError(
                f"could not reach the tool server {host!r} ({exc.detail})"
            ) from exc
        status = answer.status
        if 300 <= status <= 399:
            raise ToolServerError(
                f"the tool server answered HTTP {status} (redirects are not followed)",
                status=status,
            )
        if not 200 <= status <= 299:
            raise ToolServerError(f"the tool server answered HTTP {status}", status=status)
        if answer.too_large:
            raise ToolServerError(
                f"the tool server's answer is larger than {MAX_ANSWER_BYTES} bytes", status=status
            )
        return ToolServerAnswer(status=status, body=answer.body)

    async def aclose(self) -> None:
        await self._poster.aclose()
