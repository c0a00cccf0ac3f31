"""How big what a dispatch document brings in may be: the bounds shared by several contracts.

`metadata` rides on every webhook of the call and a JSON Schema (a tool's `parameters`, the
structured-data plan's `schema`) is walked by the validator on every tool call, so both are
bounded where they enter: a `config_error` naming the field, never found out when a report fails
to serialise. The lines the agent speaks and the instructions a vendor is sent are bounded the
same way. The assistant, its tools and its analysis plan all use these, so they live here once.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from agent.contracts.json_schema import schema_problem
from agent.contracts.untrusted_json import bounds_problem

MAX_METADATA_BYTES = 16 * 1024
MAX_METADATA_DEPTH = 32
MAX_SCHEMA_BYTES = 32 * 1024
MAX_SCHEMA_DEPTH = 32
MAX_SPOKEN_LINE = 2000
"""A line the agent says (greeting, goodbye, tool and silence messages), in characters."""
MAX_INSTRUCTIONS = 4096

SpokenLine = Annotated[str, Field(max_length=MAX_SPOKEN_LINE)]


def bounded(value: dict[str, Any], *, max_depth: int, max_bytes: int) -> dict[str, Any]:
    """`value`, or a ValueError (a validator's refusal) when it is too deep or too large."""
    problem = bounds_problem(value, max_depth=max_depth, max_bytes=max_bytes)
    if problem is not None:
        raise ValueError(problem)
    return value


def usable_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """`schema` when it is bounded and a valid JSON Schema, else a ValueError saying why."""
    bounded(schema, max_depth=MAX_SCHEMA_DEPTH, max_bytes=MAX_SCHEMA_BYTES)
    problem = schema_problem(schema)
    if problem is not None:
        raise ValueError(problem)
    return schema
