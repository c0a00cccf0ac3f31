"""Property: whatever JSON arrives, parsing raises nothing but ConfigError."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.errors import ConfigError
from agent.intake.dispatch import parse_dispatch

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=5)
    ),
    max_leaves=30,
)
KEYS = [
    "call",
    "assistant",
    "assistant_id",
    "assistant_override",
    "system_prompt",
    "llm_model",
    "voice",
    "tts_provider",
    "stt_config",
    "llm_config",
    "tts_config",
    "tools",
    "destination",
    "number_id",
    "agent",
    "metadata",
    "webhook_url",
    "provider",
    "type",
    "bot_id",
]
shaped = st.dictionaries(st.sampled_from(KEYS), json_values, max_size=6).map(
    lambda d: {**d, "assistant": d} if d.get("assistant") == {} else d
)


# A private loop: asyncio.run() would clear the thread's current event loop, which later sync
# tests that build framework objects rely on.
_LOOP = asyncio.new_event_loop()


def _parse(raw: str | bytes) -> None:
    _LOOP.run_until_complete(parse_dispatch(raw, room_name="r"))


def _run(doc: Any) -> None:
    try:
        _parse(json.dumps(doc))
    except ConfigError as exc:
        assert exc.problems  # noqa: PT017 - any ConfigError passes, but it must say something


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(json_values)
def test_arbitrary_json_only_raises_config_error(doc: Any) -> None:
    _run(doc)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(shaped)
def test_document_shaped_json_only_raises_config_error(doc: dict[str, Any]) -> None:
    _run(doc)


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=200))
def test_arbitrary_bytes_only_raise_config_error(raw: bytes) -> None:
    with contextlib.suppress(ConfigError):
        _parse(raw)
