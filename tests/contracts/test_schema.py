"""The JSON Schemas checked in under config/ are exactly what the models produce."""

from __future__ import annotations

import json

import pytest

from agent.contracts.schema import SCHEMA_DIR, schemas
from tests.support.paths import EXAMPLES as EXAMPLES_DIR

EXAMPLES = EXAMPLES_DIR


@pytest.mark.parametrize("name", sorted(schemas()))
def test_checked_in_schema_is_current(name: str) -> None:
    path = SCHEMA_DIR / name
    assert path.exists(), f"{path} missing: run `python -m agent schema --write`"
    assert path.read_text(encoding="utf-8") == schemas()[name], (
        f"{path} is stale: run `python -m agent schema --write` and commit it"
    )


def test_examples_validate_against_the_dispatch_schema() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads((SCHEMA_DIR / "dispatch.schema.json").read_text())
    for example in sorted(EXAMPLES.glob("*.json")):
        jsonschema.validate(json.loads(example.read_text()), schema)


def test_schema_rejects_what_the_parser_rejects() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads((SCHEMA_DIR / "dispatch.schema.json").read_text())
    bad = {
        "assistant": {
            "stt_config": {"provider": "deepgram"},
            "llm_config": {"model": "m"},
            "tts_config": {"provider": "polly"},
        }
    }
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema)
