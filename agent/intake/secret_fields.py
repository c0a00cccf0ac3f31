"""The `Secret` field type: a literal secret or a `secret:NAME` reference, resolved at parse time.

Resolution happens inside validation (through the pydantic validation context) so a missing
secret becomes an ordinary validation error at the exact field path, and the parsed model only
ever holds `SecretStr` values, which print as `**********` in logs and reprs.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BeforeValidator, SecretStr, ValidationInfo

from agent.intake.secrets import ResolvesSecrets, SecretNotFound, SecretResolver, is_reference

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


def _resolve_reference(value: object, info: ValidationInfo) -> object:
    """A header value: a `secret:NAME` reference is resolved as a `Secret`; anything else is
    sent as written (an empty value included)."""
    if isinstance(value, str) and is_reference(value):
        return _resolve(value, info)
    return value


Secret = Annotated[SecretStr, BeforeValidator(_resolve)]
"""A secret or API key; accepts `secret:NAME`, resolved only from what the operator exposed to
dispatch documents (see `secrets.py`)."""

HeaderValue = Annotated[SecretStr, BeforeValidator(_resolve_reference)]
"""A tool server header value: literal, or a `secret:NAME` reference resolved like a `Secret`
(so an `Authorization` header needs no literal token in the document). Held as `SecretStr`
either way, so no header value prints in a log line or a repr."""
