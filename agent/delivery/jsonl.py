"""A sink that appends every event to a JSON Lines file.

For local development, the simulator's recordings and operators who ship files rather than
receive webhooks. Each line is one delivery: its metadata plus the event parsed from the body,
flushed as it is written so a crash loses at most the line being written. The file holds
transcripts: keep it where transcripts may be kept. Secrets are never written.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import IO, Any

import structlog

from agent.delivery.base import Delivery

log = structlog.get_logger(__name__)


class JsonlSink:
    """Appends ``{"delivery_id", "call_id", "event_type", "seq", "event"}`` per delivery.

    Writes run in a thread, one at a time and in submit order, so the file never interleaves
    two lines and the event loop never waits on the disk.
    """

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._lock = asyncio.Lock()
        self._handle: IO[str] | None = None

    async def submit(self, delivery: Delivery) -> None:
        record: dict[str, Any] = {
            "delivery_id": delivery.delivery_id,
            "call_id": delivery.call_id,
            "event_type": delivery.event_type,
            "seq": delivery.seq,
        }
        try:
            record["event"] = json.loads(delivery.body)
        except ValueError:
            # Not ours to fix here; keep the text so nothing is lost.
            record["event_text"] = delivery.body.decode("utf-8", errors="replace")
        line = json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n"
        async with self._lock:
            await asyncio.to_thread(self._append, line)

    def _append(self, line: str) -> None:
        if self._handle is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._handle = self.path.open("a", encoding="utf-8")
        self._handle.write(line)
        self._handle.flush()

    async def flush(self, call_id: str | None = None, timeout: float = 30.0) -> None:  # noqa: ASYNC109
        # Every submit has written and flushed its line before returning; waiting for the
        # lock covers a submit still in progress.
        async with asyncio.timeout(timeout), self._lock:
            return

    async def aclose(self, timeout: float = 30.0) -> None:  # noqa: ASYNC109
        async with asyncio.timeout(timeout), self._lock:
            if self._handle is not None:
                await asyncio.to_thread(self._handle.close)
                self._handle = None
