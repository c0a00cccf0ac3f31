"""Tenant JSON Schemas: checked against the meta-schema at parse time, validated with jsonschema,
and unable to make the worker fetch a URL or backtrack a regular expression for minutes."""

from __future__ import annotations

import time
from typing import Any

import pytest

from agent.contracts.json_schema import schema_problem, validation_errors


@pytest.mark.parametrize(
    ("value", "schema", "errors"),
    [
        ({"a": 1}, {"type": "object", "required": ["a", "b"]}, ["$: 'b' is a required property"]),
        ({"a": 1}, {"type": "object", "additionalProperties": False},
         ["$: Additional properties are not allowed ('a' was unexpected)"]),
        (True, {"type": "integer"}, ["$: True is not of type 'integer'"]),
        (2.0, {"type": "integer"}, []),
        (2.5, {"type": "integer"}, ["$: 2.5 is not of type 'integer'"]),
        (None, {"type": ["string", "null"]}, []),
        ("x", {"enum": ["a", "b"]}, ["$: 'x' is not one of ['a', 'b']"]),
        (0, {"type": "number", "minimum": 1, "maximum": 10},
         ["$: 0 is less than the minimum of 1"]),
        (11, {"type": "number", "maximum": 10}, ["$: 11 is greater than the maximum of 10"]),
        ("", {"type": "string", "minLength": 1}, ["$: '' should be non-empty"]),
        ([1, "a"], {"type": "array", "items": {"type": "integer"}, "maxItems": 1},
         ["$[1]: 'a' is not of type 'integer'", "$: [1, 'a'] is too long"]),
        ({"p": {"q": "x"}}, {"properties": {"p": {"properties": {"q": {"type": "integer"}}}}},
         ["$.p.q: 'x' is not of type 'integer'"]),
        ({"anything": [1]}, {"type": "object"}, []),
        # beyond the old hand-written subset: combinators and local refs are enforced too
        ({"n": "1"},
         {"properties": {"n": {"$ref": "#/$defs/n"}}, "$defs": {"n": {"type": "integer"}}},
         ["$.n: '1' is not of type 'integer'"]),
        (3, {"oneOf": [{"type": "string"}, {"type": "boolean"}]},
         ["$: 3 is not valid under any of the given schemas"]),
    ],
)  # fmt: skip
def test_values_are_validated_with_path_and_message(
    value: Any, schema: dict[str, Any], errors: list[str]
) -> None:
    assert schema_problem(schema) is None
    assert validation_errors(value, schema) == errors


def test_problems_are_capped_in_number_and_length() -> None:
    schema = {"type": "array", "items": {"type": "integer"}}
    assert len(validation_errors(["x"] * 50, schema, limit=8)) == 8
    (long,) = validation_errors("y" * 5000, {"type": "integer"})
    assert len(long) <= 200


@pytest.mark.parametrize(
    ("schema", "problem"),
    [
        ({"type": "objekt"}, "not a valid JSON Schema: $.type:"),
        ({"properties": {"a": {"minimum": "x"}}}, "$.properties.a.minimum: 'x' is not of type"),
        ({"required": "a"}, "$.required: 'a' is not of type 'array'"),
        ({"pattern": "("}, "$.pattern: '(' is not a 'regex'"),
        ({"$ref": "http://169.254.169.254/latest"}, "points outside the schema"),
        ({"properties": {"a": {"$ref": "#/$defs/missing"}}}, "does not resolve inside the schema"),
        (
            {"patternProperties": {"x": {}}, "unevaluatedProperties": False},
            "unevaluatedProperties together with patternProperties",
        ),
    ],
)
def test_broken_schemas_are_named_at_parse_time(schema: dict[str, Any], problem: str) -> None:
    found = schema_problem(schema)
    assert found is not None
    assert problem in found


def test_a_backtracking_pattern_is_not_run() -> None:
    # (a+)+$ against 40 a's and a '!' takes Python's re longer than the age of the universe.
    schema = {"type": "object", "properties": {"a": {"type": "string", "pattern": "^(a+)+$"}},
              "patternProperties": {"^(b+)+$": {}}, "additionalProperties": False}  # fmt: skip
    assert schema_problem(schema) is None
    started = time.perf_counter()
    assert validation_errors({"a": "a" * 40 + "!", "b" * 40 + "!": 1}, schema) == []
    assert time.perf_counter() - started < 0.5


def test_no_ref_is_ever_fetched() -> None:
    # Refused at parse time; and were it validated anyway, the registry has no retrieval.
    schema = {"properties": {"a": {"$ref": "http://127.0.0.1:9/schema.json"}}}
    assert schema_problem(schema) is not None
    (problem,) = validation_errors({"a": 1}, schema)
    assert "does not resolve" in problem
