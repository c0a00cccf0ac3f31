"""JSON Schemas of the contracts, checked in under `config/`: the dispatch document (for
backends to validate against before they dispatch), and the webhook bodies in both wire formats
(HMS's envelope, CallMissed's session). `python -m agent schema --write` regenerates them; a
test fails when a checked-in file differs from what the models produce, so they never drift.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter

from agent.contracts.events import callmissed_schema, events_schema
from agent.intake.document import DispatchDocument, FlatSessionConfig

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "config"
DISPATCH_SCHEMA_FILE = "dispatch.schema.json"
SCHEMA_ID = "https://github.com/voice-agent-worker/schemas/dispatch.schema.json"


def dispatch_schema() -> dict[str, Any]:
    schema = TypeAdapter(DispatchDocument | FlatSessionConfig).json_schema(
        mode="validation", ref_template="#/$defs/{model}"
    )
    # The outbound-call request body of the platform docs puts these at the top level; the
    # worker moves them under `call` before validation (agent/intake/dialects.py).
    nested = schema["$defs"]["DispatchDocument"]["properties"]
    # `assistant` may also be a flat session config (normalised before validation).
    nested["assistant"]["anyOf"] = [
        {"$ref": "#/$defs/AssistantConfig"},
        {"$ref": "#/$defs/FlatSessionConfig"},
        {"type": "null"},
    ]
    nested["destination"] = {
        "type": "string",
        "description": "Alias of call.destination (outbound request body shape).",
    }
    nested["number_id"] = {
        "type": "string",
        "description": "Alias of call.sip_trunk_id (outbound request body shape).",
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "Voice agent dispatch document (version 1)",
        "description": (
            "Put in the agent dispatch metadata (preferred) or the room metadata. Either the "
            "nested dialect (call + assistant | assistant_id + assistant_override) or a flat "
            "session config. Secrets accept secret:NAME references."
        ),
    } | schema


def render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def schemas() -> dict[str, str]:
    """File name -> rendered schema, for every contract this project exports."""
    return {
        DISPATCH_SCHEMA_FILE: render(dispatch_schema()),
        "events.schema.json": render(events_schema()),
        "callmissed-session.schema.json": render(callmissed_schema()),
    }


def write_schemas(directory: Path = SCHEMA_DIR) -> list[Path]:
    written = []
    for name, text in schemas().items():
        path = directory / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
