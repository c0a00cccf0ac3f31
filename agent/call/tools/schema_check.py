"""Refuse tool arguments that break the tool's JSON Schema before anything leaves the worker.

Models do not always honour the schema they were given (a missing ``required`` field, a number
sent as text, an enum value made up). Posting such a call would hand the backend something its
own contract forbids, so the arguments are checked first and the model is told exactly what is
wrong, as ``$.path: problem`` lines in jsonschema's words, so it can ask the caller or correct
itself.

The schema was checked against the meta-schema when the document was parsed, and is validated
by :func:`agent.contracts.json_schema.validation_errors` (Draft 2020-12; no remote ``$ref``,
no regular expressions run: see that module). Arguments nested deeper than the schema may be
are refused before the validator walks them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agent.contracts.field_bounds import MAX_SCHEMA_DEPTH
from agent.contracts.json_schema import validation_errors
from agent.contracts.untrusted_json import depth_of

MAX_PROBLEMS = 8
"""The model gets the first few problems; a wall of errors helps it no more than eight do."""


def argument_problems(
    arguments: Mapping[str, Any] | str, parameters: Mapping[str, Any]
) -> list[str]:
    """What is wrong with ``arguments`` under the tool's ``parameters`` schema (empty: fine).

    Arguments that arrive as text (a model that produced something that is not a JSON object)
    are a problem of their own: the schema of every function tool is an object."""
    if not isinstance(arguments, Mapping):
        return ["$: the arguments are not a JSON object"]
    if depth_of(arguments) > MAX_SCHEMA_DEPTH:
        return [f"$: the arguments are nested more than {MAX_SCHEMA_DEPTH} levels deep"]
    schema = dict(parameters)
    schema.setdefault("type", "object")
    return validation_errors(dict(arguments), schema, limit=MAX_PROBLEMS)
