"""docker-compose.yml wiring, read as data: docker cannot run in CI here, so this pins what a
broken edit would silently break (the worker reaching the livekit service with its dev keys,
the receiver verifying with the worker's webhook secret, the read-only worker filesystem) and
keeps the file consistent with the Dockerfile (ports, outbox path, entrypoint)."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml

from agent.worker.settings import WorkerMode, WorkerSettings
from tests.support.paths import REPO

ROOT = REPO


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return loaded


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = compose["services"]
    return found


def dockerfile_env() -> dict[str, str]:
    text = (ROOT / "Dockerfile").read_text()
    return dict(re.findall(r"^\s+(VOICE_AGENT_[A-Z_]+|HOME|TMPDIR)=(\S+?)\s*\\?$", text, re.M))


def test_three_services(services: dict[str, Any]) -> None:
    assert set(services) == {"livekit", "worker", "receiver"}


def test_livekit_is_a_dev_server_reachable_from_the_host(services: dict[str, Any]) -> None:
    livekit = services["livekit"]
    assert livekit["image"].split(":")[0] == "livekit/livekit-server"
    assert livekit["command"] == ["--dev", "--bind", "0.0.0.0"]  # noqa: S104 - in its container
    assert set(livekit["ports"]) == {"7880:7880", "7881:7881", "7882:7882/udp"}


def test_worker_talks_to_the_livekit_service_with_its_dev_keys(services: dict[str, Any]) -> None:
    worker = services["worker"]
    env = worker["environment"]
    assert worker["build"] == "."
    assert "entrypoint" not in worker  # the image's `python -m agent start`
    assert env["LIVEKIT_URL"] == "ws://livekit:7880"
    assert (env["LIVEKIT_API_KEY"], env["LIVEKIT_API_SECRET"]) == ("devkey", "secret")
    assert env["VOICE_AGENT_MODE"] == "dev"  # production refuses dev keys off localhost
    assert "livekit" in worker["depends_on"]
    for key in ("DEEPGRAM_API_KEY", "OPENAI_API_KEY", "ELEVEN_API_KEY", "SARVAM_API_KEY"):
        assert key in env, f"{key} must pass through from the host"
        assert env[key] is None, f"{key}: no value in the file, the host's is used"


def test_worker_settings_accept_the_compose_environment(
    services: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in services["worker"]["environment"].items():
        if value is not None:
            monkeypatch.setenv(key, str(value))
    settings = WorkerSettings()  # refuses dev keys in production, a drain below the cap
    assert settings.mode is WorkerMode.DEV
    grace = int(services["worker"]["stop_grace_period"].removesuffix("s"))
    assert grace > settings.drain_timeout_seconds


def test_receiver_verifies_with_the_worker_secret(services: dict[str, Any]) -> None:
    receiver, worker = services["receiver"], services["worker"]
    entrypoint = receiver["entrypoint"]
    assert entrypoint[:3] == ["python", "-m", "agent.devtools.receiver"]
    flags = dict(zip(entrypoint[3::2], entrypoint[4::2], strict=True))
    assert flags["--host"] == "0.0.0.0"  # noqa: S104 - inside its container
    assert flags["--secret"] == worker["environment"]["VOICE_AGENT_WEBHOOK_SECRET"]
    port = flags["--port"]
    # the worker's SSRF guard lets it post to the receiver on the compose network
    assert worker["environment"]["VOICE_AGENT_ALLOWED_TARGETS"] == "receiver"
    assert port == "8000"
    assert receiver["build"] == "."
    assert receiver["healthcheck"] == {"disable": True}  # the image's probes :8082, not ours


def test_worker_runs_read_only_as_the_image_expects(
    compose: dict[str, Any], services: dict[str, Any]
) -> None:
    worker = services["worker"]
    env = dockerfile_env()
    assert worker["read_only"] is True
    assert env["HOME"] == env["TMPDIR"] == "/tmp"  # noqa: S108 - the image's scratch mount
    assert worker["tmpfs"] == ["/tmp"]  # noqa: S108
    (volume,) = worker["volumes"]
    name, path = volume.split(":")
    assert path == env["VOICE_AGENT_OUTBOX_DIR"]
    assert name in compose["volumes"]
    published = {p.rsplit(":", 1)[-1] for p in worker["ports"]}
    assert published == {env["VOICE_AGENT_READY_PORT"], env["VOICE_AGENT_PROMETHEUS_PORT"]}
