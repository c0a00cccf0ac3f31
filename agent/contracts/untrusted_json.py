"""Reading JSON from outside the worker: one strict reader behind every parser.

Dispatch documents, tool servers' answers, assistant-request answers and control packets are
written by someone else (a platform's customer, their backend, a participant in the room), so
all four are read here, the same way, and every refusal is one exception, :class:`JsonRefused`,
that each parser turns into its own error (``ConfigError``, ``InvalidToolAnswer``,
``InvalidCommand``):

- bytes must be UTF-8 (``json.loads`` would otherwise guess UTF-16 or UTF-32);
- a text over ``max_bytes`` is refused before it is parsed;
- a key repeated in one object is refused as ambiguous, naming the key: Python keeps the last
  value, many readers keep the first, and a validator and a worker that disagree about which
  value a limit has is how a limit is walked around;
- ``NaN``, ``Infinity`` and numbers too large for a float (``1e999``) are refused: they cannot
  be sent on as JSON; so are integers longer than Python's 4300 digits;
- nesting deeper than ``max_depth`` is refused, naming where (deep enough and ``json.loads``
  raises ``RecursionError``; less deep, a later webhook's serialiser fails instead);
- a lone UTF-16 surrogate (``"\\ud83d"``) becomes U+FFFD, in keys and values alike (see
  :mod:`agent.contracts.encodable`), so every string read here can be encoded again.

Depth counts containers: ``{}`` is 1 deep, ``{"a": [1]}`` is 2.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
from typing import Any, Literal

from agent.contracts.encodable import clean_text

MAX_DEPTH = 64
"""Default nesting limit; the dispatch document's own structure needs about 6 of it."""

Duplicates = Literal["refuse", "drop"]
"""``refuse``: a repeated key refuses the document. ``drop``: every key seen twice in an object
is left out of it (best-effort readers that must not pick either value)."""

# Where a lone surrogate can come from: a \uD800-\uDFFF escape, or (text handed over as str)
# the code point itself. Anything else decodes to valid Unicode, so the cleaning pass is skipped.
_MAY_HOLD_SURROGATE = re.compile(r"\\u[dD][89a-fA-F]|[\ud800-\udfff]")
_KEY_SHOWN = 60


class JsonRefused(ValueError):
    """Not one unambiguous JSON document within the limits. ``reason`` quotes no value (a key
    name at most); ``path`` is where, when known (dotted, as ConfigProblem paths are)."""

    def __init__(self, reason: str, *, path: str = "") -> None:
        super().__init__(f"{path}: {reason}" if path else reason)
        self.reason = reason
        self.path = path


def read_json(
    raw: str | bytes | bytearray,
    *,
    max_bytes: int,
    max_depth: int = MAX_DEPTH,
    duplicates: Duplicates = "refuse",
) -> Any:
    """Parse ``raw`` under the rules above, or raise :class:`JsonRefused`."""
    if isinstance(raw, bytes | bytearray):
        if len(raw) > max_bytes:
            raise JsonRefused(f"{len(raw)} bytes; the limit is {max_bytes}")
        try:
            text = bytes(raw).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise JsonRefused(f"not UTF-8 (byte {exc.start} is not valid UTF-8)") from None
    else:
        text = raw
        size = len(text.encode("utf-8", "surrogatepass"))
        if size > max_bytes:
            raise JsonRefused(f"{size} bytes; the limit is {max_bytes}")
    hook = _refuse_duplicates if duplicates == "refuse" else _drop_duplicates
    try:
        value = json.loads(
            text, object_pairs_hook=hook, parse_constant=_no_constant, parse_float=_finite_float
        )
    except JsonRefused:
        raise
    except RecursionError:
        raise JsonRefused(f"nested more than {max_depth} levels deep") from None
    except ValueError as exc:  # JSONDecodeError, and int() past 4300 digits
        raise JsonRefused(f"not valid JSON: {exc}") from None
    too_deep = _too_deep(value, max_depth)
    if too_deep is not None:
        raise JsonRefused(f"nested more than {max_depth} levels deep", path=too_deep)
    if _MAY_HOLD_SURROGATE.search(text):
        value = _clean(value, duplicates)
    return value


_CONTAINERS = (dict, list, tuple)


def depth_of(value: Any) -> int:
    """How many containers deep ``value`` is (0 for a scalar). Iterative, level by level (a
    256 KB answer of 10 000 objects takes about 3 ms): any depth."""
    level = [value] if isinstance(value, _CONTAINERS) else []
    depth = 0
    while level:
        depth += 1
        below: list[Any] = []
        keep = below.append
        for node in level:
            for child in node.values() if isinstance(node, dict) else node:
                if isinstance(child, _CONTAINERS):
                    keep(child)
        level = below
    return depth


def bounds_problem(value: Any, *, max_depth: int, max_bytes: int) -> str | None:
    """Why ``value`` (already parsed) is outside the bounds, or None. For field validators:
    the message says how deep or how large, never what is inside."""
    depth = depth_of(value)
    if depth > max_depth:
        return f"nested {depth} levels deep; the limit is {max_depth}"
    try:
        size = len(json.dumps(value, ensure_ascii=False, allow_nan=False).encode("utf-8"))
    except (TypeError, ValueError, RecursionError):
        return "is not plain JSON (numbers, strings, booleans, null, arrays, objects)"
    except UnicodeEncodeError:  # pragma: no cover - read_json cleans surrogates first
        return "holds text that is not valid Unicode"
    if size > max_bytes:
        return f"is {size} bytes as JSON; the limit is {max_bytes}"
    return None


def _shown(key: str) -> str:
    shown = key if len(key) <= _KEY_SHOWN else key[:_KEY_SHOWN] + "…"
    return repr(shown)


def _refuse_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise JsonRefused(f"duplicate key {_shown(key)}: the document is ambiguous")
            seen.add(key)
    return obj


def _drop_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        counts: dict[str, int] = {}
        for key, _ in pairs:
            counts[key] = counts.get(key, 0) + 1
        for key, count in counts.items():
            if count > 1:
                del obj[key]
    return obj


def _no_constant(name: str) -> Any:
    raise JsonRefused(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise JsonRefused("a number is too large to be a float")
    return number


def _too_deep(value: Any, limit: int) -> str | None:
    """The path (first four segments) of a container nested deeper than ``limit``, or None."""
    if depth_of(value) <= limit:
        return None  # the common case, measured fast; the path is looked for only when needed
    stack: list[tuple[Any, int, tuple[str, ...]]] = [(value, 1, ())]
    while stack:
        node, depth, path = stack.pop()
        if isinstance(node, dict):
            items: Iterable[tuple[str, Any]] = ((str(k), v) for k, v in node.items())
        elif isinstance(node, list):
            items = ((str(i), v) for i, v in enumerate(node))
        else:
            continue
        if depth > limit:
            shown = ".".join(path[:4]) + (".…" if len(path) > 4 else "")
            return shown or ""
        for key, child in items:
            if isinstance(child, dict | list):
                stack.append((child, depth + 1, (*path, key) if len(path) <= 4 else path))
    return None


def _clean(value: Any, duplicates: Duplicates) -> Any:
    """Surrogates out of every key and string; recursion is bounded by the depth check."""
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, list):
        return [_clean(item, duplicates) for item in value]
    if isinstance(value, dict):
        pairs = [(clean_text(k), _clean(v, duplicates)) for k, v in value.items()]
        # Two keys that differ only in their broken halves are one key once cleaned.
        return (_refuse_duplicates if duplicates == "refuse" else _drop_duplicates)(pairs)
    return value
