"""The turn plan as livekit-agents turn handling, per endpointing mode, and the STT options it
implies (Deepgram: punctuation and digits for `transcript`, a longer endpointing for `stt`, Flux
for `flux-*` models)."""

from __future__ import annotations

from typing import Any

import pytest
from livekit.plugins import deepgram

from agent.call.endpointing import TranscriptEndpointing
from agent.call.providers import build_stt
from agent.call.turn_handling import turn_taking
from agent.call.turn_model import RecordedTurnDetector, check_turn_model
from agent.contracts.assistant import AssistantConfig
from agent.errors import ConfigError
from agent.report.record import TurnEnd
from agent.worker.settings import WorkerSettings


def config(turn: dict[str, Any] | None = None, **stt: Any) -> AssistantConfig:
    return AssistantConfig.model_validate(
        {
            "stt_config": {"provider": "deepgram"} | stt,
            "llm_config": {"model": "gpt-4.1-mini"},
            "tts_config": {"provider": "openai"},
            "turn_config": turn or {},
        }
    )


def test_default_plan_is_transcript_endpointing_and_word_interruptions() -> None:
    taking = turn_taking(config())
    options = taking.options
    assert isinstance(taking.detector, TranscriptEndpointing)
    assert options["turn_detection"] is taking.detector
    # min_delay is the terminal wait; the detector raises max_delay per rule
    assert options["endpointing"] == {"mode": "fixed", "min_delay": 0.2, "max_delay": 1.5}
    assert options["interruption"] == {
        "enabled": True,
        "mode": "vad",
        "min_duration": 0.2,
        "min_words": 1,
        "resume_false_interruption": True,
        "false_interruption_timeout": 1.0,
        "discard_audio_if_uninterruptible": True,
    }
    assert taking.default_turn_end is None  # each turn has its own decision


def test_vad_mode_is_the_earlier_fixed_wait() -> None:
    taking = turn_taking(config({"endpointing_mode": "vad", "min_endpointing_delay": 0.4}))
    assert taking.options["turn_detection"] == "vad"
    assert taking.options["endpointing"] == {"mode": "fixed", "min_delay": 0.4, "max_delay": 3.0}
    assert taking.default_turn_end == TurnEnd("", "vad", 0.4)


def test_stt_mode_adds_no_wait_of_its_own() -> None:
    taking = turn_taking(config({"endpointing_mode": "stt"}))
    assert taking.options["turn_detection"] == "stt"
    assert taking.options["endpointing"]["min_delay"] == 0.0
    assert taking.default_turn_end == TurnEnd("", "stt", None)


def test_model_mode_uses_the_local_model() -> None:
    taking = turn_taking(config({"endpointing_mode": "model"}))
    detector = taking.detector
    assert isinstance(detector, RecordedTurnDetector)
    assert detector.model == "turn-detector-v1-mini"  # never the cloud v1
    assert (detector.min_delay, detector.max_delay) == (0.5, 3.0)


def test_no_resume_when_the_timeout_is_null() -> None:
    interruption = turn_taking(config({"false_interruption_timeout": None})).options["interruption"]
    assert interruption["resume_false_interruption"] is False


def test_model_mode_is_refused_where_the_model_is_not_loaded() -> None:
    with pytest.raises(ConfigError) as info:
        check_turn_model(config({"endpointing_mode": "model"}), loaded=False)
    [problem] = info.value.problems
    assert problem.path == "assistant.turn_config.endpointing_mode"
    assert "VOICE_AGENT_TURN_MODEL" in problem.message
    check_turn_model(config({"endpointing_mode": "model"}), loaded=True)
    check_turn_model(config(), loaded=False)  # other modes need nothing loaded


def _deepgram(assistant: AssistantConfig, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("DEEPGRAM_API_KEY", "dg-test")
    return build_stt(assistant, WorkerSettings())


def test_deepgram_punctuates_and_writes_digits_for_transcript_endpointing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    engine = _deepgram(config(), monkeypatch)
    assert isinstance(engine, deepgram.STT)
    opts = engine._opts
    assert (opts.punctuate, opts.smart_format, opts.endpointing_ms) == (True, True, 25)
    assert opts.utterance_end_ms is None


def test_deepgram_ends_the_turn_later_in_stt_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    opts = _deepgram(config({"endpointing_mode": "stt"}, utterance_end_ms=1000), monkeypatch)._opts
    assert (opts.endpointing_ms, opts.utterance_end_ms, opts.smart_format) == (500, 1000, False)
    own = _deepgram(config({"endpointing_mode": "stt"}, endpointing_ms=300), monkeypatch)._opts
    assert own.endpointing_ms == 300


def test_a_flux_model_is_deepgrams_turn_taking_stt(monkeypatch: pytest.MonkeyPatch) -> None:
    engine = _deepgram(
        config({"endpointing_mode": "stt"}, model="flux-general-en", eot_threshold=0.8),
        monkeypatch,
    )
    assert isinstance(engine, deepgram.STTv2)
    assert engine._opts.eot_threshold == 0.8
