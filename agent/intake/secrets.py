"""Secret references: `secret:NAME` instead of a literal key, so secrets never travel in metadata.

Room metadata is readable by every participant, the caller's browser included, so a backend
should never put a key there. Wherever the dispatch document accepts a secret or an API key it
also accepts `secret:NAME`, resolved here.

The document is tenant input, so a reference reaches only what the operator exposed to
documents, never the worker's own environment at large:

1. env `<prefix><NAME>` (prefix `VOICE_AGENT_TENANT_SECRET_` by default): `secret:TENANT_42_KEY`
   reads `VOICE_AGENT_TENANT_SECRET_TENANT_42_KEY`. The document names only the part after the
   prefix, so no spelling of a name can leave the prefix;
2. env `<NAME>` itself, only when NAME is listed in the operator's allowlist
   (`VOICE_AGENT_TENANT_SECRET_NAMES`: the migration path for deployments whose documents name
   plain env vars);
3. the file `<secrets_dir>/<NAME>` (the Kubernetes Secret volume layout), which must stay inside
   the directory once symlinks are followed.

A name the worker reads as one of its own settings (LiveKit credentials, vendor keys, the webhook
secret: anything `WorkerSettings` reads, and every `LIVEKIT_*` / `VOICE_AGENT_*` name) is refused
whatever the operator configured, even when allowlisted, under the prefix or present as a file.
Failures name the reference, never a value, so they become a `config_error` naming the field.
"""

from __future__ import annotations

import os
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from agent.worker.settings import (
    DEFAULT_TENANT_SECRET_PREFIX,
    is_worker_env_name,
    is_worker_name,
)

if TYPE_CHECKING:
    from agent.worker.settings import WorkerSettings

PREFIX = "secret:"
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,127}$")


class SecretNotFound(LookupError):
    """The reference names a secret this document cannot have (missing, or refused)."""


class SecretRefused(SecretNotFound):
    """The reference is malformed or names one of the worker's own settings: never resolvable,
    whatever the environment holds (so `check --skip-secrets` reports it too)."""


class ResolvesSecrets(Protocol):
    """Anything that turns a secret or `secret:NAME` into the secret itself."""

    def resolve(self, value: str) -> str: ...


def is_reference(value: str) -> bool:
    return value.startswith(PREFIX)


def referenced_name(value: str) -> str:
    """The NAME of `secret:NAME`, or SecretRefused when no document may ever name it."""
    name = value[len(PREFIX) :]
    if not _NAME.match(name):
        # The text is not quoted: a malformed "reference" may be a literal key after all.
        raise SecretRefused(
            "malformed secret reference: expected secret:NAME with NAME made of letters, "
            "digits, '_', '-' or '.' (not starting with '.' or '-', at most 128 characters)"
        )
    if is_worker_name(name):
        raise SecretRefused(
            f"secret:{name} is reserved: the worker's own settings (and every LIVEKIT_* or "
            "VOICE_AGENT_* name) cannot be referenced; dispatch documents reach only the "
            "secrets the operator exposed to them"
        )
    return name


@dataclass
class SecretResolver:
    """Resolves `secret:NAME` from the tenant-secret env prefix, the allowlist, then the
    secrets directory (see the module docstring). Literals pass through unchanged."""

    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    secrets_dir: Path | None = None
    prefix: str = DEFAULT_TENANT_SECRET_PREFIX
    allowed_names: Collection[str] = ()
    """Plain env var names exposed as `secret:NAME` (`VOICE_AGENT_TENANT_SECRET_NAMES`)."""

    @classmethod
    def from_settings(
        cls, settings: WorkerSettings, *, secrets_dir: Path | None = None
    ) -> SecretResolver:
        """The resolver the operator configured; `secrets_dir` overrides the setting."""
        return cls(
            secrets_dir=secrets_dir or settings.secrets_dir,
            prefix=settings.tenant_secret_prefix,
            allowed_names=tuple(settings.tenant_secret_names),
        )

    def resolve(self, value: str) -> str:
        """Return the secret a reference names, or `value` itself when it is a literal."""
        if not is_reference(value):
            return value
        name = referenced_name(value)
        if found := self._from_env(name):
            return found
        if found := self._from_file(name):
            return found
        raise SecretNotFound(
            f"secret:{name} is not exposed to dispatch documents: {self._how(name)}"
        )

    def _from_env(self, name: str) -> str | None:
        prefixed = f"{self.prefix}{name}"
        # The operator's prefix could itself spell a setting (prefix `VOICE_AGENT_` and
        # `secret:WEBHOOK_SECRET`): the full name is checked, not only the part sent.
        if self.prefix and not is_worker_env_name(prefixed) and self.env.get(prefixed):
            return self.env[prefixed]
        if name in self.allowed_names and self.env.get(name):
            return self.env[name]
        return None

    def _from_file(self, name: str) -> str | None:
        if self.secrets_dir is None:
            return None
        path = self.secrets_dir / name
        try:
            # Kubernetes mounts each key as a symlink into `..data/`, inside the directory; a
            # link out of it is not something the operator exposed.
            if not path.resolve().is_relative_to(self.secrets_dir.resolve()):
                return None
            # Mounted Secret files usually end with a newline that is not part of the key.
            text = path.read_text(encoding="utf-8").rstrip("\r\n")
        except (OSError, UnicodeDecodeError, RuntimeError):
            return None
        return text or None

    def _how(self, name: str) -> str:
        ways = [f"set env {self.prefix}{name}"] if self.prefix else []
        ways.append(f"list {name} in VOICE_AGENT_TENANT_SECRET_NAMES")
        if self.secrets_dir is not None:
            ways.append(f"add the file {self.secrets_dir / name}")
        return ", or ".join(ways)


class ReferencesOnly:
    """`check --skip-secrets`: accepts every reference a worker could resolve (well-formed, not
    a worker setting) without reading any secret; a backend validating a document does not
    hold the worker's secrets. Returns the reference itself in place of the value."""

    def resolve(self, value: str) -> str:
        if is_reference(value):
            referenced_name(value)
        return value
