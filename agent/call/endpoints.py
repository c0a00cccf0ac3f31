"""Per-call provider endpoints: where a dispatch document may send a call's audio and text.

A provider `base_url` in the dispatch document (or an LLM preset, which names a third-party
endpoint) is the tenant's choice, so before the call starts each such endpoint is checked the
way webhook and tool targets are: its host must be in the operator's provider allowlist
(`VOICE_AGENT_PROVIDER_HOSTS`, when set), and every address it resolves to must pass the
worker's :class:`TargetPolicy` (no private, loopback, link-local or metadata address unless
`VOICE_AGENT_ALLOWED_TARGETS` allows it). A refusal is a `ConfigError` naming the field. The
endpoints the operator configured (`VOICE_AGENT_*_BASE_URL`) are trusted as they are.

What this cannot do: the vendor plugins open their own HTTP and WebSocket connections and
resolve the host again themselves, so unlike the webhook and tool clients (whose connections are
pinned to the checked addresses) a DNS answer that changes between this check and the plugin's
connection (DNS rebinding) is not prevented. Deployments that need that closed set
`VOICE_AGENT_PROVIDER_HOSTS` to hosts they trust, and keep the NetworkPolicy's egress rules.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from agent.call.providers import LLM_PRESETS
from agent.contracts.assistant import AssistantConfig
from agent.delivery.target_policy import TargetPolicy, TargetRefused, split_target
from agent.errors import ConfigError, ConfigProblem
from agent.worker.settings import WorkerSettings

RESOLVE_TIMEOUT_SECONDS = 5.0
"""Resolving one endpoint's host at call start; the caller waits in silence meanwhile."""


@dataclass(frozen=True, slots=True)
class ChosenEndpoint:
    """An endpoint the document chose, with the field that chose it."""

    field: str
    url: str


def chosen_endpoints(assistant: AssistantConfig, settings: WorkerSettings) -> list[ChosenEndpoint]:
    """The provider endpoints of this call that the document, not the operator, decided."""
    operator = {
        url.rstrip("/")
        for url in (
            settings.openai_base_url,
            settings.deepgram_base_url,
            settings.elevenlabs_base_url,
            settings.sarvam_base_url,
        )
        if url
    }
    found: list[ChosenEndpoint] = []
    configs = (
        ("assistant.stt_config", assistant.stt_config),
        ("assistant.llm_config", assistant.llm_config),
        ("assistant.tts_config", assistant.tts_config),
    )
    for field, cfg in configs:
        if cfg.base_url is not None and (url := str(cfg.base_url).rstrip("/")) not in operator:
            found.append(ChosenEndpoint(f"{field}.base_url", url))
    llm = assistant.llm_config
    if llm.base_url is None and llm.provider in LLM_PRESETS:
        found.append(ChosenEndpoint("assistant.llm_config.provider", LLM_PRESETS[llm.provider]))
    return found


def host_allowed(host: str, allowed: list[str]) -> bool:
    """`host` matches an entry (`api.example.com`, or `*.example.com` for its subdomains)."""
    for entry in allowed:
        if entry.startswith("*."):
            if host.endswith(entry[1:]):
                return True
        elif host == entry:
            return True
    return False


async def check_provider_endpoints(
    assistant: AssistantConfig, settings: WorkerSettings, policy: TargetPolicy
) -> None:
    """Refuse the call (ConfigError naming each field) if a document-chosen endpoint points
    where the operator does not let calls go."""
    problems: list[ConfigProblem] = []
    for endpoint in chosen_endpoints(assistant, settings):
        why = await _refusal(endpoint.url, settings.provider_hosts, policy)
        if why is not None:
            problems.append(ConfigProblem(endpoint.field, why))
    if problems:
        raise ConfigError(problems)


async def _refusal(url: str, allowed_hosts: list[str], policy: TargetPolicy) -> str | None:
    try:
        _, host, _ = split_target(url)
        if allowed_hosts and not host_allowed(host, allowed_hosts):
            return (
                f"provider host {host!r} is not among the worker's allowed provider hosts "
                "(VOICE_AGENT_PROVIDER_HOSTS)"
            )
        async with asyncio.timeout(RESOLVE_TIMEOUT_SECONDS):
            await policy.check(url)
    except TargetRefused as exc:
        return f"provider endpoint {exc.host!r} refused: {exc.reason}"
    except (OSError, TimeoutError):
        # Unchecked is refused: the plugin would resolve it on its own, to anything.
        return "provider endpoint host could not be resolved to check it"
    return None
