"""Literal secrets in a dispatch document: where they are, and the warning a room's one gets.

Room metadata is readable by every participant of the room, so a document that came from it
(origin `room`) and holds a credential written out, rather than a `secret:NAME` reference, is
warned about, path by path (never the value). Finding those paths is a walk of its own over
the whole document, apart from the parser (agent/intake/dispatch.py) that calls it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from itertools import pairwise
from typing import Any

from agent.intake.secrets import is_reference

SECRET_KEYS = frozenset({"api_key", "webhook_secret", "secret"})


def literal_secret_paths(doc: Any, prefix: str = "") -> list[str]:
    """Paths of secrets given as literals, anywhere in the document: the secret fields
    (``api_key``, ``webhook_secret``, ``secret``) not written as `secret:NAME` references, and
    any value under a key that names a credential (``Authorization``, ``X-API-Key``,
    ``access_token``, ``password``: a tool server's ``headers``, the ``metadata``), or that is
    one (``Bearer ...``)."""
    found: list[str] = []
    if isinstance(doc, Mapping):
        for key, value in doc.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            if isinstance(value, str):
                if value and not is_reference(value) and _names_credential(str(key), value):
                    found.append(path)
            else:
                found += literal_secret_paths(value, path)
    elif isinstance(doc, list):
        for i, item in enumerate(doc):
            found += literal_secret_paths(item, f"{prefix}.{i}")
    return found


_CREDENTIAL_WORDS = frozenset(
    {"secret", "token", "password", "passwd", "authorization", "cookie", "credential",
     "credentials", "apikey", "bearer"}
)  # fmt: skip
_CREDENTIAL_PAIRS = frozenset({("api", "key"), ("private", "key"), ("access", "key")})
_AUTH_SCHEME = re.compile(r"^(?:Bearer|Basic|Token|Digest)\s+\S", re.IGNORECASE)
_WORD = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|[0-9]+")


def _names_credential(key: str, value: str) -> bool:
    if key in SECRET_KEYS or _AUTH_SCHEME.match(value):
        return True
    words = [word.lower() for word in _WORD.findall(key)]
    return any(word in _CREDENTIAL_WORDS for word in words) or any(
        pair in _CREDENTIAL_PAIRS for pair in pairwise(words)
    )


def _takes_reference(path: str) -> bool:
    """Whether the field at ``path`` resolves `secret:NAME`: a secret field of the contract, or a
    tool server's header value (metadata is passed through as written)."""
    parts = path.split(".")
    if "metadata" in parts:
        return False
    return (len(parts) >= 2 and parts[-2] == "headers") or (
        parts[-1] in SECRET_KEYS and "headers" not in parts
    )


def room_metadata_warnings(doc: Any) -> list[str]:
    """One warning per literal secret of a document read from room metadata."""
    return [
        f"literal secret at {path} in room metadata, which every participant can read; "
        + (
            "use a secret:NAME reference"
            if _takes_reference(path)
            else "send the document as agent dispatch metadata (only the agent reads it)"
        )
        for path in literal_secret_paths(doc)
    ]
