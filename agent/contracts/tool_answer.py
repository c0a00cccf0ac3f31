"""A tool server's answer to a `tool-calls` request: the one incoming body of the webhook protocol.

Every other body of agent/contracts/events.py goes out; this one comes back, from a server the
backend chose, and is read tolerantly (a malformed entry is skipped, never the whole answer)
but within hard limits (the strict JSON reader of agent/contracts/untrusted_json.py), before the
model sees any of it.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agent.contracts.untrusted_json import JsonRefused, read_json


class ToolResult(BaseModel):
    """One answer of a tool server. Parsed tolerantly: ``toolCallId`` or ``tool_call_id``."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    tool_call_id: str = Field(alias="toolCallId")
    result: Any = None
    error: str | None = None

    def for_llm(self) -> str:
        """What the LLM is shown: the error, or the result as text (JSON for non-strings)."""
        if self.error is not None:
            return f"error: {self.error}"
        if isinstance(self.result, str):
            return self.result
        return json.dumps(self.result, ensure_ascii=False)


class ToolCallsResponse(BaseModel):
    """The tool server's reply: ``{"results": [{"toolCallId", "result" | "error"}]}``."""

    results: list[ToolResult] = Field(default_factory=list)

    def result_for(self, tool_call_id: str) -> ToolResult | None:
        return next((r for r in self.results if r.tool_call_id == tool_call_id), None)


MAX_TOOL_ANSWER_BYTES = 256 * 1024
"""A tool answer the model reads; anything bigger is a backend bug, not a result."""


class InvalidToolAnswer(ValueError):
    """The tool server's body is not one readable JSON document (not UTF-8, not JSON, a key
    given twice, nested too deeply, too large). ``reason`` quotes no value, a key name at most."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def parse_tool_response(body: bytes | str) -> ToolCallsResponse:
    """Parse a tool server's body. Raises :class:`InvalidToolAnswer` (and nothing else) when
    the body cannot be read as JSON at all (agent/contracts/untrusted_json.py); the JSON itself
    is read tolerantly: malformed entries are skipped, a non-string ``error`` becomes text, and
    a body without ``results`` yields no results."""
    try:
        data = read_json(body, max_bytes=MAX_TOOL_ANSWER_BYTES)
    except JsonRefused as exc:
        raise InvalidToolAnswer(str(exc)) from None
    raw = data.get("results") if isinstance(data, dict) else None
    results: list[ToolResult] = []
    for entry in raw if isinstance(raw, list) else []:
        if not isinstance(entry, dict):
            continue
        entry = dict(entry)
        if "toolCallId" not in entry and "tool_call_id" not in entry and "id" in entry:
            entry["toolCallId"] = entry["id"]
        if entry.get("error") is not None and not isinstance(entry["error"], str):
            entry["error"] = json.dumps(entry["error"], ensure_ascii=False)
        try:
            results.append(ToolResult.model_validate(entry))
        except ValidationError:
            continue
    return ToolCallsResponse(results=results)
