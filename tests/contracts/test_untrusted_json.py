"""The strict reader behind every outside JSON: each hostile input is one JsonRefused."""

from __future__ import annotations

import json
from typing import Any

import pytest

from agent.contracts.untrusted_json import JsonRefused, bounds_problem, depth_of, read_json


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b'{"a": 1, "a": 2}', "duplicate key 'a': the document is ambiguous"),
        ('{"x": {"limit": 5, "limit": 500}}', "duplicate key 'limit'"),
        # two keys that differ only in their broken halves are one key once cleaned
        ('{"a\\ud800": 1, "a\\udc00": 2}', "duplicate key 'a\ufffd'"),
        (b"\xff{}", "not UTF-8 (byte 0"),
        ("[" * 100_000, "nested more than 64 levels deep"),
        ("NaN", "NaN is not a JSON number"),
        ('{"a": -Infinity}', "-Infinity is not a JSON number"),
        ("[1e999]", "a number is too large to be a float"),
        ("9" * 4301, "4300 digits"),
        ("{'single': 'quotes'}", "not valid JSON"),
        ("", "not valid JSON"),
        (b"x" * 1025, "1025 bytes; the limit is 1024"),
        ("é" * 600, "1200 bytes; the limit is 1024"),  # the limit counts UTF-8 bytes
    ],
)
def test_hostile_inputs_are_refused(raw: str | bytes, reason: str) -> None:
    with pytest.raises(JsonRefused) as refused:
        read_json(raw, max_bytes=1024 if isinstance(raw, bytes) or "é" in raw else 200_000)
    assert reason in str(refused.value)


def test_too_deep_names_where() -> None:
    doc: dict[str, Any] = {"assistant": {"metadata": {"a": [[[[[[[[[[{}]]]]]]]]]]}}}
    with pytest.raises(JsonRefused) as refused:
        read_json(json.dumps(doc), max_bytes=10_000, max_depth=8)
    assert refused.value.path == "assistant.metadata.a.0.…"


def test_a_lone_surrogate_becomes_the_replacement_character_in_keys_and_values() -> None:
    text = '{"k\\ud83d": ["x\\udc00", {"n": "\\ud83d\\ude00"}], "plain": "ok"}'
    value = read_json(text, max_bytes=1000)
    assert value == {"k\ufffd": ["x\ufffd", {"n": "😀"}], "plain": "ok"}  # the pair is kept
    json.dumps(value, ensure_ascii=False).encode("utf-8")  # and all of it encodes


def test_duplicates_can_be_dropped_instead_for_best_effort_readers() -> None:
    raw = b'{"webhook_url": "https://a.example", "webhook_url": "https://b.example", "x": 1}'
    assert read_json(raw, max_bytes=1000, duplicates="drop") == {"x": 1}


def test_what_is_valid_comes_back_unchanged() -> None:
    doc: dict[str, Any] = {"a": [1, 2.5, None, True, "é"], "b": {"c": {}}, "big": 10**100}
    assert read_json(json.dumps(doc), max_bytes=1000) == doc


def test_depth_and_bounds() -> None:
    assert depth_of(1) == 0
    assert depth_of({}) == 1
    assert depth_of({"a": [1, {"b": []}]}) == 4
    deep: Any = []
    for _ in range(10_000):  # iterative: no recursion limit
        deep = [deep]
    assert depth_of(deep) == 10_001
    assert bounds_problem({"a": 1}, max_depth=2, max_bytes=100) is None
    assert bounds_problem({"a": {"b": {}}}, max_depth=2, max_bytes=100) == (
        "nested 3 levels deep; the limit is 2"
    )
    assert bounds_problem({"a": "x" * 200}, max_depth=2, max_bytes=100) == (
        "is 209 bytes as JSON; the limit is 100"
    )
    assert bounds_problem({"a": float("nan")}, max_depth=2, max_bytes=100) is not None
