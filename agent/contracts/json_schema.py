"""JSON Schemas a document brings with it: checked when the document is parsed, then used.

Two kinds of schema come in a dispatch document: a `function` tool's ``parameters`` (the
model's arguments are checked against it before anything is POSTed) and the structured-data
plan's ``schema`` (the analysis LLM's answer is checked against it). Both are validated with
``jsonschema`` (Draft 2020-12), and both are checked against the meta-schema at parse time
(:func:`schema_problem`), so a broken schema is a ``config_error`` naming the field, not a
crash when the model first calls the tool.

What a tenant's schema cannot make the worker do:

- fetch anything: ``$ref`` must point inside the schema (``#...``); the validator's registry
  has no retrieval (``jsonschema``'s default would GET any URL a ``$ref`` names);
- hold the event loop: Python's ``re`` backtracks, so a pattern like ``(a+)+$`` against
  arguments a caller can steer could run for minutes. ``pattern`` and ``patternProperties``
  are therefore not enforced here (the backend still validates what it receives), and
  ``additionalProperties`` is not enforced in a schema that has ``patternProperties`` (which
  keys the patterns would cover is not evaluated). ``unevaluatedProperties`` would evaluate
  the patterns too, so a schema using it together with ``patternProperties`` is refused.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import referencing
import referencing.exceptions
from jsonschema import Draft202012Validator, ValidationError, validators
from jsonschema.exceptions import SchemaError
from referencing.jsonschema import DRAFT202012

MAX_MESSAGE = 200
"""One problem's text, at most: a value the model sent is quoted in it, and may be long."""


def _not_enforced(
    validator: Any, value: Any, instance: Any, schema: Mapping[str, Any]
) -> Iterator[ValidationError]:
    return iter(())


_ADDITIONAL = Draft202012Validator.VALIDATORS["additionalProperties"]


def _additional_properties(
    validator: Any, value: Any, instance: Any, schema: Mapping[str, Any]
) -> Iterator[ValidationError]:
    if "patternProperties" in schema:
        return iter(())
    result: Iterator[ValidationError] = _ADDITIONAL(validator, value, instance, schema) or iter(())
    return result


_Validator = validators.extend(
    Draft202012Validator,
    {
        "pattern": _not_enforced,
        "patternProperties": _not_enforced,
        "additionalProperties": _additional_properties,
    },
)
_NO_RETRIEVAL: referencing.Registry[Any] = referencing.Registry()


def schema_problem(schema: Mapping[str, Any]) -> str | None:
    """Why ``schema`` cannot be used, or None. Assumes its size and depth are bounded."""
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        return _shorten(f"not a valid JSON Schema: {exc.json_path}: {exc.message}")
    except RecursionError:
        return "nested too deeply to check"
    keywords = set(_keywords_used(schema))
    if "unevaluatedProperties" in keywords and "patternProperties" in keywords:
        return "unevaluatedProperties together with patternProperties is not supported"
    resolver = _NO_RETRIEVAL.resolver_with_root(DRAFT202012.create_resource(dict(schema)))
    for ref in _refs(schema):
        if not ref.startswith("#"):
            return _shorten(f"$ref {ref!r} points outside the schema; only '#...' refs are used")
        try:
            resolver.lookup(ref)
        except referencing.exceptions.Unresolvable:
            return _shorten(f"$ref {ref!r} does not resolve inside the schema")
    return None


def validation_errors(value: Any, schema: Mapping[str, Any], *, limit: int = 8) -> list[str]:
    """Where ``value`` breaks ``schema``, as ``$.path: problem`` lines (at most ``limit``)."""
    validator = _Validator(schema, registry=_NO_RETRIEVAL)
    problems: list[str] = []
    try:
        for error in validator.iter_errors(value):
            problems.append(_shorten(f"{error.json_path}: {error.message}"))
            if len(problems) >= limit:
                break
    except referencing.exceptions.Unresolvable as exc:
        problems.append(_shorten(f"$: a $ref of the schema does not resolve ({exc.ref!r})"))
    except RecursionError:
        problems.append("$: nested too deeply to check")
    return problems


def _shorten(text: str) -> str:
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 1] + "…"


def _keywords_used(schema: Any) -> Iterator[str]:
    stack = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, Mapping):
            yield from (str(k) for k in node)
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)


def _refs(schema: Any) -> Iterator[str]:
    stack = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, Mapping):
            for key, child in node.items():
                if key in ("$ref", "$dynamicRef") and isinstance(child, str):
                    yield child
                else:
                    stack.append(child)
        elif isinstance(node, list):
            stack.extend(node)
