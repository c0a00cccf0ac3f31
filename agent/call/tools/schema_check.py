"""Refuse tool arguments that break the tool's JSON Schema before anything leaves the worker.

Models do not always honour the schema they were given (a missing ``required`` field, a number
sent as text, an enum value made up). Posting such a call would hand the backend something its
own contract forbids, so the arguments are checked first and the model is told exactly what is
wrong, in the schema's own words, so it can ask the caller or correct itself.

The check is the JSON Schema subset of :func:`agent.report.analysis.schema_errors` (type, enum,
const,
required, properties, additionalProperties, items, length and numeric bounds): the keywords tool
schemas use in practice. Keywords outside the subset are not enforced (the backend still sees
only what the model sent).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agent.report.analysis import schema_errors

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
    schema = dict(parameters)
    schema.setdefault("type", "object")
    return schema_errors(dict(arguments), schema)[:MAX_PROBLEMS]
