"""Secret scope: a document's `secret:NAME` reaches only what the operator exposed to documents.

Hostile names first (the worker's own settings, every spelling of them, path traversal), then
the three ways an operator exposes a secret, then the same refusals through the dispatch parser,
where each must be a config_error naming the field and never carrying a value.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from agent.errors import ConfigError
from agent.intake.dispatch import ParseOptions, parse_dispatch
from agent.intake.secrets import ReferencesOnly, SecretNotFound, SecretRefused, SecretResolver
from agent.worker.settings import WorkerSettings, worker_env_names

SENTINEL = "sentinel-VALUE-must-never-show-4f1c"

# Every one of these holds SENTINEL in the worker's environment in the tests below.
WORKER_NAMES = [
    "LIVEKIT_API_SECRET",
    "LIVEKIT_API_KEY",
    "OPENAI_API_KEY",
    "DEEPGRAM_API_KEY",
    "ELEVEN_API_KEY",
    "SARVAM_API_KEY",
    "VOICE_AGENT_WEBHOOK_SECRET",
    "VOICE_AGENT_ASSISTANT_REQUEST_SECRET",
    "livekit_api_secret",  # settings are read case-insensitively
    "Openai_Api_Key",
    "LIVEKIT_ANYTHING_ELSE",  # the whole LIVEKIT_* namespace
    "VOICE_AGENT_SOMETHING_NEW",  # and VOICE_AGENT_*
    "VOICE_AGENT_TENANT_SECRET_X",  # the full prefixed name is not how a document names it
]


def everything_exposed(tmp_path: Path) -> SecretResolver:
    """A resolver where each hostile name is present everywhere the operator could expose it:
    in the env, under the prefix, in the allowlist (bypassing the settings check), as a file."""
    env = dict.fromkeys(WORKER_NAMES, SENTINEL)
    env |= {f"VOICE_AGENT_TENANT_SECRET_{name}": SENTINEL for name in WORKER_NAMES}
    for name in WORKER_NAMES:
        (tmp_path / name).write_text(SENTINEL)
    return SecretResolver(env=env, secrets_dir=tmp_path, allowed_names=tuple(WORKER_NAMES))


@pytest.mark.parametrize("name", WORKER_NAMES)
def test_worker_settings_can_never_be_named(name: str, tmp_path: Path) -> None:
    with pytest.raises(SecretRefused) as refused:
        everything_exposed(tmp_path).resolve(f"secret:{name}")
    assert SENTINEL not in str(refused.value)


def test_every_setting_of_the_worker_is_reserved() -> None:
    names = worker_env_names()
    for field_name in WorkerSettings.model_fields:
        assert f"VOICE_AGENT_{field_name.upper()}" in names
    assert {"LIVEKIT_API_SECRET", "OPENAI_API_KEY", "ELEVEN_API_KEY", "SARVAM_API_KEY"} <= names


@pytest.mark.parametrize("name", ["PREFIX", "NAMES"])
def test_the_prefix_cannot_spell_the_prefix_settings(name: str) -> None:
    # VOICE_AGENT_TENANT_SECRET_ + PREFIX is the worker's own VOICE_AGENT_TENANT_SECRET_PREFIX.
    env = {f"VOICE_AGENT_TENANT_SECRET_{name}": SENTINEL}
    with pytest.raises(SecretNotFound) as missing:
        SecretResolver(env=env).resolve(f"secret:{name}")
    assert SENTINEL not in str(missing.value)


def test_an_operator_prefix_that_spells_settings_still_cannot_reach_them() -> None:
    env = {"VOICE_AGENT_WEBHOOK_SECRET": SENTINEL, "LIVEKIT_API_SECRET": SENTINEL}
    for prefix, name in (("VOICE_AGENT_", "WEBHOOK_SECRET"), ("LIVEKIT_", "API_SECRET")):
        with pytest.raises(SecretNotFound):
            SecretResolver(env=env, prefix=prefix).resolve(f"secret:{name}")


@pytest.mark.parametrize(
    "reference",
    [
        "secret:../x",
        "secret:..",
        "secret:.",
        "secret:/etc/passwd",
        "secret:x/../../etc/passwd",
        "secret:..%2fx",
        "secret:a\\b",
        "secret:",
        "secret:-rf",
        "secret:x\x00y",
        "secret:" + "A" * 200,
        "secret:名前",
    ],
)
def test_malformed_and_traversing_names_are_refused(reference: str, tmp_path: Path) -> None:
    secrets_dir = tmp_path / "secrets"
    secrets_dir.mkdir()
    (tmp_path / "x").write_text(SENTINEL)
    resolver = SecretResolver(env={}, secrets_dir=secrets_dir)
    with pytest.raises(SecretRefused) as refused:
        resolver.resolve(reference)
    assert SENTINEL not in str(refused.value)


def test_a_symlink_out_of_the_secrets_directory_is_not_followed(tmp_path: Path) -> None:
    secrets_dir = tmp_path / "secrets"
    (secrets_dir / "..data").mkdir(parents=True)
    outside = tmp_path / "outside"
    outside.write_text(SENTINEL)
    (secrets_dir / "ESCAPE").symlink_to(outside)
    # The Kubernetes layout: NAME -> ..data/NAME, inside the directory, is followed.
    (secrets_dir / "..data" / "CRM_KEY").write_text("crm-value\n")
    (secrets_dir / "CRM_KEY").symlink_to(Path("..data") / "CRM_KEY")
    resolver = SecretResolver(env={}, secrets_dir=secrets_dir)
    assert resolver.resolve("secret:CRM_KEY") == "crm-value"
    with pytest.raises(SecretNotFound) as missing:
        resolver.resolve("secret:ESCAPE")
    assert SENTINEL not in str(missing.value)


def test_exposed_names_resolve_prefix_then_allowlist_then_file(tmp_path: Path) -> None:
    (tmp_path / "FROM_FILE").write_text("file-value\n")
    (tmp_path / "BOTH").write_text("file-loses\n")
    env = {
        "VOICE_AGENT_TENANT_SECRET_TENANT_42_KEY": "prefixed-value",
        "VOICE_AGENT_TENANT_SECRET_BOTH": "prefix-wins",
        "TOOLS_SECRET": "allowlisted-value",
        "NOT_LISTED": "never",
    }
    resolver = SecretResolver(env=env, secrets_dir=tmp_path, allowed_names=("TOOLS_SECRET",))
    assert resolver.resolve("secret:TENANT_42_KEY") == "prefixed-value"
    assert resolver.resolve("secret:TOOLS_SECRET") == "allowlisted-value"
    assert resolver.resolve("secret:FROM_FILE") == "file-value"
    assert resolver.resolve("secret:BOTH") == "prefix-wins"
    assert resolver.resolve("a-literal-key") == "a-literal-key"
    with pytest.raises(SecretNotFound) as missing:
        resolver.resolve("secret:NOT_LISTED")  # a plain env var of the worker, not exposed
    assert "never" not in str(missing.value)
    assert "VOICE_AGENT_TENANT_SECRET_NOT_LISTED" in str(missing.value)  # says how to expose it


def test_from_settings_uses_the_operators_scope(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("VOICE_AGENT_TENANT_SECRET_PREFIX", "ACME_TENANT_")
    monkeypatch.setenv("VOICE_AGENT_TENANT_SECRET_NAMES", "CRM_KEY, TOOLS_SECRET")
    monkeypatch.setenv("VOICE_AGENT_SECRETS_DIR", str(tmp_path))
    monkeypatch.setenv("ACME_TENANT_K", "k-value")
    monkeypatch.setenv("CRM_KEY", "crm-value")
    resolver = SecretResolver.from_settings(WorkerSettings())
    assert resolver.resolve("secret:K") == "k-value"
    assert resolver.resolve("secret:CRM_KEY") == "crm-value"
    assert resolver.secrets_dir == tmp_path


@pytest.mark.parametrize(
    ("env", "value", "fragment"),
    [
        ("VOICE_AGENT_TENANT_SECRET_NAMES", "LIVEKIT_API_SECRET", "LIVEKIT_API_SECRET"),
        ("VOICE_AGENT_TENANT_SECRET_NAMES", "OK_NAME,openai_api_key", "openai_api_key"),
        ("VOICE_AGENT_TENANT_SECRET_NAMES", "VOICE_AGENT_ANY", "VOICE_AGENT_ANY"),
        ("VOICE_AGENT_TENANT_SECRET_NAMES", "has space", "not env var names"),
        ("VOICE_AGENT_TENANT_SECRET_PREFIX", "BAD-PREFIX", "prefix"),
        ("VOICE_AGENT_TENANT_SECRET_PREFIX", "", "tenant_secret_prefix"),
    ],
)
def test_settings_refuse_to_expose_worker_names(
    env: str, value: str, fragment: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(env, value)
    with pytest.raises(ValidationError) as refused:
        WorkerSettings()
    assert fragment in str(refused.value)


def test_references_only_checks_names_without_reading_anything(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("VOICE_AGENT_TENANT_SECRET_PRESENT", SENTINEL)
    checker = ReferencesOnly()
    assert checker.resolve("secret:ANY_TENANT_NAME") == "secret:ANY_TENANT_NAME"
    assert checker.resolve("secret:PRESENT") == "secret:PRESENT"  # never the value
    for bad in ("secret:LIVEKIT_API_SECRET", "secret:../x"):
        with pytest.raises(SecretRefused):
            checker.resolve(bad)


def doc_with(field: str, reference: str) -> dict[str, Any]:
    assistant: dict[str, Any] = {
        "stt_config": {"provider": "deepgram"},
        "llm_config": {"model": "gpt-4.1-mini"},
        "tts_config": {"provider": "elevenlabs", "voice_id": "v"},
    }
    if field == "assistant.tts_config.api_key":
        assistant["tts_config"]["api_key"] = reference
    elif field == "assistant.llm_config.api_key":
        assistant["llm_config"]["api_key"] = reference
    elif field == "assistant.webhook_secret":
        assistant["webhook_secret"] = reference
    elif field == "assistant.tools.0.server.secret":
        assistant["tools"] = [
            {
                "type": "function",
                "function": {"name": "f"},
                "server": {"url": "https://tools.example/x", "secret": reference},
            }
        ]
    return {"assistant": assistant}


@pytest.mark.parametrize(
    "field",
    [
        "assistant.tts_config.api_key",
        "assistant.llm_config.api_key",
        "assistant.webhook_secret",
        "assistant.tools.0.server.secret",
    ],
)
@pytest.mark.parametrize(
    "reference", ["secret:LIVEKIT_API_SECRET", "secret:OPENAI_API_KEY", "secret:../x"]
)
async def test_a_refused_reference_is_a_config_error_naming_the_field(
    field: str, reference: str, tmp_path: Path
) -> None:
    resolver = everything_exposed(tmp_path)
    (tmp_path.parent / "x").write_text(SENTINEL)
    with pytest.raises(ConfigError) as refused:
        await parse_dispatch(
            doc_with(field, reference), room_name="r", options=ParseOptions(resolver=resolver)
        )
    assert refused.value.fields == [field]
    assert SENTINEL not in str(refused.value)
