"""Call ledger: the main process's record of which calls still owe an end-of-call report.

A job process can die without running any of its own code again (OOM kill, segfault in a native
library, `kill -9`). The worker's main process outlives it, so it keeps the promise instead: when
a job process starts a call it opens a ledger entry (a small file), and it closes the entry once
its report has been handed to the sinks (delivered or parked in the outbox). When a job process
exits while its entry is still open, the main process sends a report for that call itself,
`end_reason: error`, built from what it knows: the dispatch document and the start time.

A process may hold several calls (the thread executor runs every call of a worker in its one
process). So an entry names the process that owns it, by pid *and* start time (a pid alone can
be reused by a later process, and is, every time a container restarts as pid 1), and a process
that dies leaves every call it held orphaned: the watch reports each open entry that process
owned, once. Calls whose owner is the worker itself (threads) are reported by the worker's exit
sweep if they are still open when it stops, or by the next run's start-up sweep if it died.

Exactly once: the end-of-call report's delivery id is derived from the call id
(`report_delivery_id`), so even if a dying process got its report out a moment before the entry
could be closed, the receiver sees the same `X-Webhook-Id` twice and drops the repeat. Within one
worker, the watch hands each orphaned call to its reporter once (``claimed``).
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


def process_start_ticks(pid: int) -> int | None:
    """When process ``pid`` started, in clock ticks since boot (/proc/PID/stat, field 22);
    None when it does not exist (or there is no /proc)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
        # "pid (comm) state ...": comm may hold spaces and parentheses, so split after the
        # last ")"; the fields after it start at field 3, so field 22 is index 19
        return int(stat.rsplit(")", 1)[1].split()[19])
    except (OSError, ValueError, IndexError):
        return None


@dataclass(frozen=True)
class ProcessIdentity:
    """One process, never another that reuses its pid later."""

    pid: int
    started: int | None
    """Start time in clock ticks since boot; None where it could not be read."""

    @classmethod
    def of(cls, pid: int) -> ProcessIdentity:
        return cls(pid, process_start_ticks(pid))

    def alive(self) -> bool:
        """Still running (the same process: its start time unchanged). Without a start time
        nothing tells a reused pid apart, so such an owner counts as gone."""
        return self.started is not None and process_start_ticks(self.pid) == self.started

    def owns(self, entry: LedgerEntry) -> bool:
        return entry.pid == self.pid and entry.pid_started in (None, self.started)


_THIS_PROCESS: ProcessIdentity | None = None


def this_process() -> ProcessIdentity:
    global _THIS_PROCESS
    if _THIS_PROCESS is None or _THIS_PROCESS.pid != os.getpid():  # a forked child: its own
        _THIS_PROCESS = ProcessIdentity.of(os.getpid())
    return _THIS_PROCESS


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
    pid_started: int | None = None
    """The owning process's start time (clock ticks since boot): with ``pid``, the process that
    holds the call (None in entries written before it was recorded)."""

    @property
    def owner(self) -> ProcessIdentity:
        return ProcessIdentity(self.pid, self.pid_started)


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
            pid_started=this_process().started,
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
    detail: str | None = None
    """The report's `end_detail`; None: the job process died (with its exit code)."""


EXIT_DETAIL = "worker_exit (the worker stopped before the call's report was sent)"
THREAD_DETAIL = "job_thread_ended (the call's report was never sent)"


class JobWatch:
    """Subscribes to the framework's process pool and reports orphaned calls.

    When a job process closes: the call the pool says it ran, and every other open entry that
    process owned. When a job thread ends (the thread executor): the call it ran, if its entry
    is still open (its report never reached the sinks). Each orphan is handed over once."""

    def __init__(
        self,
        ledger: CallLedger,
        on_orphan: Callable[[OrphanedCall], Any],
    ) -> None:
        self.ledger = ledger
        self._on_orphan = on_orphan
        self._jobs: dict[int, tuple[str, str, str]] = {}  # id(proc) -> (job id, metadata...)
        self._owners: dict[int, ProcessIdentity] = {}  # id(proc) -> its job process
        self.launched: set[ProcessIdentity] = set()
        """Every job process this worker handed a call (for the exit sweep)."""
        self.claimed: set[str] = set()
        """Job ids already handed to the reporter."""
        self._detach: Callable[[], None] = lambda: None

    def on_job_launched(self, proc: Any) -> None:
        info = getattr(proc, "running_job", None)
        if info is None:
            return
        job = info.job
        self._jobs[id(proc)] = (job.id, job.metadata or "", job.room.metadata or "")
        pid = getattr(proc, "pid", None)  # a job process; a job thread has none
        if isinstance(pid, int) and pid != os.getpid():
            owner = ProcessIdentity.of(pid)  # read while it runs: the start time dies with it
            self._owners[id(proc)] = owner
            self.launched.add(owner)

    def on_process_closed(self, proc: Any) -> None:
        known = self._jobs.pop(id(proc), None)
        owner = self._owners.pop(id(proc), None)
        exitcode = getattr(proc, "exitcode", None)
        orphans: dict[str, OrphanedCall] = {}
        if known is not None:
            job_id, dispatch_metadata, room_metadata = known
            entry = self.ledger.get(job_id)
            if entry is not None:  # None: the call reported for itself
                # a job thread (no process of its own) ended without the report
                detail = THREAD_DETAIL if owner is None and entry.pid == os.getpid() else None
                orphans[job_id] = OrphanedCall(
                    entry, exitcode, dispatch_metadata, room_metadata, detail=detail
                )
        if owner is not None:
            for entry in self.ledger.open_entries():
                if owner.owns(entry) and entry.job_id not in orphans:
                    orphans[entry.job_id] = OrphanedCall(
                        entry, exitcode, entry.dispatch_metadata, ""
                    )
        for orphan in orphans.values():
            self.hand_over(orphan, event="job_process_died_before_report")

    def hand_over(self, orphan: OrphanedCall, *, event: str) -> None:
        """Give an orphaned call to the reporter, unless it already has it."""
        job_id = orphan.entry.job_id
        if job_id in self.claimed:
            return
        self.claimed.add(job_id)
        log.error(event, job_id=job_id, call_id=orphan.entry.call_id, exitcode=orphan.exitcode)
        self._on_orphan(orphan)

    def left_at_exit(self) -> list[OrphanedCall]:
        """Open entries, not yet handed over, of calls this worker held: in its own process
        (job threads still running as it stops) or in a job process of its that is gone."""
        me = this_process()
        found = []
        for entry in self.ledger.open_entries():
            if entry.job_id in self.claimed:
                continue
            mine = me.owns(entry)
            gone_job_process = any(p.owns(entry) and not p.alive() for p in self.launched)
            if mine or gone_job_process:
                found.append(
                    OrphanedCall(entry, None, entry.dispatch_metadata, "", detail=EXIT_DETAIL)
                )
        return found

    def attach(self, pool: Any) -> None:
        pool.on("process_job_launched", self.on_job_launched)
        pool.on("process_closed", self.on_process_closed)

        def detach() -> None:
            pool.off("process_job_launched", self.on_job_launched)
            pool.off("process_closed", self.on_process_closed)

        self._detach = detach

    def close(self) -> None:
        self._detach()
