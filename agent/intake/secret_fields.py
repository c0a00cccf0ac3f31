"""The `Secret` field type: a literal secret or a `secret:NAME` reference, resolved at parse time.

Resolution happens inside validation (through the pydantic validation context) so a missing
secret becomes an ordinary validation error at the exact field path, and the parsed model only
ever holds `SecretStr` values, which print as `**********` in logs and reprs.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BeforeValidator, SecretStr, ValidationInfo

from agent.intake.secrets import ResolvesSecrets, SecretNotFound, SecretResolver

CONTEXT_KEY = "secret_resolver"


def _resolve(value: object, info: ValidationInfo) -> object:
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    if not isinstance(value, str):
        return value  # let SecretStr validation report the wrong type
    if not value:
        raise ValueError("must not be empty")
    context = info.context if isinstance(info.context, dict) else {}
    resolver: ResolvesSecrets = context.get(CONTEXT_KEY) or SecretResolver()
    try:
        return resolver.resolve(value)
    except SecretNotFound as exc:
        raise ValueError(str(exc)) from None


Secret = Annotated[SecretStr, BeforeValidator(_resolve)]
"""A secret or API key; accepts `secret:NAME`, resolved only from what the operator exposed to
dispatch documents (see `secrets.py`)."""
