"""Per-call provider endpoints go through the target policy and the operator's host allowlist.

Names resolve through a fixed table (no real DNS); the operator's own endpoints are trusted.
"""

from __future__ import annotations

import socket
from typing import Any

import pytest

from agent.call.endpoints import check_provider_endpoints, chosen_endpoints, host_allowed
from agent.contracts.assistant import AssistantConfig
from agent.delivery.target_policy import TargetPolicy
from agent.errors import ConfigError
from agent.worker.settings import WorkerSettings

TABLE = {
    "eu.vendor.example": ["93.184.216.34"],
    "rebind.example": ["93.184.216.34", "10.0.0.7"],
    "metadata.example": ["169.254.169.254"],
    "api.groq.com": ["93.184.216.35"],
    "localhost": ["127.0.0.1"],
}
LOOKED_UP: list[str] = []


async def table_resolve(host: str, port: int) -> list[str]:
    LOOKED_UP.append(host)
    try:
        return TABLE[host]
    except KeyError:
        raise socket.gaierror(socket.EAI_NONAME, "not in the test table") from None


def config(**parts: Any) -> AssistantConfig:
    doc: dict[str, Any] = {
        "stt_config": {"provider": "deepgram"},
        "llm_config": {"model": "gpt-4.1-mini"},
        "tts_config": {"provider": "elevenlabs", "voice_id": "v"},
    }
    return AssistantConfig.model_validate(doc | parts)


def llm_at(url: str) -> AssistantConfig:
    return config(llm_config={"model": "m", "base_url": url, "api_key": "tenant-key"})


@pytest.fixture
def settings(monkeypatch: pytest.MonkeyPatch) -> WorkerSettings:
    for name in ("VOICE_AGENT_PROVIDER_HOSTS", "VOICE_AGENT_ALLOWED_TARGETS"):
        monkeypatch.delenv(name, raising=False)
    return WorkerSettings()


async def refusal(assistant: AssistantConfig, settings: WorkerSettings) -> ConfigError:
    with pytest.raises(ConfigError) as refused:
        await check_provider_endpoints(assistant, settings, TargetPolicy(resolve=table_resolve))
    return refused.value


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data",
        "http://127.0.0.1:8080/v1",
        "http://10.0.0.5/v1",
        "http://192.168.1.20/v1",
        "http://[::ffff:169.254.169.254]/v1",
        "http://[::1]/v1",
        "http://metadata.example/v1",
        "http://rebind.example/v1",  # one private answer among public ones
        "http://localhost:11434/v1",
        "http://" + "a" * 64 + ".example/v1",  # IDNA-invalid: refused, not a UnicodeError
        "http://nowhere.example/v1",  # cannot be resolved: unchecked is refused
    ],
)
async def test_internal_provider_endpoints_are_refused_naming_the_field(
    url: str, settings: WorkerSettings
) -> None:
    error = await refusal(llm_at(url), settings)
    assert error.fields == ["assistant.llm_config.base_url"]
    assert "tenant-key" not in str(error)


async def test_each_refused_endpoint_is_named(settings: WorkerSettings) -> None:
    assistant = config(
        stt_config={"provider": "deepgram", "base_url": "http://10.1.1.1/v1", "api_key": "k"},
        tts_config={
            "provider": "openai",
            "base_url": "http://169.254.169.254/v1",
            "api_key": "k",
        },
    )
    error = await refusal(assistant, settings)
    assert error.fields == ["assistant.stt_config.base_url", "assistant.tts_config.base_url"]


async def test_public_endpoints_and_the_operators_own_pass(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("VOICE_AGENT_OPENAI_BASE_URL", "http://10.9.9.9/v1")  # in-cluster vLLM
    settings = WorkerSettings()
    policy = TargetPolicy(resolve=table_resolve)
    await check_provider_endpoints(llm_at("https://eu.vendor.example/v1"), settings, policy)
    # a document restating the operator's endpoint is the operator's endpoint
    await check_provider_endpoints(llm_at("http://10.9.9.9/v1/"), settings, policy)
    assert chosen_endpoints(llm_at("http://10.9.9.9/v1"), settings) == []


async def test_the_allowed_targets_setting_exempts_a_private_endpoint(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("VOICE_AGENT_ALLOWED_TARGETS", "10.0.0.0/8")
    settings = WorkerSettings()
    policy = TargetPolicy(settings.allowed_targets, resolve=table_resolve)
    await check_provider_endpoints(llm_at("http://10.0.0.5/v1"), settings, policy)


async def test_the_provider_host_allowlist_limits_document_endpoints_and_presets(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("VOICE_AGENT_PROVIDER_HOSTS", "*.vendor.example, api.openai.com")
    settings = WorkerSettings()
    policy = TargetPolicy(resolve=table_resolve)
    await check_provider_endpoints(llm_at("https://eu.vendor.example/v1"), settings, policy)
    groq = config(llm_config={"provider": "groq", "model": "m", "api_key": "k"})
    with pytest.raises(ConfigError) as refused:
        await check_provider_endpoints(groq, settings, policy)
    assert refused.value.fields == ["assistant.llm_config.provider"]
    assert "VOICE_AGENT_PROVIDER_HOSTS" in str(refused.value)
    # the allowlist is checked before any lookup: a refused host is never resolved
    with pytest.raises(ConfigError):
        await check_provider_endpoints(llm_at("https://vendor.example.evil/v1"), settings, policy)
    assert "vendor.example.evil" not in LOOKED_UP
    assert "api.groq.com" not in LOOKED_UP


@pytest.mark.parametrize(
    ("host", "allowed", "expected"),
    [
        ("api.openai.com", ["api.openai.com"], True),
        ("eu.vendor.example", ["*.vendor.example"], True),
        ("vendor.example", ["*.vendor.example"], False),
        ("evilvendor.example", ["*.vendor.example"], False),
        ("api.openai.com.evil", ["api.openai.com"], False),
    ],
)
def test_host_allowlist_matching(host: str, allowed: list[str], expected: bool) -> None:
    assert host_allowed(host, allowed) is expected


def test_provider_hosts_setting_refuses_what_is_not_a_host(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("VOICE_AGENT_PROVIDER_HOSTS", "api.openai.com, http://x/")
    with pytest.raises(ValueError, match="not host names"):
        WorkerSettings()
