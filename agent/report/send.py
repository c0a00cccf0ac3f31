"""How every end-of-call report leaves the worker, and the reports of calls that never went live.

One send sequence for every report, however the call ended (:func:`send_report`):

    the report is emitted behind the call's queued events (status updates, transcript)
    -> every event is handed to the sinks (in seq order)
    -> the sinks get ``flush_seconds`` to deliver them
    -> the call's metrics and its canonical ``call_summary`` line
    (what is still undelivered waits in the sink; closing the sink parks it in the outbox)

Its callers: ``LiveCall.finish`` (a call that ran), :func:`report_config_error` and
:func:`report_startup_error` here (a call that failed before going live), and
``agent.worker.recovery`` (a call whose job process, or whole worker, died).

- A dispatch document that does not parse still gets a `config_error` end-of-call report,
  sent wherever the broken document said (if a webhook URL could be read at all).
- A call that failed before going live (config source, providers, the room) gets `error`,
  naming the stage.

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

from agent.contracts.events import EndOfCallReport
from agent.delivery.base import Delivery, EventSink, FanOutSink, SinkContext, load_sinks
from agent.delivery.call_events import CallEvents
from agent.delivery.outbox import Outbox
from agent.delivery.target_policy import TargetPolicy
from agent.errors import ConfigError
from agent.intake.report_target import ReportTarget, salvage_report_target
from agent.intake.secrets import SecretResolver
from agent.report.build import config_error_report, crash_report
from agent.worker import metrics
from agent.worker.settings import WorkerSettings

log = structlog.get_logger(__name__)

UNSTARTED_FLUSH_SECONDS = 30.0
"""How long a report of a call that never ran may take to reach its sinks (nothing else is
queued for such a call, so this is one delivery's retries)."""


async def send_report(
    events: CallEvents, report: EndOfCallReport, *, sink: EventSink, flush_seconds: float
) -> Delivery | None:
    """The one send sequence (module docstring). Returns the report's delivery (None when
    ``webhook_events`` leaves the report out)."""
    call_id = events.call.id
    delivery = events.emit_report(report)
    await events.drain()
    await sink.flush(call_id, timeout=flush_seconds)
    metrics.record_call_end(report, metrics.outcomes_of(sink, call_id))
    return delivery


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


def default_secret(settings: WorkerSettings) -> str | None:
    """The operator's signing secret, for assistants that bring none."""
    return settings.webhook_secret.get_secret_value() if settings.webhook_secret else None


def events_for_target(
    target: ReportTarget,
    sink: EventSink,
    settings: WorkerSettings,
    *,
    created_at: datetime | None = None,
) -> CallEvents:
    """The events of a call rebuilt from its (possibly broken) document, in the wire format
    its backend verifies (a CallMissed document's failure is `voice_session.failed`);
    ``created_at``: when the worker took the call. Signed means signed: a document that asked
    for a signature whose secret did not resolve is signed with the operator's default secret,
    and without one its deliveries are parked, never sent unsigned."""
    if target.webhook_url is None:
        log.warning("report_has_no_webhook_url", call_id=target.call_id)
    secret = target.webhook_secret or default_secret(settings)
    if target.signature_requested and target.webhook_secret is None:
        log.warning(
            "webhook_secret_unresolved",
            call_id=target.call_id,
            field="assistant.webhook_secret",
            signed_with="operator_default" if secret else "nothing: deliveries parked",
        )
    return CallEvents.for_target(target, sink, secret=secret, created_at=created_at)


async def report_config_error(
    raw: str | bytes | Mapping[str, Any] | None,
    error: ConfigError,
    *,
    room_name: str,
    settings: WorkerSettings,
    sink: EventSink,
    taken_at: datetime | None = None,
) -> None:
    """Send the `config_error` report of a call whose document did not parse. ``taken_at``:
    when the worker took the call (the CallMissed session's `created_at`); the report's
    `started_at` stays null, since the call never went live."""
    target = _target(raw, room_name, settings)
    # The problems name fields, never values, so they are safe to log.
    log.error("config_error", call_id=target.call_id, problems=[str(p) for p in error.problems])
    metrics.config_error()
    report = config_error_report(target, error)
    await _report_unstarted(target, report, sink, settings, taken_at)


async def report_startup_error(
    raw: str | bytes | Mapping[str, Any] | None,
    error: BaseException,
    *,
    stage: str,
    room_name: str,
    settings: WorkerSettings,
    sink: EventSink,
    taken_at: datetime | None = None,
) -> None:
    """Send the `error` report of a call that failed before it went live (a config source
    that did not answer, a provider that would not build, a room that would not connect).
    ``taken_at`` as for :func:`report_config_error`: `started_at` stays null."""
    target = _target(raw, room_name, settings)
    detail = f"{stage}: {type(error).__name__}: {error}"[:300]
    log.error(
        "call_start_failed", call_id=target.call_id, stage=stage, error_type=type(error).__name__
    )
    report = crash_report(target, started_at=None, detail=detail)
    await _report_unstarted(target, report, sink, settings, taken_at)


def _target(
    raw: str | bytes | Mapping[str, Any] | None, room_name: str, settings: WorkerSettings
) -> ReportTarget:
    return salvage_report_target(
        raw,
        room_name=room_name,
        resolver=SecretResolver.from_settings(settings),
        webhook_format=settings.webhook_format,
    )


async def _report_unstarted(
    target: ReportTarget,
    report: EndOfCallReport,
    sink: EventSink,
    settings: WorkerSettings,
    taken_at: datetime | None,
) -> None:
    """A call that never went live: `status-update: failed` (seed 002), then its report with
    `call.status: failed`; in CallMissed's format `voice_session.failed` alone (the session
    never started)."""
    events = events_for_target(target, sink, settings, created_at=taken_at)
    events.emit(events.status_update("failed"))
    await send_report(events, report, sink=sink, flush_seconds=UNSTARTED_FLUSH_SECONDS)
