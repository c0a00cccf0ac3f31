"""Webhook signatures and headers: the wire contract every receiver verifies.

Receivers check ``X-Webhook-Signature`` with the code in the platform documentation
(``sha256=<hex HMAC-SHA256(secret, "{timestamp}.{raw body}")>``), and deduplicate retries on
``X-Webhook-Id``. Headers are built per attempt: the timestamp is fresh every time (receivers
reject stale timestamps), the id never changes.
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


def delivery_headers(delivery: Delivery, now: float) -> dict[str, str]:
    """The headers of one attempt at ``now`` (unix seconds). Unsigned when there is no secret."""
    timestamp = int(now)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-Webhook-Timestamp": str(timestamp),
        "X-Webhook-Id": delivery.delivery_id,
        "X-Webhook-Event": delivery.event_type,
    }
    if delivery.secret:
        headers["X-Webhook-Signature"] = sign(delivery.body, delivery.secret, timestamp)
    return headers
