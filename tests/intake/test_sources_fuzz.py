"""Property of the assistant-request answer: whatever the backend's body (any JSON, any bytes,
any depth), reading it ends in a ConfigError naming the source or a document, and that
document in turn parses or is a ConfigError: never anything else."""

from __future__ import annotations

import asyncio
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.errors import ConfigError
from agent.intake.dispatch import parse_dispatch
from agent.intake.sources import answer_document
from tests.support.hostile_json import as_text, deep_texts, hostile_raw, json_values, texts

CALL = {"id": "sip-room-1", "type": "inbound_phone_call"}
ASSISTANT = {
    "stt_config": {"provider": "deepgram"},
    "llm_config": {"model": "gpt-4.1-mini"},
    "tts_config": {"provider": "elevenlabs", "voice_id": "v1"},
}
answers = st.one_of(
    st.fixed_dictionaries(
        {"assistant": st.dictionaries(texts, json_values, max_size=3).map(ASSISTANT.__or__)}
    ).map(as_text),
    st.fixed_dictionaries({"error": json_values}).map(as_text),
    st.dictionaries(
        st.sampled_from(["assistant_id", "system_prompt", "call", "assistant"]),
        json_values,
        max_size=3,
    ).map(as_text),
    deep_texts.map(lambda t: '{"assistant": {"metadata": ' + t + "}}"),
    hostile_raw,
)
_LOOP = asyncio.new_event_loop()


def fail(why: str) -> ConfigError:
    return ConfigError(f"assistant-request to 127.0.0.1 {why}", path="assistant-request")


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(answers)
def test_an_answer_is_a_config_error_or_a_document_that_parses_or_fails_cleanly(
    body: str | bytes,
) -> None:
    raw = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else body
    try:
        document: dict[str, Any] = answer_document(raw, CALL, fail)
    except ConfigError as exc:
        assert exc.fields == ["assistant-request"]  # noqa: PT017 - it names the source
        return
    try:
        _LOOP.run_until_complete(
            parse_dispatch(document, room_name="sip-room-1", origin="assistant-request")
        )
    except ConfigError as exc:
        assert exc.problems  # noqa: PT017 - any ConfigError passes, but it must say something
