"""What a finished call tells the operator: Prometheus metrics and one `call_summary` log line.

Both come from the same two things, the end-of-call report and the webhook sink's delivery
outcomes, so a dashboard and a log search can never disagree about a call.

Calls run in job processes, not in the process Prometheus scrapes, so the metrics use
prometheus_client's multiprocess mode: every process writes its values to memory-mapped files
under ``PROMETHEUS_MULTIPROC_DIR`` (a tmpfs under /tmp: the root filesystem is read-only) and the
main process's livekit-agents Prometheus server (``AgentServer(prometheus_port=...)``) merges the
files of every process on each scrape (``MultiProcessCollector``). The directory must be in the
environment before *any* process imports prometheus_client (the value class is chosen at import),
so the CLI sets it before importing the worker (cli.cmd_worker), and job processes inherit it.
Two consequences shape this module:

- ``AgentServer.run()`` empties the directory when it starts. A metric without labels creates its
  file as soon as it is defined, so in the main process that file would be deleted under it; the
  unlabelled metrics here are therefore created on first use (`_config_errors`, `_outbox_depth`).
- ``voice_agent_active_calls`` sums only live processes (``livesum``); a job process that dies
  keeps its file, so the worker calls `process_exited(pid)` when the pool reports a process gone.
"""

from __future__ import annotations

import functools
import os
from collections import Counter as Tally
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import structlog
from prometheus_client import Counter, Gauge, Histogram

from agent.contracts.events import EndOfCallReport
from agent.delivery.webhook import DeliveryOutcome

log = structlog.get_logger(__name__)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

TURN_STAGES = ("stt", "end_of_turn", "llm_ttft", "tts_ttfb", "e2e")
"""Stages of a turn, each the report's `<stage>_ms` figure (agent/contracts/events.py
TurnMetrics)."""

ACTIVE_CALLS = Gauge(
    "voice_agent_active_calls",
    "Calls in conversation: from going live until the call ends (report work not included).",
    ["call_type"],
    multiprocess_mode="livesum",
)
CALLS_ENDED = Counter(
    "voice_agent_calls_ended",
    "Calls that ended, by end reason (config_error included).",
    ["end_reason"],
)
CALL_DURATION = Histogram(
    "voice_agent_call_duration_seconds",
    "Call duration from going live to the end, by end reason.",
    ["end_reason"],
    # 10 s (hang-up on the greeting) .. 1 h (the operator cap, VOICE_AGENT_MAX_CALL_SECONDS).
    buckets=(10, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200),
)
TURN_LATENCY = Histogram(
    "voice_agent_turn_latency_seconds",
    "Per-turn latency by stage (stt, end_of_turn, llm_ttft, tts_ttfb, e2e), observed at call end.",
    ["stage"],
    # Voice turns live between ~0.1 s (fast STT) and a few seconds (slow LLM); e2e > 2 s is bad.
    buckets=(0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0),
)
WEBHOOK_DELIVERIES = Counter(
    "voice_agent_webhook_deliveries",
    "Webhook deliveries by event type and outcome (delivered, outboxed, gone, refused, lost).",
    ["event", "outcome"],
)
WEBHOOK_LATENCY = Histogram(
    "voice_agent_webhook_delivery_seconds",
    "Submit to outcome of one webhook delivery, retries and backoff included.",
    ["event", "outcome"],
    # One attempt is ~10 ms on a LAN; retries stretch to the 120 s retry window.
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0),
)
PROVIDER_ERRORS = Counter(
    "voice_agent_provider_errors",
    "Errors reported by the session's STT/LLM/TTS, by component and provider.",
    ["component", "provider", "recoverable"],
)


@functools.cache
def _config_errors() -> Counter:
    return Counter("voice_agent_config_errors", "Dispatches refused with config_error.")


@functools.cache
def _outbox_depth() -> Gauge:
    # mostrecent: the outbox directory is the pod's, shared by its processes; the last process
    # that looked has the current count.
    return Gauge(
        "voice_agent_outbox_depth",
        "Deliveries parked in the outbox, as last counted (after a call's flush or a replay).",
        multiprocess_mode="mostrecent",
    )


