"""The turn plan (`assistant.turn_config`): defaults, old documents, per-provider modes, the
model mode's silence, and the warning for transcript endpointing on an STT without punctuation."""

from __future__ import annotations

from typing import Any

import pytest

from agent.contracts.assistant import AssistantConfig
from agent.contracts.turn_plan import (
    MODEL_MIN_SILENCE_SECONDS,
    EndpointingMode,
    TranscriptEndpointing,
    TurnConfig,
)
from agent.errors import ConfigError
from agent.intake.dispatch import CallSpec, parse_dispatch


def assistant(stt: dict[str, Any] | None = None, **fields: Any) -> dict[str, Any]:
    return {
        "stt_config": stt or {"provider": "deepgram"},
        "llm_config": {"model": "gpt-4.1-mini"},
        "tts_config": {"provider": "openai"},
    } | fields


async def parse(stt: dict[str, Any] | None = None, **fields: Any) -> CallSpec:
    return await parse_dispatch({"assistant": assistant(stt, **fields)}, room_name="r")


def test_defaults_answer_fast_and_interrupt_on_words() -> None:
    turn = TurnConfig()
    assert turn.endpointing_mode is None  # per STT: transcript where it punctuates
    assert turn.min_silence_seconds == 0.2
    assert turn.transcript_endpointing == TranscriptEndpointing(
        terminal_seconds=0.2, number_seconds=1.2, mid_phrase_seconds=1.5, continuation_words=[]
    )
    assert (turn.min_interruption_words, turn.min_interruption_seconds) == (1, 0.2)
    assert turn.backchannel_phrases == []
    assert turn.false_interruption_timeout == 1.0


async def test_a_document_with_only_the_earlier_keys_keeps_working() -> None:
    earlier = {
        "min_silence_seconds": 0.55,
        "min_endpointing_delay": 0.5,
        "max_endpointing_delay": 3.0,
        "allow_interruptions": True,
        "min_interruption_seconds": 0.5,
    }
    spec = await parse(turn_config=earlier)
    turn = spec.assistant.turn_config
    assert turn.model_dump(include=set(earlier)) == earlier
    assert spec.assistant.endpointing_mode is EndpointingMode.TRANSCRIPT


@pytest.mark.parametrize(
    ("stt", "mode"),
    [
        ({"provider": "deepgram"}, EndpointingMode.TRANSCRIPT),
        ({"provider": "deepgram", "punctuate": False}, EndpointingMode.VAD),
        ({"provider": "openai"}, EndpointingMode.TRANSCRIPT),
        ({"provider": "sarvam"}, EndpointingMode.VAD),
    ],
)
def test_an_unset_mode_follows_whether_the_stt_punctuates(
    stt: dict[str, Any], mode: EndpointingMode
) -> None:
    config = AssistantConfig.model_validate(assistant(stt))
    assert config.endpointing_mode is mode


def test_a_set_mode_wins() -> None:
    config = AssistantConfig.model_validate(
        assistant({"provider": "sarvam"}, turn_config={"endpointing_mode": "stt"})
    )
    assert config.endpointing_mode is EndpointingMode.STT


async def test_transcript_on_an_stt_without_punctuation_is_a_warning_not_a_refusal() -> None:
    spec = await parse({"provider": "sarvam"}, turn_config={"endpointing_mode": "transcript"})
    assert spec.assistant.endpointing_mode is EndpointingMode.TRANSCRIPT
    assert any("not known to punctuate" in w for w in spec.warnings)
    quiet = await parse({"provider": "sarvam"})  # unset: vad, nothing to warn about
    assert not any("punctuate" in w for w in quiet.warnings)


def test_model_mode_defaults_its_silence_up_and_refuses_a_shorter_one() -> None:
    assert TurnConfig.model_validate({"endpointing_mode": "model"}).min_silence_seconds == (
        MODEL_MIN_SILENCE_SECONDS
    )
    kept = TurnConfig.model_validate({"endpointing_mode": "model", "min_silence_seconds": 0.4})
    assert kept.min_silence_seconds == 0.4


async def test_model_mode_with_a_short_silence_is_a_config_error_naming_the_field() -> None:
    with pytest.raises(ConfigError) as info:
        await parse(turn_config={"endpointing_mode": "model", "min_silence_seconds": 0.2})
    [problem] = info.value.problems
    assert problem.path.startswith("assistant.turn_config")
    assert "min_silence_seconds >= 0.25" in problem.message


async def test_unknown_turn_keys_and_bad_values_are_refused_at_their_path() -> None:
    with pytest.raises(ConfigError) as info:
        await parse(turn_config={"endpointing_mode": "psychic", "min_interruption_words": -1})
    paths = {p.path for p in info.value.problems}
    assert {
        "assistant.turn_config.endpointing_mode",
        "assistant.turn_config.min_interruption_words",
    } <= paths
