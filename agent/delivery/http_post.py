"""The one signed HTTP POST: every request the worker makes to a URL a document chose.

Webhooks (:mod:`agent.delivery.attempt`), tool calls (:mod:`agent.call.tools.tool_server`) and
the assistant-request (:mod:`agent.intake.sources`) all go out through :class:`SignedPost`, so
each gets the same guard and the same reading of the answer (and the saved-assistant lookup,
a GET, :meth:`SignedPost.get`, the same guard with the caller's own headers):

    refuse a delivery that must be signed but has no secret (nothing goes out unsigned)
    -> check the target (TargetPolicy: SSRF guard) -> pin the connection to the checked addresses
    -> sign with a fresh timestamp -> POST, redirects never followed
    -> read the answer to its end, or stop once it passes the cap: ``too_large``

all inside one timeout when the caller gives one. A body is read whole: ``content.read(n)``
returns whatever one network chunk held, so reading once would judge the first 16 KB of a
valid answer. An answer over the cap is never parsed in part; the caller gets
``too_large=True`` and no body, and the connection is dropped rather than drained.

What fails is raised as :class:`PostFailed` with its :class:`PostFailure` kind; what the
receiver answered (any status) is returned. The callers decide what a status means: a webhook
retries a 503, a tool call fails on it.
"""

from __future__ import annotations

import asyncio
import enum
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import aiohttp

from agent.delivery.base import Delivery
from agent.delivery.signing import delivery_headers
from agent.delivery.target_policy import PinnedResolver, TargetPolicy, TargetRefused

SessionFactory = Callable[[PinnedResolver], aiohttp.ClientSession]

# Headers a caller's extra headers (a tool's `server.headers`) may not replace: they are the
# signature contract and the framing.
PROTECTED_HEADERS = frozenset(
    h.lower()
    for h in (
        "Content-Type",
        "X-Webhook-Timestamp",
        "X-Webhook-Signature",
        "X-Webhook-Id",
        "X-Webhook-Event",
        "Host",
        "Content-Length",
        "Transfer-Encoding",
    )
)


def default_session(resolver: PinnedResolver) -> aiohttp.ClientSession:
    """A session that can only connect where the policy said: the pinned resolver is its only
    source of addresses (no DNS cache around it), no proxies from the environment, and no
    cookie jar (one receiver's cookies must never travel to another)."""
    connector = aiohttp.TCPConnector(resolver=resolver, use_dns_cache=False, limit_per_host=8)
    return aiohttp.ClientSession(
        connector=connector,
        trust_env=False,
        cookie_jar=aiohttp.DummyCookieJar(),
        timeout=aiohttp.ClientTimeout(total=None),  # each request carries its own timeout
    )


class PostFailure(enum.StrEnum):
    REFUSED = "refused"
    """The target policy refused the URL; nothing was sent."""
    UNSIGNED = "unsigned"
    """The delivery must be signed and has no secret; nothing was sent."""
    UNRESOLVED = "unresolved"
    """The host name did not resolve (DNS): nothing was sent."""
    TIMEOUT = "timeout"
    CONNECTION = "connection"
    """Connecting, sending or reading failed (reset, TLS, a malformed response)."""


class PostFailed(Exception):
    """The exchange produced no answer. ``detail`` is the policy's reason (``refused``) or the
    exception's type name; neither ever holds the URL's path or query."""

    def __init__(self, failure: PostFailure, detail: str) -> None:
        super().__init__(f"{failure}: {detail}")
        self.failure = failure
        self.detail = detail


@dataclass(frozen=True, slots=True)
class PostAnswer:
    status: int
    body: bytes = field(repr=False)
    """The whole body; empty when ``too_large``."""
    too_large: bool = False
    """The body (or its declared length) passed the cap; none of it is kept."""
    retry_after: str | None = None
    """The ``Retry-After`` header as sent, for the webhook sink's retries."""


