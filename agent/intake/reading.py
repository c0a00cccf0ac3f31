"""Reading a dispatch document: bytes (or an already parsed mapping) to one JSON object.

Every document the worker is handed, from any config source, is read here before anything
looks at its fields, by the strict reader every outside document goes through, within the
bounds below. The parser (agent/intake/dispatch.py), the report salvage
(agent/intake/report_target.py) and the config sources (agent/intake/sources.py) share them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from agent.contracts.untrusted_json import Duplicates, JsonRefused, read_json
from agent.errors import ConfigError

MAX_DOCUMENT_BYTES = 256 * 1024
"""A dispatch document is a config, not a payload; anything bigger is refused before parsing."""
MAX_DOCUMENT_DEPTH = 64
"""The document's own structure is about 6 deep; metadata and schemas inside it have their own
limit of 32 (agent/contracts/field_bounds.py), so 64 is reached only by something hostile."""


def load_json(
    raw: str | bytes | Mapping[str, Any] | None, *, duplicates: Duplicates = "refuse"
) -> dict[str, Any]:
    """Bytes or text to a JSON object, or a ConfigError saying why not.

    Read by the strict reader every outside document goes through (size, depth, duplicate
    keys, lone surrogates: agent/contracts/untrusted_json.py). A mapping handed over already
    parsed (a config-source plugin, a scenario file) is written out as JSON and read back the
    same way, so it gets the same limits and nothing that is not JSON gets through.
    """
    if raw is None or (isinstance(raw, str | bytes) and not raw.strip()):
        raise ConfigError("no dispatch document: the dispatch and room metadata are both empty")
    if isinstance(raw, Mapping):
        try:
            raw = json.dumps(raw, ensure_ascii=False, allow_nan=False)
        except (TypeError, ValueError, RecursionError) as exc:
            raise ConfigError(f"the document is not plain JSON ({type(exc).__name__})") from None
    try:
        data = read_json(
            raw, max_bytes=MAX_DOCUMENT_BYTES, max_depth=MAX_DOCUMENT_DEPTH, duplicates=duplicates
        )
    except JsonRefused as exc:
        raise ConfigError(f"document refused: {exc.reason}", path=exc.path) from None
    if not isinstance(data, dict):
        raise ConfigError(f"the document must be a JSON object, not {type(data).__name__}")
    return data
