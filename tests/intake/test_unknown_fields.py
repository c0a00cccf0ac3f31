"""Unknown fields in a live call are a warning, not a dead call (issue 12, point 2).

During a rolling upgrade the backend can be a version ahead of the worker pool: the live path
drops fields it does not know, warns and lists them; `check` stays strict (exit 1) so the
backend's CI catches a typo; `VOICE_AGENT_UNKNOWN_FIELDS=refuse` restores refusing. Invalid
values of known fields stay `config_error` in every mode. The simulated-call side (the
warnings in the report) is in tests/simulator/test_dropin_calls.py.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from agent.errors import ConfigError
from agent.intake.dispatch import ParseOptions, parse_dispatch
from agent.intake.options import parse_options
from agent.intake.saved import StaticAssistants
from agent.worker.settings import WorkerSettings
from tests.support.paths import REPO

NEWER_BACKEND: dict[str, Any] = {
    "assistant": {
        "stt_config": {"provider": "deepgram"},
        "llm_config": {"model": "gpt-4.1-mini"},
        "tts_config": {"provider": "openai", "bar": 1},
        "foo": {"webhook_secrte": "hunter2"},
    }
}
EXPECTED = ["unknown field assistant.foo ignored", "unknown field assistant.tts_config.bar ignored"]


async def test_the_live_path_drops_unknown_fields_with_a_warning() -> None:
    options = parse_options(WorkerSettings())  # the operator default: warn
    assert options.unknown_fields == "warn"
    spec = await parse_dispatch(NEWER_BACKEND, room_name="r", options=options)
    assert sorted(spec.warnings) == EXPECTED
    assert not any("hunter2" in w for w in spec.warnings)  # paths only, never values


async def test_flat_documents_warn_with_the_path_that_was_sent() -> None:
    doc = {"system_prompt": "x", "voice": "shubh", "voice_style": "warm"}
    spec = await parse_dispatch(doc, room_name="r", options=ParseOptions(unknown_fields="warn"))
    assert spec.warnings == ("unknown field voice_style ignored",)


async def test_unknown_fields_inside_lists_and_saved_assistants_are_dropped() -> None:
    doc = {
        "assistant": NEWER_BACKEND["assistant"]
        | {"tools": [{"type": "end_call", "priority": "high"}]}
    }
    spec = await parse_dispatch(doc, room_name="r", options=ParseOptions(unknown_fields="warn"))
    assert "unknown field assistant.tools.0.priority ignored" in spec.warnings

    saved = StaticAssistants({"a1": {"name": "Saved", "legacy_knob": 2}})
    hybrid = {"assistant_id": "a1", "assistant_override": {"new_knob": 1}}
    options = ParseOptions(saved=saved, unknown_fields="warn")
    spec = await parse_dispatch(hybrid, room_name="r", options=options)
    assert sorted(spec.warnings) == [
        "unknown field assistant.legacy_knob ignored",
        "unknown field assistant.new_knob ignored",
    ]


async def test_the_operator_can_restore_refusing() -> None:
    options = parse_options(WorkerSettings(unknown_fields="refuse"))
    with pytest.raises(ConfigError) as info:
        await parse_dispatch(NEWER_BACKEND, room_name="r", options=options)
    assert {p.path: p.message for p in info.value.problems} == {
        "assistant.foo": "unknown field",
        "assistant.tts_config.bar": "unknown field",
    }


async def test_invalid_values_of_known_fields_stay_config_errors() -> None:
    doc = json.loads(json.dumps(NEWER_BACKEND))
    doc["assistant"]["max_duration_seconds"] = 5
    with pytest.raises(ConfigError) as info:
        await parse_dispatch(doc, room_name="r", options=ParseOptions(unknown_fields="warn"))
    assert [p.path for p in info.value.problems] == ["assistant.max_duration_seconds"]


def test_check_stays_strict() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "agent", "check", "-"],
        cwd=REPO, input=json.dumps(NEWER_BACKEND), capture_output=True, text=True,
        timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 1
    assert "assistant.foo: unknown field" in result.stderr
    assert "assistant.tts_config.bar: unknown field" in result.stderr
