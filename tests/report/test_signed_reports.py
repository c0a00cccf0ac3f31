"""Reports rebuilt from a salvaged document keep its demand for a signature.

A document whose `webhook_secret` does not resolve (missing, or a refused name such as the
worker's own LiveKit secret) never gets an unsigned report: the operator's default secret signs
it, and without one it is parked in the outbox with the reason, for every path that rebuilds
deliveries from the raw document: the config-error report, the start-up error report, the main
process's crash report (live and at restart), and outbox replay.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from agent.delivery.attempt import SIGNATURE_UNAVAILABLE
from agent.delivery.outbox import Outbox
from agent.errors import ConfigError
from agent.report.send import build_sink, report_config_error, report_startup_error
from agent.worker.ledger import LedgerEntry, OrphanedCall
from agent.worker.recovery import replay_at_startup, report_crash
from agent.worker.settings import WorkerSettings
from tests.support.receiver import SECRET, Receiver

LIVEKIT_SENTINEL = "lk-SENTINEL-never-a-signing-key-0a93"


def document(url: str, webhook_secret: Any) -> str:
    return json.dumps(
        {
            "call": {"id": "call-signed-1"},
            "assistant": {
                "webhook_url": url,
                "webhook_secret": webhook_secret,
                "tts_config": {"provider": "polly"},  # broken: a config_error
            },
        }
    )


def settings_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *, default_secret: str | None
) -> WorkerSettings:
    monkeypatch.setenv("VOICE_AGENT_OUTBOX_DIR", str(tmp_path / "outbox"))
    monkeypatch.setenv("VOICE_AGENT_ALLOWED_TARGETS", "127.0.0.1")
    monkeypatch.setenv("VOICE_AGENT_SECRETS_DIR", str(tmp_path / "secrets"))
    monkeypatch.setenv("LIVEKIT_API_SECRET", LIVEKIT_SENTINEL)
    if default_secret is None:
        monkeypatch.delenv("VOICE_AGENT_WEBHOOK_SECRET", raising=False)
    else:
        monkeypatch.setenv("VOICE_AGENT_WEBHOOK_SECRET", default_secret)
    return WorkerSettings()


async def config_error_report(raw: str, settings: WorkerSettings) -> None:
    sink = build_sink(settings)
    await report_config_error(
        raw,
        ConfigError("unknown provider", path="assistant.tts_config"),
        room_name="room-1",
        settings=settings,
        sink=sink,
    )
    await sink.aclose()


async def startup_error_report(raw: str, settings: WorkerSettings) -> None:
    sink = build_sink(settings)
    await report_startup_error(
        raw, ConnectionError("down"), stage="room", room_name="room-1", settings=settings, sink=sink
    )
    await sink.aclose()


async def crash_report(raw: str, settings: WorkerSettings) -> None:
    entry = LedgerEntry("AJ_1", "call-signed-1", "room-1", datetime.now(UTC).isoformat(), 1, raw)
    sink = build_sink(settings)
    await report_crash(OrphanedCall(entry, -9, raw, ""), settings=settings, sink=sink)
    await sink.aclose()


PATHS = [config_error_report, startup_error_report, crash_report]
UNRESOLVABLE = ["secret:LIVEKIT_API_SECRET", "secret:NOT_EXPOSED", "secret:../x", 12345]


@pytest.mark.parametrize("secret", UNRESOLVABLE)
@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.__name__)
async def test_without_a_default_secret_nothing_goes_out_unsigned(
    path: Any,
    secret: Any,
    receiver: Receiver,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = settings_for(tmp_path, monkeypatch, default_secret=None)
    with capture_logs() as logs:
        await path(document(receiver.url("/hooks"), secret), settings)
    assert receiver.received == []
    parked = Outbox(settings.outbox_dir).pending()
    assert "end-of-call-report" in [p.entry.event_type for p in parked]
    assert all(p.entry.reason == SIGNATURE_UNAVAILABLE for p in parked)
    assert all(p.entry.requires_signature and p.entry.secret is None for p in parked)
    assert LIVEKIT_SENTINEL not in repr(logs)
    assert any(e["event"] == "webhook_secret_unresolved" for e in logs)

    # Replay keeps holding them until the operator has a secret to sign with.
    await replay_at_startup(settings)
    assert receiver.received == []
    settings = settings_for(tmp_path, monkeypatch, default_secret=SECRET)
    await replay_at_startup(settings)
    assert [r.signature_ok for r in receiver.received] == [True] * len(parked)
    assert Outbox(settings.outbox_dir).pending() == []
    assert all(LIVEKIT_SENTINEL.encode() not in r.body for r in receiver.received)


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.__name__)
async def test_with_a_default_secret_the_report_is_signed_with_it(
    path: Any, receiver: Receiver, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = settings_for(tmp_path, monkeypatch, default_secret=SECRET)
    await path(document(receiver.url("/hooks"), "secret:LIVEKIT_API_SECRET"), settings)
    reports = [r for r in receiver.received if b"end-of-call-report" in r.body]
    assert len(reports) == 1
    assert all(r.signature_ok is True for r in receiver.received)
    assert Outbox(settings.outbox_dir).pending() == []


async def test_a_secret_that_resolves_signs_as_before(
    receiver: Receiver, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = settings_for(tmp_path, monkeypatch, default_secret=None)
    monkeypatch.setenv("VOICE_AGENT_TENANT_SECRET_HOOK", SECRET)
    await config_error_report(document(receiver.url("/hooks"), "secret:HOOK"), settings)
    assert [r.signature_ok for r in receiver.received] == [True, True]