async def read_body(response: aiohttp.ClientResponse, max_bytes: int) -> bytes | None:
    """``response``'s body to its end, or None as soon as it is known to pass ``max_bytes``
    (a declared ``Content-Length`` over the cap is not read at all)."""
    declared = response.content_length
    if declared is not None and declared > max_bytes:
        return None
    body = bytearray()
    while True:
        # Never ask for more than one byte past the cap: that byte is what proves "too large".
        chunk = await response.content.read(max_bytes + 1 - len(body))
        if not chunk:
            return bytes(body)
        body += chunk
        if len(body) > max_bytes:
            return None


class SignedPost:
    """Signed, policy-checked, pinned, capped POSTs, over one connection pool.

    One per owner: the webhook sink keeps one for all calls, a call's tools share one, an
    assistant-request makes one per request. ``aclose()`` closes the pool.
    """

    def __init__(
        self,
        policy: TargetPolicy,
        *,
        session_factory: SessionFactory = default_session,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.policy = policy
        self._resolver = PinnedResolver()
        self._session_factory = session_factory
        self._session: aiohttp.ClientSession | None = None
        self._wall_clock = wall_clock

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = self._session_factory(self._resolver)
        return self._session

    async def post(
        self,
        delivery: Delivery,
        *,
        max_body: int,
        timeout: float | None = None,  # noqa: ASYNC109 - one bound for check, send and read
        extra_headers: Mapping[str, str] | None = None,
    ) -> PostAnswer:
        """POST ``delivery`` to its URL once and read the answer (up to ``max_body`` bytes).

        Raises :class:`PostFailed` when no answer came back. Without ``timeout`` the caller
        bounds the exchange (by cancelling this coroutine)."""
        if delivery.url is None:
            raise PostFailed(PostFailure.REFUSED, "no URL")
        if delivery.unsigned_but_required:
            raise PostFailed(PostFailure.UNSIGNED, "signature_unavailable")
        headers = {
            name: value
            for name, value in (extra_headers or {}).items()
            if name.lower() not in PROTECTED_HEADERS
        }
        signed = headers | delivery_headers(delivery, self._wall_clock())
        return await self._guarded("POST", delivery.url, delivery.body, signed, max_body, timeout)

    async def get(
        self,
        url: str,
        *,
        headers: Mapping[str, str],
        max_body: int,
        timeout: float | None = None,  # noqa: ASYNC109 - one bound for check, send and read
    ) -> PostAnswer:
        """GET ``url`` under the same guard (policy, pinning, no redirects, the body read
        whole up to ``max_body``); ``headers`` are the caller's (a bearer token, or a
        signature it made). Raises :class:`PostFailed` when no answer came back."""
        return await self._guarded("GET", url, None, dict(headers), max_body, timeout)

    async def _guarded(
        self,
        method: str,
        url: str,
        body: bytes | None,
        headers: dict[str, str],
        max_body: int,
        timeout: float | None,  # noqa: ASYNC109 - one bound for check, send and read
    ) -> PostAnswer:
        try:
            async with asyncio.timeout(timeout):
                return await self._exchange(method, url, body, headers, max_body)
        except TargetRefused as exc:
            raise PostFailed(PostFailure.REFUSED, exc.reason) from exc
        except TimeoutError as exc:
            raise PostFailed(PostFailure.TIMEOUT, "timeout") from exc
        except (aiohttp.ClientError, OSError, ValueError) as exc:
            # ValueError: aiohttp refusing a header or URL it cannot send.
            raise PostFailed(PostFailure.CONNECTION, type(exc).__name__) from exc

    async def _exchange(
        self, method: str, url: str, body: bytes | None, headers: dict[str, str], max_body: int
    ) -> PostAnswer:
        try:
            target = await self.policy.check(url)
        except OSError as exc:
            raise PostFailed(PostFailure.UNRESOLVED, type(exc).__name__) from exc
        self._resolver.pin(target)
        async with self._client().request(
            method, url, data=body, headers=headers, allow_redirects=False
        ) as response:
            answer = await read_body(response, max_body)
            if answer is None:
                response.close()  # drop the connection: the rest of the body is never read
            return PostAnswer(
                status=response.status,
                body=answer or b"",
                too_large=answer is None,
                retry_after=response.headers.get("Retry-After"),
            )

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
