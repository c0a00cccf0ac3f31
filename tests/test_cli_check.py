"""`python -m agent check` and `schema`, run as a user would: a real subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.paths import REPO

ROOT = REPO


def run(
    *args: str, stdin: str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own CLI with fixed arguments
        [sys.executable, "-m", "agent", *args],
        cwd=ROOT,
        input=stdin,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    "example",
    ["hms-transient-web-call.json", "hms-outbound-transient.json", "callmissed-session.json"],
)
def test_check_accepts_the_seed_examples(example: str) -> None:
    result = run("check", f"config/examples/{example}")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ok: ")
    assert len(result.stdout.strip().splitlines()) == 1


def test_check_rejects_with_every_problem_and_its_path(tmp_path: Path) -> None:
    doc = {
        "assistant": {
            "stt_config": {"provider": "deepgram"},
            "llm_config": {"model": "m", "temperature": 9},
            "tts_config": {"provider": "polly"},
        }
    }
    result = run("check", "-", stdin=json.dumps(doc))
    assert result.returncode == 1
    assert "assistant.llm_config.temperature" in result.stderr
    assert "assistant.tts_config" in result.stderr


def test_check_skip_secrets_accepts_unresolvable_references() -> None:
    doc = {
        "assistant": {
            "stt_config": {"provider": "deepgram", "api_key": "secret:NOT_HERE_X"},
            "llm_config": {"model": "m"},
            "tts_config": {"provider": "openai"},
        }
    }
    assert run("check", "-", stdin=json.dumps(doc)).returncode == 1
    assert run("check", "--skip-secrets", "-", stdin=json.dumps(doc)).returncode == 0


def test_check_refuses_worker_secrets_and_keyless_endpoints_even_when_skipping_secrets() -> None:
    sentinel = "sk-SENTINEL-cli-check-8e1a"
    doc = {
        "assistant": {
            "stt_config": {"provider": "deepgram", "base_url": "https://dg.tenant.example/v1"},
            "llm_config": {"model": "m", "api_key": "secret:OPENAI_API_KEY"},
            "tts_config": {"provider": "openai", "api_key": "secret:TENANT_TTS"},
            "webhook_secret": "secret:../x",
        }
    }
    env = {"OPENAI_API_KEY": sentinel, "VOICE_AGENT_TENANT_SECRET_TENANT_TTS": "tts-key"}
    for flags in ([], ["--skip-secrets"]):
        result = run("check", *flags, "-", stdin=json.dumps(doc), env=env)
        assert result.returncode == 1, result.stderr
        assert "assistant.llm_config.api_key" in result.stderr
        assert "assistant.webhook_secret" in result.stderr
        assert "assistant.stt_config.api_key" in result.stderr  # own base_url, no own key
        assert "assistant.tts_config.api_key" not in result.stderr  # exposed: resolves
        assert sentinel not in result.stderr + result.stdout


def test_check_unreadable_file_is_usage_error() -> None:
    assert run("check", "does/not/exist.json").returncode == 2


def test_schema_prints_the_checked_in_schema() -> None:
    result = run("schema")
    assert result.returncode == 0
    assert result.stdout == (ROOT / "config" / "dispatch.schema.json").read_text()
