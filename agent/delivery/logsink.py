"""A sink that only notes that an event happened: for development and as a heartbeat.

It logs the event type, call id and sequence number at info, never the body: bodies carry
transcripts and phone numbers, which never go into a log line at info level.
"""

from __future__ import annotations

import structlog

from agent.delivery.base import Delivery

log = structlog.get_logger(__name__)


class LogSink:
    """Logs ``event_emitted`` per delivery; nothing to flush or close."""

    async def submit(self, delivery: Delivery) -> None:
        log.info(
            "event_emitted",
            call_id=delivery.call_id,
            delivery_id=delivery.delivery_id,
            event_type=delivery.event_type,
            seq=delivery.seq,
            bytes=len(delivery.body),
        )

    async def flush(self, call_id: str | None = None, timeout: float = 30.0) -> None:  # noqa: ASYNC109
        return None

    async def aclose(self, timeout: float = 30.0) -> None:  # noqa: ASYNC109
        return None
