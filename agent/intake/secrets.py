"""Secret references: `secret:NAME` instead of a literal key, so secrets never travel in metadata.

Room metadata is readable by every participant, the caller's browser included, so a backend
should never put a key there. Wherever the dispatch document accepts a secret or an API key it
also accepts `secret:NAME`, resolved here from the worker's environment (`NAME`) or from a mounted
file (`<secrets_dir>/NAME`, the Kubernetes Secret volume layout). Resolution fails loudly with the
name (never the value) so a missing secret is a `config_error` naming the field.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

PREFIX = "secret:"
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,127}$")


class SecretNotFound(LookupError):
    """The reference names a secret the worker does not have."""


class ResolvesSecrets(Protocol):
    """Anything that turns a secret or `secret:NAME` into the secret itself."""

    def resolve(self, value: str) -> str: ...


def is_reference(value: str) -> bool:
    return value.startswith(PREFIX)


@dataclass
class SecretResolver:
    """Resolves `secret:NAME` from `env` first, then from `secrets_dir/NAME`."""

    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    secrets_dir: Path | None = None

    def resolve(self, value: str) -> str:
        """Return the secret a reference names, or `value` itself when it is a literal."""
        if not is_reference(value):
            return value
        name = value[len(PREFIX) :]
        if not _NAME.match(name):
            raise SecretNotFound(
                f"malformed secret reference {value!r}: expected secret:NAME with NAME made of "
                "letters, digits, '_', '-' or '.'"
            )
        if self.env.get(name):
            return self.env[name]
        if self.secrets_dir is not None:
            path = self.secrets_dir / name
            try:
                # Mounted Secret files usually end with a newline that is not part of the key.
                text = path.read_text(encoding="utf-8").rstrip("\r\n")
            except (FileNotFoundError, IsADirectoryError, PermissionError):
                pass
            else:
                if text:
                    return text
        where = f"environment variable {name}"
        if self.secrets_dir is not None:
            where += f" or file {self.secrets_dir / name}"
        raise SecretNotFound(f"secret reference {value!r} not found: set {where}")
