"""Worker settings: dev defaults, production refusals, env var names."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from agent.worker.settings import WorkerMode, WorkerSettings


def test_defaults_are_the_livekit_dev_server(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("LIVEKIT_URL", "LIVEKIT_API_KEY", "LIVEKIT_API_SECRET", "VOICE_AGENT_MODE"):
        monkeypatch.delenv(var, raising=False)
    s = WorkerSettings()
    assert (s.livekit_url, s.livekit_api_key) == ("ws://localhost:7880", "devkey")
    assert s.livekit_api_secret.get_secret_value() == "secret"
    assert s.mode is WorkerMode.DEV


def test_reads_vendor_env_vars_and_lists(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEEPGRAM_API_KEY", "dg-key")
    monkeypatch.setenv("VOICE_AGENT_ALLOWED_TARGETS", "10.1.0.0/16, hooks.internal")
    s = WorkerSettings()
    assert s.deepgram_api_key is not None
    assert s.deepgram_api_key.get_secret_value() == "dg-key"
    assert s.allowed_targets == ["10.1.0.0/16", "hooks.internal"]


def test_production_refuses_dev_credentials_against_remote_server(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("VOICE_AGENT_MODE", "production")
    monkeypatch.setenv("LIVEKIT_URL", "wss://lk.example.com")
    monkeypatch.delenv("LIVEKIT_API_KEY", raising=False)
    monkeypatch.delenv("LIVEKIT_API_SECRET", raising=False)
    with pytest.raises(ValidationError, match="refusing to start in production"):
        WorkerSettings()
    monkeypatch.setenv("LIVEKIT_API_KEY", "APIreal")
    monkeypatch.setenv("LIVEKIT_API_SECRET", "real-secret-value")
    assert WorkerSettings().mode is WorkerMode.PRODUCTION


def test_production_against_local_server_is_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VOICE_AGENT_MODE", "production")
    monkeypatch.setenv("LIVEKIT_URL", "ws://127.0.0.1:7880")
    assert WorkerSettings().mode is WorkerMode.PRODUCTION


def test_drain_timeout_must_cover_longest_call_and_report(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VOICE_AGENT_MAX_CALL_SECONDS", "3600")
    monkeypatch.setenv("VOICE_AGENT_DRAIN_TIMEOUT_SECONDS", "600")
    # a call may wait 60 s for its caller, then run 3600 s, then take 300 s to report
    with pytest.raises(ValidationError, match="3960"):
        WorkerSettings()
    monkeypatch.setenv("VOICE_AGENT_JOIN_TIMEOUT_SECONDS", "30")
    monkeypatch.setenv("VOICE_AGENT_DRAIN_TIMEOUT_SECONDS", "3930")
    assert WorkerSettings().drain_timeout_seconds == 3930
