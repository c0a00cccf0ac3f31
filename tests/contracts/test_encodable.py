"""Text that cannot be encoded is cleaned where it enters; capped values carry a marker."""

from __future__ import annotations

import json
from typing import Any

from agent.contracts.encodable import TOO_DEEP, capped_json, capped_text, clean_data, clean_text


def test_lone_surrogates_become_the_replacement_character() -> None:
    assert clean_text("a\ud83db") == "a\ufffdb"
    assert clean_text("\udc00") == "\ufffd"
    assert clean_text("\ud83d\ude00") == "😀"  # a pair held as two code points is joined
    text = "nothing to do"
    assert clean_text(text) is text


def test_clean_data_makes_anything_sendable() -> None:
    deep: Any = "leaf"
    for _ in range(100):
        deep = [deep]
    value = {"k\ud800": ("t\udfff", 1.5, float("inf"), None, True), "deep": deep, "o": object}
    cleaned = clean_data(value)
    assert cleaned["k\ufffd"] == ["t\ufffd", 1.5, None, None, True]
    assert TOO_DEEP in json.dumps(cleaned["deep"])
    assert cleaned["o"] == "<class 'object'>"
    json.dumps(cleaned, ensure_ascii=False, allow_nan=False).encode("utf-8")


def test_capped_values_keep_the_start_and_say_how_much_there_was() -> None:
    assert capped_text("short", 10) == "short"
    cut = capped_text("é" * 100, 11)  # never half a character
    assert cut.startswith("é" * 5 + "…")
    assert "[truncated: 200 bytes, the first 11 kept]" in cut
    small = {"a": 1}
    assert capped_json(small, 100) == small
    big = capped_json({"rows": ["x" * 100] * 400}, 1000)
    assert isinstance(big, str)
    assert big.startswith('{"rows": ["xxx')
    assert "[truncated: 4" in big
