"""Recovery: the reports of calls a dead process left behind, and deliveries parked earlier.

- A job process that died mid-call: the main process watches its job processes
  (:class:`JobProcessGuard`) and, when the ledger (agent/worker/ledger.py) still holds the call,
  sends its `error` report (:func:`report_crash`).
- A job process holding several calls, or job threads (the thread executor), are covered the
  same way: every open entry a dead process owned is reported; calls still open in the worker's
  own process when it stops (a job thread that never ended) by the exit sweep
  (:meth:`JobProcessGuard.sweep_at_exit`).
- A whole worker that died with calls open (OOM kill, node reboot; with the thread executor,
  every call of the worker): the next run finds their ledger entries at start-up and reports
  them (:func:`report_stale_calls`). That waits for the restart, so the ledger must be on a
  volume that survives a container restart (emptyDir does; a deleted pod's does not).
- Deliveries parked in the outbox by an earlier run are replayed at start-up
  (:func:`replay_at_startup`).

Every report goes out through the one send sequence (agent/report/send.py), under the call's one
report delivery id, so a crash report and a report the dying job got out after all dedupe.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

import structlog

from agent.delivery.base import EventSink
from agent.delivery.outbox import Outbox, OutboxBusy
from agent.delivery.target_policy import TargetPolicy
from agent.intake.report_target import ReportTarget, salvage_report_target
from agent.intake.secrets import SecretResolver
from agent.report.build import crash_report
from agent.report.send import (
    UNSTARTED_FLUSH_SECONDS,
    build_sink,
    default_secret,
    events_for_target,
    send_report,
)
from agent.worker import metrics
from agent.worker.ledger import (
    CallLedger,
    JobWatch,
    LedgerEntry,
    OrphanedCall,
    report_delivery_id,
)
from agent.worker.settings import WorkerSettings

log = structlog.get_logger(__name__)


async def report_crash(
    orphan: OrphanedCall,
    *,
    settings: WorkerSettings,
    sink: EventSink,
    detail: str | None = None,
    flush_seconds: float = UNSTARTED_FLUSH_SECONDS,
) -> None:
    """The end-of-call report of a call whose job process died, sent by the main process."""
    raw = orphan.dispatch_metadata or orphan.room_metadata or orphan.entry.dispatch_metadata
    target = salvage_report_target(
        raw,
        room_name=orphan.entry.room,
        resolver=SecretResolver.from_settings(settings),
        webhook_format=settings.webhook_format,
    )
    if target.call_id != orphan.entry.call_id:
        target = ReportTarget(**{**target.__dict__, "call_id": orphan.entry.call_id})
    taken = datetime.fromisoformat(orphan.entry.started_at)
    detail = detail or orphan.detail or f"job_process_died (exit code {orphan.exitcode})"
    # No status-update here: the main process does not know what the job already sent.
    events = events_for_target(target, sink, settings, created_at=taken)
    # `failed` when the job died before the call went live (the ledger says when it did);
    # started_at is that moment, the answer: a call that died unanswered lasted 0 s.
    answered = datetime.fromisoformat(orphan.entry.live_at) if orphan.entry.live_at else None
    report = crash_report(
        target,
        started_at=answered,
        detail=detail,
        went_live=answered is not None,
        agent_joined_at=taken,
    )
    delivery = await send_report(events, report, sink=sink, flush_seconds=flush_seconds)
    if delivery is not None:
        assert delivery.delivery_id == report_delivery_id(target.call_id)


def stale_entries(ledger: CallLedger) -> list[LedgerEntry]:
    """The calls a previous run of this worker left open, listed before this run takes any
    call: every open entry whose owning process is gone (an entry whose owner still runs is
    another worker's live call sharing the directory, not a stale one)."""
    return [entry for entry in ledger.open_entries() if not entry.owner.alive()]


async def report_stale_calls(
    entries: list[LedgerEntry], ledger: CallLedger, *, settings: WorkerSettings
) -> int:
    """Report calls left open by a previous run of this worker (its main process died with
    them: an OOM-killed container restarting in the same pod, a node reboot). Every entry found
    at start-up is such a call, since this run has not taken any call yet."""
    if not entries:
        return 0
    sink = build_sink(settings)
    try:
        for entry in entries:
            log.error("call_orphaned_by_worker_restart", job_id=entry.job_id, call_id=entry.call_id)
            orphan = OrphanedCall(entry, None, entry.dispatch_metadata, "")
            try:
                await report_crash(
                    orphan,
                    settings=settings,
                    sink=sink,
                    detail="worker_restarted (the worker stopped during the call)",
                )
            finally:
                ledger.close(entry.job_id)
    finally:
        await sink.aclose(timeout=30.0)
    return len(entries)


class JobProcessGuard:
    """Main-process side of the ledger: reports calls whose job process died."""

    def __init__(self, server: Any, ledger: CallLedger, settings: WorkerSettings) -> None:
        self._settings = settings
        self._sink = build_sink(settings)
        self._tasks: set[asyncio.Task[None]] = set()
        self._watch = JobWatch(ledger, self._on_orphan)
        self._ledger = ledger
        self._attached = False
        self._flush_seconds = UNSTARTED_FLUSH_SECONDS
        # The process pool exists only once the server runs; attach when it says so.
        server.on("worker_started", lambda *_: self._attach(server))

    def _attach(self, server: Any) -> None:
        if not self._attached:
            self._watch.attach(server._proc_pool)  # the framework has no public hook for this
            self._attached = True

    def _on_orphan(self, orphan: OrphanedCall) -> None:
        flush = self._flush_seconds

        async def send() -> None:
            try:
                await report_crash(
                    orphan, settings=self._settings, sink=self._sink, flush_seconds=flush
                )
            finally:
                self._ledger.close(orphan.entry.job_id)

        task = asyncio.get_running_loop().create_task(send())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def close(self) -> None:
        self._watch.close()

    async def sweep_at_exit(self, flush_seconds: float) -> int:
        """After the server has closed: report every call this worker held that is still open
        (job threads that never ended; job processes gone without a `process_closed`), each
        once, delivered within ``flush_seconds`` (the rest parks in the outbox at ``aclose``).
        Returns how many."""
        self._flush_seconds = flush_seconds
        left = self._watch.left_at_exit()
        for orphan in left:
            self._watch.hand_over(orphan, event="call_open_at_worker_exit")
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=flush_seconds)
        return len(left)

    async def aclose(self, timeout: float = 30.0) -> None:  # noqa: ASYNC109 - parks, not cancels
        """Stop watching, let crash reports already started finish, then close the sink
        (which parks whatever is still undelivered in the outbox)."""
        self._watch.close()
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout)
        await self._sink.aclose(timeout=timeout)


def watch_job_processes(
    server: Any, ledger: CallLedger, settings: WorkerSettings
) -> JobProcessGuard:
    return JobProcessGuard(server, ledger, settings)


async def replay_at_startup(settings: WorkerSettings) -> None:
    outbox = Outbox(settings.outbox_dir)
    if not outbox.pending():
        return
    try:
        # Outbox.replay logs the whole result itself (`outbox_replayed`).
        await outbox.replay(
            TargetPolicy(settings.allowed_targets), default_secret=default_secret(settings)
        )
        metrics.outbox_depth(settings.outbox_dir)
    except OutboxBusy:
        log.info("outbox_replay_skipped_busy")
