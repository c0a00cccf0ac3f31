"""CallMissed's own signature check (seeds/004 "Verify the signature"), run as receivers run it.

The seed's Python snippet is written for a Starlette/FastAPI handler: ``await request.body()``
gives the raw bytes, ``request.headers[...]`` is case-insensitive, ``webhook_secret`` is in
scope. ``verify_callmissed_signature`` is that snippet, verbatim, as the body of such a handler;
``SeedRequest`` gives it the request it expects from an aiohttp request. The snippet signals a
bad signature the way it is written: ``assert`` fails (and a missing header is a ``KeyError``),
so pytest must not run with ``-O``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol


class _Request(Protocol):
    @property
    def headers(self) -> Mapping[str, str]: ...

    async def body(self) -> bytes: ...


# fmt: off
async def verify_callmissed_signature(request: _Request, webhook_secret: str) -> None:
    # --- verbatim from seeds/004_7263bb0198f1bc3b.txt ("Verify the signature", python) ---
    import hmac, hashlib

    raw_body = await request.body()                            # bytes — do not re-serialize
    received = request.headers["X-CallMissed-Signature"]       # e.g. "sha256=abc123..."
    expected = "sha256=" + hmac.new(
        webhook_secret.encode(), raw_body, hashlib.sha256
    ).hexdigest()
    assert hmac.compare_digest(expected, received)
    # --- end verbatim ---
# fmt: on


@dataclass(frozen=True)
class SeedRequest:
    """What the snippet reads from a request: the raw body and case-insensitive headers."""

    raw: bytes
    headers: Mapping[str, str]

    async def body(self) -> bytes:
        return self.raw


async def callmissed_verdict(raw: bytes, headers: Mapping[str, str], secret: str) -> bool:
    """True when the seed's snippet accepts the request, False when it refuses it."""
    try:
        await verify_callmissed_signature(SeedRequest(raw, headers), secret)
    except (AssertionError, KeyError):
        return False
    return True
