"""`python -m agent check` and `schema`, run as a user would: a real subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.paths import REPO

ROOT = REPO


def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own CLI with fixed arguments
        [sys.executable, "-m", "agent", *args],
        cwd=ROOT,
        input=stdin,
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


def test_check_unreadable_file_is_usage_error() -> None:
    assert run("check", "does/not/exist.json").returncode == 2


def test_schema_prints_the_checked_in_schema() -> None:
    result = run("schema")
    assert result.returncode == 0
    assert result.stdout == (ROOT / "config" / "dispatch.schema.json").read_text()
