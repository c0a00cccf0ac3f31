"""Webhook signatures and headers: the wire contract every receiver verifies.

Two header sets, chosen by the format the delivery's body was written in (``Delivery.wire``):

- ``hms`` (seed 001): receivers check ``X-Webhook-Signature`` (``sha256=<hex
  HMAC-SHA256(secret, "{timestamp}.{raw body}")>``) and deduplicate retries on
  ``X-Webhook-Id``. The timestamp is fresh on every attempt (receivers reject stale ones).
- ``callmissed`` (seed 004): ``X-CallMissed-Event``, ``X-CallMissed-Delivery`` (the delivery
  id, the same on every retry and on replay) and ``X-CallMissed-Signature: sha256=<hex
  HMAC-SHA256(secret, raw body)>``. No timestamp: the seed's signature has none. The
  ``X-Webhook-*`` headers are left out, so a receiver never sees two signature schemes.

Headers are built per attempt; the id never changes. Without a secret a delivery goes out
unsigned (the CallMissed verifier then refuses it: it reads the signature header).
"""

from __future__ import annotations

import hashlib
import hmac

from agent import __version__
from agent.delivery.base import Delivery

USER_AGENT = f"voice-agent-worker/{__version__}"


def sign(body: bytes, secret: str, timestamp: int) -> str:
    """``sha256=<hex>`` over ``"{timestamp}.{raw body}"``, the exact bytes that are sent."""
    message = str(timestamp).encode() + b"." + body
    digest = hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def sign_callmissed(body: bytes, secret: str) -> str:
    """``sha256=<hex>`` over the raw body alone, as CallMissed signs (seed 004)."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def delivery_headers(delivery: Delivery, now: float) -> dict[str, str]:
    """The headers of one attempt at ``now`` (unix seconds). Unsigned when there is no secret."""
    headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT}
    if delivery.wire == "callmissed":
        headers["X-CallMissed-Event"] = delivery.event_type
        headers["X-CallMissed-Delivery"] = delivery.delivery_id
        if delivery.secret:
            headers["X-CallMissed-Signature"] = sign_callmissed(delivery.body, delivery.secret)
        return headers
    timestamp = int(now)
    headers["X-Webhook-Timestamp"] = str(timestamp)
    headers["X-Webhook-Id"] = delivery.delivery_id
    headers["X-Webhook-Event"] = delivery.event_type
    if delivery.secret:
        headers["X-Webhook-Signature"] = sign(delivery.body, delivery.secret, timestamp)
    return headers
