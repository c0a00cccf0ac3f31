"""Reports that do not come from a running LiveCall, and the sink every report goes through.

- A dispatch document that does not parse still gets a `config_error` end-of-call report,
  sent wherever the broken document said (if a webhook URL could be read at all).
- A job process that died is reported by the main process (`call_ledger.py` decides when).
- Deliveries parked in the outbox by an earlier run are replayed at start-up.

`build_sink` is the one place that turns WorkerSettings into the configured sinks
(`VOICE_AGENT_SINKS`: the signed-webhook sink with its SSRF policy and outbox by default, plus
`jsonl`, `log` or entry-point sinks), so the worker, the job processes and the CLI all deliver the
same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import structlog

from agent.contracts.events import AssistantRef, CallEvents, CallRef, EndOfCallReport
from agent.delivery.base import EventSink, FanOutSink, SinkContext, load_sinks
from agent.delivery.outbox import Outbox, OutboxBusy
from agent.delivery.target_policy import TargetPolicy
from agent.errors import ConfigError
from agent.intake.dispatch import CallType, ReportTarget, salvage_report_target
from agent.intake.secrets import SecretResolver
from agent.report.build import config_error_report, crash_report
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


def build_sink(settings: WorkerSettings, *, policy: TargetPolicy | None = None) -> EventSink:
    """The sinks named in `settings.sinks`, behind one (a FanOutSink when there are several).

    Raises ConfigError for an unknown sink name or `jsonl` without `VOICE_AGENT_JSONL_PATH`.
    """
    context = SinkContext(
        policy=policy or TargetPolicy(settings.allowed_targets),
        outbox=Outbox(settings.outbox_dir),
        jsonl_path=settings.jsonl_path,
    )
    sinks = load_sinks(settings.sinks, context)
    return sinks[0] if len(sinks) == 1 else FanOutSink(sinks)


def _default_secret(settings: WorkerSettings) -> str | None:
    return settings.webhook_secret.get_secret_value() if settings.webhook_secret else None


def _events_for(target: ReportTarget, sink: EventSink, settings: WorkerSettings) -> CallEvents:
    """The events of a call rebuilt from its (possibly broken) document. Signed means signed:
    a document that asked for a signature whose secret did not resolve is signed with the
    operator's default secret, and without one its deliveries are parked, never sent unsigned."""
    if target.webhook_url is None:
        log.warning("report_has_no_webhook_url", call_id=target.call_id)
    secret = target.webhook_secret or _default_secret(settings)
    if target.signature_requested and target.webhook_secret is None:
        log.warning(
            "webhook_secret_unresolved",
            call_id=target.call_id,
            field="assistant.webhook_secret",
            signed_with="operator_default" if secret else "nothing: deliveries parked",
        )
    return CallEvents(
        sink,
        call=CallRef(id=target.call_id, type=CallType(target.call_type)),
        assistant=AssistantRef(name=target.assistant_name, metadata=target.metadata),
        url=target.webhook_url,
        secret=secret,
        require_signature=target.signature_requested,
    )


async def report_config_error(
    raw: str | bytes | Mapping[str, Any] | None,
    error: ConfigError,
    *,
    room_name: str,
    settings: WorkerSettings,
    sink: EventSink,
    started_at: datetime | None = None,
) -> None:
    """Send the `config_error` report of a call whose document did not parse."""
    target = _target(raw, room_name, settings)
    # The problems name fields, never values, so they are safe to log.
    log.error("config_error", call_id=target.call_id, problems=[str(p) for p in error.problems])
    metrics.config_error()
    await _report_unstarted(
        target, config_error_report(target, error, started_at=started_at), sink, settings
    )


async def report_startup_error(
    raw: str | bytes | Mapping[str, Any] | None,
    error: BaseException,
    *,
    stage: str,
    room_name: str,
    settings: WorkerSettings,
    sink: EventSink,
    started_at: datetime | None = None,
) -> None:
    """Send the `error` report of a call that failed before it went live (a config source
    that did not answer, a provider that would not build, a room that would not connect)."""
    target = _target(raw, room_name, settings)
    detail = f"{stage}: {type(error).__name__}: {error}"[:300]
    log.error(
        "call_start_failed", call_id=target.call_id, stage=stage, error_type=type(error).__name__
    )
    await _report_unstarted(
        target, crash_report(target, started_at=started_at, detail=detail), sink, settings
    )


def _target(
    raw: str | bytes | Mapping[str, Any] | None, room_name: str, settings: WorkerSettings
) -> ReportTarget:
    return salvage_report_target(
        raw, room_name=room_name, resolver=SecretResolver.from_settings(settings)
    )


async def _report_unstarted(
    target: ReportTarget, report: EndOfCallReport, sink: EventSink, settings: WorkerSettings
) -> None:
    events = _events_for(target, sink, settings)
    events.emit(events.status_update("ended"))
    events.emit_report(report)
    await events.drain()
    await sink.flush(target.call_id, timeout=30.0)
    metrics.record_call_end(report, metrics.outcomes_of(sink, target.call_id))


async def report_crash(
    orphan: OrphanedCall,
    *,
    settings: WorkerSettings,
    sink: EventSink,
    detail: str | None = None,
) -> None:
    """The end-of-call report of a call whose job process died, sent by the main process."""
    raw = orphan.dispatch_metadata or orphan.room_metadata or orphan.entry.dispatch_metadata
    target = salvage_report_target(
        raw,
        room_name=orphan.entry.room,
        resolver=SecretResolver.from_settings(settings),
    )
    if target.call_id != orphan.entry.call_id:
        target = ReportTarget(**{**target.__dict__, "call_id": orphan.entry.call_id})
    started = datetime.fromisoformat(orphan.entry.started_at)
    detail = detail or f"job_process_died (exit code {orphan.exitcode})"
    events = _events_for(target, sink, settings)
    report = crash_report(target, started_at=started, detail=detail)
    delivery = events.emit_report(report)
    await events.drain()
    await sink.flush(target.call_id, timeout=30.0)
    metrics.record_call_end(report, metrics.outcomes_of(sink, target.call_id))
    if delivery is not None:
        assert delivery.delivery_id == report_delivery_id(target.call_id)


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
        import asyncio

        self._settings = settings
        self._sink = build_sink(settings)
        self._tasks: set[asyncio.Task[None]] = set()
        self._watch = JobWatch(ledger, self._on_orphan)
        self._ledger = ledger
        self._attached = False
        # The process pool exists only once the server runs; attach when it says so.
        server.on("worker_started", lambda *_: self._attach(server))

    def _attach(self, server: Any) -> None:
        if not self._attached:
            self._watch.attach(server._proc_pool)  # the framework has no public hook for this
            self._attached = True

    def _on_orphan(self, orphan: OrphanedCall) -> None:
        import asyncio

        async def send() -> None:
            try:
                await report_crash(orphan, settings=self._settings, sink=self._sink)
            finally:
                self._ledger.close(orphan.entry.job_id)

        task = asyncio.get_running_loop().create_task(send())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def close(self) -> None:
        self._watch.close()

    async def aclose(self, timeout: float = 30.0) -> None:  # noqa: ASYNC109 - parks, not cancels
        """Stop watching, let crash reports already started finish, then close the sink
        (which parks whatever is still undelivered in the outbox)."""
        import asyncio

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
            TargetPolicy(settings.allowed_targets), default_secret=_default_secret(settings)
        )
        metrics.outbox_depth(settings.outbox_dir)
    except OutboxBusy:
        log.info("outbox_replay_skipped_busy")
