"""Metrics and the call_summary line: what one reported call adds, and the multiprocess path
(job processes write, the main process's livekit-agents /metrics serves the merged values)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest
from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.multiprocess import MultiProcessCollector
from structlog.testing import capture_logs

from agent.contracts.end_reason import EndReason
from agent.contracts.events import (
    AssistantRef,
    CallMetrics,
    CallRef,
    EndOfCallReport,
    Percentiles,
    TurnMetrics,
)
from agent.delivery.webhook import DeliveryOutcome
from agent.intake.document import CallType
from agent.worker import metrics
from tests.support.paths import REPO

ROOT = REPO


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def report(call_id: str = "call-m1", reason: EndReason = EndReason.USER_HANGUP) -> EndOfCallReport:
    now = datetime.now(UTC)
    return EndOfCallReport(
        call=CallRef(id=call_id, type=CallType.WEB),
        assistant=AssistantRef(name="Front desk"),
        end_reason=reason,
        end_detail="CLIENT_INITIATED",
        started_at=now,
        ended_at=now,
        duration_seconds=42,
        duration_ms=42_400,
        transcript="User: my secret plans\nAI: ok",
        metrics=CallMetrics(
            turns=[
                TurnMetrics(turn_index=0, stt_ms=180, e2e_ms=900, llm_ttft_ms=300),
                TurnMetrics(turn_index=1, stt_ms=220, e2e_ms=1300, tts_ttfb_ms=150),
            ],
            percentiles={"e2e_ms": Percentiles(count=2, p50=900, p95=1300)},
        ),
    )


def outcome(event: str, result: str, seq: int, latency: float = 0.02) -> DeliveryOutcome:
    return DeliveryOutcome(
        delivery_id=f"d{seq}",
        call_id="call-m1",
        event_type=event,
        seq=seq,
        outcome=result,  # type: ignore[arg-type]
        attempts=1,
        status=200,
        latency_seconds=latency,
    )


def test_record_call_end_observes_the_report_and_logs_one_summary_line() -> None:
    outcomes = [
        outcome("status-update", "delivered", 0),
        outcome("status-update", "delivered", 1),
        outcome("end-of-call-report", "outboxed", 2, latency=120.0),
    ]
    ended = sample("voice_agent_calls_ended_total", end_reason="user_hangup")
    durations = sample("voice_agent_call_duration_seconds_count", end_reason="user_hangup")
    e2e = sample("voice_agent_turn_latency_seconds_count", stage="e2e")
    e2e_sum = sample("voice_agent_turn_latency_seconds_sum", stage="e2e")
    tts = sample("voice_agent_turn_latency_seconds_count", stage="tts_ttfb")
    delivered = sample(
        "voice_agent_webhook_deliveries_total", event="status-update", outcome="delivered"
    )
    parked = sample(
        "voice_agent_webhook_delivery_seconds_count",
        event="end-of-call-report",
        outcome="outboxed",
    )

    with capture_logs() as logs:
        metrics.record_call_end(report(), outcomes)

    assert sample("voice_agent_calls_ended_total", end_reason="user_hangup") == ended + 1
    assert (
        sample("voice_agent_call_duration_seconds_count", end_reason="user_hangup") == durations + 1
    )
    assert sample("voice_agent_turn_latency_seconds_count", stage="e2e") == e2e + 2
    assert sample("voice_agent_turn_latency_seconds_sum", stage="e2e") == pytest.approx(
        e2e_sum + 2.2
    )  # 900 ms + 1300 ms, in seconds
    assert sample("voice_agent_turn_latency_seconds_count", stage="tts_ttfb") == tts + 1
    assert (
        sample("voice_agent_webhook_deliveries_total", event="status-update", outcome="delivered")
        == delivered + 2
    )
    assert (
        sample(
            "voice_agent_webhook_delivery_seconds_count",
            event="end-of-call-report",
            outcome="outboxed",
        )
        == parked + 1
    )
    summaries = [entry for entry in logs if entry["event"] == "call_summary"]
    assert len(summaries) == 1
    line = summaries[0]
    assert line["log_level"] == "info"
    assert line["call_id"] == "call-m1"
    assert line["end_reason"] == "user_hangup"
    assert line["end_detail"] == "CLIENT_INITIATED"
    assert line["duration_seconds"] == 42.4
    assert line["turns"] == 2
    assert (line["e2e_p50_ms"], line["e2e_p95_ms"]) == (900, 1300)
    assert line["webhooks"] == {"delivered": 2, "outboxed": 1}
    assert "secret plans" not in repr(line)


def test_outcomes_are_read_through_a_wrapping_sink() -> None:
    class Inner:
        def outcomes(self, call_id: str) -> list[DeliveryOutcome]:
            return [outcome("transcript", "delivered", 3)] if call_id == "call-m1" else []

    class Wrapper:
        def __init__(self) -> None:
            self.inner = Inner()

    assert [o.seq for o in metrics.outcomes_of(Wrapper(), "call-m1")] == [3]
    assert metrics.outcomes_of(object(), "call-m1") == []


def test_provider_errors_and_outbox_depth(tmp_path: Path) -> None:
    before = sample(
        "voice_agent_provider_errors_total",
        component="tts",
        provider="elevenlabs",
        recoverable="false",
    )
    metrics.provider_error("tts", "elevenlabs", recoverable=False)
    assert (
        sample(
            "voice_agent_provider_errors_total",
            component="tts",
            provider="elevenlabs",
            recoverable="false",
        )
        == before + 1
    )
    (tmp_path / "a.json").write_text("{}")
    (tmp_path / "b.json").write_text("{}")
    (tmp_path / ".c.json.123.tmp").write_text("{}")  # a write in progress is not parked yet
    assert metrics.outbox_depth(tmp_path) == 2
    assert sample("voice_agent_outbox_depth") == 2
    assert metrics.outbox_depth(tmp_path / "missing") == 0


# -- multiprocess: what the worker's /metrics serves ---------------------------------------------

_JOB = textwrap.dedent(
    """
    import sys
    from agent.worker import metrics
    metrics.call_went_live("web_call")
    metrics.provider_error("llm", "openai", recoverable=False)
    metrics.config_error()
    if sys.argv[1] == "ends":
        metrics.call_left("web_call")
    print(__import__("os").getpid())
    """
)


def _job_process(directory: Path, mode: str) -> int:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(directory)}
    done = subprocess.run(  # noqa: S603 - our own interpreter and inline script
        [sys.executable, "-c", _JOB, mode],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return int(done.stdout.strip())


def _merged(directory: Path, name: str, **labels: str) -> float:
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(directory))  # type: ignore[no-untyped-call]
    return registry.get_sample_value(name, labels) or 0.0


async def test_livekit_metrics_server_serves_every_job_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two job processes (one call ended, one still live) -> the livekit-agents Prometheus server
    the worker runs (AgentServer(prometheus_port=...)) serves their merged values."""
    from livekit.agents.telemetry.http_server import HttpServer

    _job_process(tmp_path, "ends")
    live_pid = _job_process(tmp_path, "live")  # exits without ending its call: a crashed job
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    server = HttpServer("127.0.0.1", 0)
    await server.start()
    try:
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"http://127.0.0.1:{server.port}/metrics") as response,
        ):
            text = await response.text()
    finally:
        await server.aclose()
    assert response.status == 200
    assert 'voice_agent_active_calls{call_type="web_call"} 1.0' in text
    errors = (
        'voice_agent_provider_errors_total{component="llm",provider="openai",recoverable="false"}'
    )
    assert f"{errors} 2.0" in text
    assert "voice_agent_config_errors_total 2.0" in text

    # The pool reports the crashed process closed: it stops counting as an active call.
    metrics.process_exited(live_pid)
    assert _merged(tmp_path, "voice_agent_active_calls", call_type="web_call") == 0
    # Counters of dead processes are kept (a counter never goes down).
    assert _merged(tmp_path, "voice_agent_config_errors_total") == 2


def test_worker_command_sets_the_directory_before_livekit_imports_prometheus(
    tmp_path: Path,
) -> None:
    """cli.cmd_worker's order matters: prometheus_client picks its value class at import."""
    script = textwrap.dedent(
        """
        import os, sys
        from pathlib import Path
        from agent.worker.settings import WorkerSettings
        settings = WorkerSettings()
        assert "prometheus_client" not in sys.modules, "imported too early"
        os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", str(settings.prometheus_multiproc_dir))
        import agent.worker.main
        from agent.worker import metrics
        print(metrics.multiprocess_active())
        """
    )
    env = {**os.environ, "VOICE_AGENT_PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    done = subprocess.run(  # noqa: S603
        [sys.executable, "-c", script],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    assert done.stdout.strip() == "True"
