"""Every value that reaches a webhook can be encoded: text cleaned, sizes capped.

Strings enter a call from places that do not promise valid Unicode. A browser that cut an
emoji in half sends a lone UTF-16 surrogate (``"\\ud83d"``); Python's ``json`` reads it into a
``str`` that UTF-8 cannot encode, so the webhook built from it later fails to serialise and the
call has no report. STT and LLM vendors pass such text on too.

The decision: wherever text enters (the JSON reader for documents, answers and packets, see
:mod:`agent.contracts.untrusted_json`; the call record and the events for what vendors
produce), a lone surrogate becomes U+FFFD, the replacement character, and a surrogate pair
that arrived as two code points is joined into its character again. Nothing else changes.

What a tool server's answer or a model's arguments add to the record is capped the same way
everywhere (:func:`capped_json`): over the cap, the value is replaced by its JSON text cut at
the cap with a marker saying how much there was.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

MAX_CLEAN_DEPTH = 64
"""Containers nested deeper than this are replaced by :data:`TOO_DEEP` (the JSON serialiser of
a webhook gives up at about 250 levels; nothing legitimate comes near 64)."""

TOO_DEEP = "[nested too deeply]"


def clean_text(text: str) -> str:
    """``text`` with every lone surrogate replaced by U+FFFD (the same object when it has none)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        # UTF-16 round trip: a pair held as two code points is joined, a lone half is replaced.
        return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return text


def clean_data(
    value: Any, *, max_depth: int = MAX_CLEAN_DEPTH, default: Callable[[Any], Any] = str
) -> Any:
    """A JSON-like value whose every string (keys included) is :func:`clean_text`-ed.

    Also makes it sendable: tuples become lists, non-finite floats ``None``, other objects
    ``default(obj)`` (their text unless told otherwise), and containers deeper than
    ``max_depth`` :data:`TOO_DEEP`. Keys that become equal once cleaned keep the last value,
    as ``json`` would.
    """
    return _clean(value, max_depth, default)


def _clean(value: Any, depth_left: int, default: Callable[[Any], Any]) -> Any:
    if isinstance(value, str):
        return clean_text(value)
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict | list | tuple):
        if depth_left <= 0:
            return TOO_DEEP
        if isinstance(value, dict):
            return {
                clean_text(str(k)): _clean(v, depth_left - 1, default) for k, v in value.items()
            }
        return [_clean(item, depth_left - 1, default) for item in value]
    converted = default(value)
    return clean_text(converted) if isinstance(converted, str) else _clean(converted, 0, str)


def cut_utf8(text: str, max_bytes: int) -> str:
    """The longest prefix of ``text`` that is at most ``max_bytes`` in UTF-8 (never half a
    character)."""
    encoded = text.encode("utf-8", "replace")
    if len(encoded) <= max_bytes:
        return text
    return encoded[:max_bytes].decode("utf-8", "ignore")


def capped_text(text: str, max_bytes: int) -> str:
    """``text`` cleaned, or its first ``max_bytes`` plus a marker when it is longer."""
    text = clean_text(text)
    size = len(text.encode("utf-8"))
    if size <= max_bytes:
        return text
    return f"{cut_utf8(text, max_bytes)}… [truncated: {size} bytes, the first {max_bytes} kept]"


def capped_json(value: Any, max_bytes: int) -> Any:
    """``value`` cleaned when its JSON is at most ``max_bytes``; else that JSON as text, cut
    at ``max_bytes`` with the marker of :func:`capped_text`. Strings are capped as text."""
    value = clean_data(value)
    if isinstance(value, str):
        return capped_text(value, max_bytes)
    text = json.dumps(value, ensure_ascii=False)
    if len(text.encode("utf-8")) <= max_bytes:
        return value
    return capped_text(text, max_bytes)