# -- process set-up ---------------------------------------------------------------------------


def multiprocess_active() -> bool:
    """True when this process writes its metrics where the main process's scrape reads them."""
    from prometheus_client import values

    return MULTIPROC_ENV in os.environ and values.ValueClass is not values.MutexValue


def process_exited(pid: int | None) -> None:
    """A job process is gone: its live gauges (active calls) must stop counting."""
    if pid is None or MULTIPROC_ENV not in os.environ:
        return
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]


def watch_process_exits(server: Any) -> None:
    """Call `process_exited` for every job process the server's pool closes. The pool exists
    only once the server runs, and livekit-agents has no public hook for it (as
    reporting.JobProcessGuard)."""

    def attach(*_: object) -> None:
        server._proc_pool.on("process_closed", lambda proc: process_exited(proc.pid))

    server.on("worker_started", attach)


# -- during a call ----------------------------------------------------------------------------


def call_went_live(call_type: str) -> None:
    ACTIVE_CALLS.labels(call_type=call_type).inc()


def call_left(call_type: str) -> None:
    ACTIVE_CALLS.labels(call_type=call_type).dec()


def provider_error(component: str, provider: str, *, recoverable: bool) -> None:
    PROVIDER_ERRORS.labels(
        component=component, provider=provider, recoverable=str(recoverable).lower()
    ).inc()


def config_error() -> None:
    _config_errors().inc()


def outbox_depth(directory: Path) -> int:
    """Count the parked deliveries in ``directory`` and publish the count."""
    try:
        depth = sum(1 for _ in directory.glob("*.json")) if directory.is_dir() else 0
    except OSError:
        return -1
    _outbox_depth().set(depth)
    return depth


# -- at the end of a call -----------------------------------------------------------------------


class ReportsOutcomes(Protocol):
    def outcomes(self, call_id: str) -> list[DeliveryOutcome]: ...


def outcomes_of(sink: object, call_id: str) -> list[DeliveryOutcome]:
    """The sink's delivery outcomes for the call; a sink that wraps another (``inner``, like the
    simulator's report capture) is looked through, a FanOutSink answers for its members (several
    sinks configured). Sinks that keep no outcomes give []."""
    seen = 0
    while sink is not None and seen < 4:
        outcomes = getattr(sink, "outcomes", None)
        if callable(outcomes):
            result: list[DeliveryOutcome] = outcomes(call_id)
            return result
        sink, seen = getattr(sink, "inner", None), seen + 1
    return []


def record_call_end(report: EndOfCallReport, outcomes: Sequence[DeliveryOutcome]) -> None:
    """Observe a reported call and log its canonical `call_summary` line (no transcript, no
    numbers, no secrets: ids, reasons, counts and latencies only)."""
    reason = report.end_reason.value
    duration = report.duration_ms / 1000
    CALLS_ENDED.labels(end_reason=reason).inc()
    CALL_DURATION.labels(end_reason=reason).observe(duration)
    for turn in report.metrics.turns:
        for stage in TURN_STAGES:
            value: float | None = getattr(turn, f"{stage}_ms")
            if value is not None:
                TURN_LATENCY.labels(stage=stage).observe(value / 1000)
    for outcome in outcomes:
        WEBHOOK_DELIVERIES.labels(event=outcome.event_type, outcome=outcome.outcome).inc()
        WEBHOOK_LATENCY.labels(event=outcome.event_type, outcome=outcome.outcome).observe(
            outcome.latency_seconds
        )
    e2e = report.metrics.percentiles.get("e2e_ms")
    log.info(
        "call_summary",
        call_id=report.call.id,
        call_type=report.call.type.value,
        end_reason=reason,
        end_detail=report.end_detail,
        duration_seconds=round(duration, 3),
        turns=len(report.metrics.turns),
        e2e_p50_ms=e2e.p50 if e2e else None,
        e2e_p95_ms=e2e.p95 if e2e else None,
        webhooks=dict(sorted(Tally(o.outcome for o in outcomes).items())),
    )
