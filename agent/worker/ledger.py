"""Call ledger: the main process's record of which calls still owe an end-of-call report.

A job process can die without running any of its own code again (OOM kill, segfault in a native
library, `kill -9`). The worker's main process outlives it, so it keeps the promise instead: when
a job process starts a call it opens a ledger entry (a small file), and it closes the entry once
its report has been handed to the sinks (delivered or parked in the outbox). When a job process
exits while its entry is still open, the main process sends a report for that call itself,
`end_reason: error`, built from what it knows: the dispatch document and the start time.

Exactly once: the end-of-call report's delivery id is derived from the call id
(`report_delivery_id`), so even if a dying process got its report out a moment before the entry
could be closed, the receiver sees the same `X-Webhook-Id` twice and drops the repeat.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog

log = structlog.get_logger(__name__)

_REPORT_NAMESPACE = uuid.UUID("6f1c2a7e-3f0b-4c55-9d2e-8a1b7c4d5e60")
_SAFE = re.compile(r"[^A-Za-z0-9_.-]")


def report_delivery_id(call_id: str) -> str:
    """The one X-Webhook-Id an end-of-call report of this call ever carries."""
    return str(uuid.uuid5(_REPORT_NAMESPACE, f"end-of-call-report:{call_id}"))


@dataclass(frozen=True)
class LedgerEntry:
    job_id: str
    call_id: str
    room: str
    started_at: str
    pid: int
    dispatch_metadata: str = ""
    """The dispatch document as received (from either metadata), so a report can still be
    addressed after a worker restart. May hold secrets: ledger files are written 0600 in a 0700
    directory, like the outbox."""
    live_at: str = ""
    """When the call went live (ISO 8601), empty before: a job that died before it is reported
    as a `failed` call, one that died after it as an `ended` one (both `end_reason: error`)."""


class CallLedger:
    """One JSON file per open call under `directory` (atomic writes)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _path(self, job_id: str) -> Path:
        return self.directory / f"{_SAFE.sub('_', job_id)}.json"

    def open(
        self,
        job_id: str,
        call_id: str,
        room: str,
        started_at: datetime | None = None,
        *,
        dispatch_metadata: str = "",
    ) -> None:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        entry = LedgerEntry(
            job_id=job_id,
            call_id=call_id,
            room=room,
            started_at=(started_at or datetime.now(UTC)).isoformat(),
            pid=os.getpid(),
            dispatch_metadata=dispatch_metadata,
        )
        self._write(entry)

    def mark_live(self, job_id: str, at: datetime | None = None) -> None:
        """The call of ``job_id`` went live (a no-op when its entry is gone)."""
        entry = self.get(job_id)
        if entry is not None:
            self._write(replace(entry, live_at=(at or datetime.now(UTC)).isoformat()))

    def _write(self, entry: LedgerEntry) -> None:
        path = self._path(entry.job_id)
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(json.dumps(asdict(entry)))
        os.replace(tmp, path)

    def close(self, job_id: str) -> None:
        self._path(job_id).unlink(missing_ok=True)

    def get(self, job_id: str) -> LedgerEntry | None:
        try:
            data = json.loads(self._path(job_id).read_text(encoding="utf-8"))
            return LedgerEntry(**data)
        except (OSError, ValueError, TypeError):
            return None

    def open_entries(self) -> list[LedgerEntry]:
        if not self.directory.is_dir():
            return []
        entries = []
        for path in sorted(self.directory.glob("*.json")):
            entry = self.get(path.stem)
            if entry is not None:
                entries.append(entry)
        return entries


@dataclass(frozen=True)
class OrphanedCall:
    """A call whose job process ended with its ledger entry still open."""

    entry: LedgerEntry
    exitcode: int | None
    dispatch_metadata: str
    room_metadata: str


class JobWatch:
    """Subscribes to the framework's process pool and reports orphaned calls."""

    def __init__(
        self,
        ledger: CallLedger,
        on_orphan: Callable[[OrphanedCall], Any],
    ) -> None:
        self.ledger = ledger
        self._on_orphan = on_orphan
        self._jobs: dict[int, tuple[str, str, str]] = {}  # id(proc) -> (job id, metadata...)
        self._detach: Callable[[], None] = lambda: None

    def on_job_launched(self, proc: Any) -> None:
        info = getattr(proc, "running_job", None)
        if info is None:
            return
        job = info.job
        self._jobs[id(proc)] = (job.id, job.metadata or "", job.room.metadata or "")

    def on_process_closed(self, proc: Any) -> None:
        known = self._jobs.pop(id(proc), None)
        if known is None:
            return
        job_id, dispatch_metadata, room_metadata = known
        entry = self.ledger.get(job_id)
        if entry is None:
            return  # the call reported for itself
        exitcode = getattr(proc, "exitcode", None)
        log.error("job_process_died_before_report", job_id=job_id, exitcode=exitcode)
        self._on_orphan(OrphanedCall(entry, exitcode, dispatch_metadata, room_metadata))

    def attach(self, pool: Any) -> None:
        pool.on("process_job_launched", self.on_job_launched)
        pool.on("process_closed", self.on_process_closed)

        def detach() -> None:
            pool.off("process_job_launched", self.on_job_launched)
            pool.off("process_closed", self.on_process_closed)

        self._detach = detach

    def close(self) -> None:
        self._detach()
