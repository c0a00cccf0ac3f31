"""Hypothesis strategies for hostile JSON: any value, any text (lone surrogates included), raw
bytes, and nesting deep enough to exhaust recursion. Shared by the parsers' property tests."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import strategies as st

# Any code point, lone surrogates included (hypothesis leaves them out by default), with the
# halves a browser leaves when it cuts an emoji made common.
# (st.text would drop the surrogates again: hence a list of characters, joined.)
texts = st.lists(
    st.one_of(st.characters(), st.sampled_from(["\ud83d", "\ude00", "\udc00", "a", "é"])),
    max_size=24,
).map("".join)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=False, allow_infinity=False),
    texts,
)
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(texts, children, max_size=4),
    max_leaves=30,
)


def _nest(depth: int, opener: str) -> str:
    closer = {"[": "]", '{"a":': "}"}[opener]
    inner = "[]" if opener == "[" else "1"
    return opener * depth + inner + closer * depth


deep_texts = st.builds(
    _nest, st.integers(min_value=1, max_value=20_000), st.sampled_from(["[", '{"a":'])
)
"""``[[[…]]]`` or ``{"a":{"a":…}}`` from 1 to 20 000 levels deep."""


def as_text(value: Any) -> str:
    """JSON text of ``value``; lone surrogates become ``\\udXXX`` escapes, as a browser's
    ``JSON.stringify`` writes them."""
    return json.dumps(value)


hostile_raw = st.one_of(
    json_values.map(as_text),
    json_values.map(lambda v: as_text(v).encode()),
    st.binary(max_size=200),
    deep_texts,
    st.sampled_from(["NaN", "[Infinity]", "1e999", "9" * 5000, '{"a":1,"a":2}', "\ufeff{}"]),
)
"""Anything a sender could put in a body or packet, as text or bytes."""
