"""Splitting a turn's latency into configured waits, VAD lag and worker overhead."""

from __future__ import annotations

import pytest

from agent.simulator import TurnTiming, TurnWaterfall, split_latency

DEFAULTS = {
    "stt_final_ms": 150.0,
    "llm_ttft_ms": 250.0,
    "tts_ttfb_ms": 120.0,
    "min_silence_ms": 550.0,
    "min_endpointing_ms": 500.0,
}


def _turn(latency: float | None, **waterfall: float) -> TurnTiming:
    return TurnTiming(
        caller_text="hi",
        barge_in=False,
        caller_started_at_ms=0.0,
        caller_ended_at_ms=1000.0,
        latency_ms=latency,
        waterfall=TurnWaterfall(**waterfall),
    )


def test_preemptive_turn_waits_only_for_vad_silence_and_tts() -> None:
    turn = _turn(747.0, vad_end_of_speech_ms=622.0, turn_committed_ms=624.0, llm_request_ms=161.0)
    split = split_latency(turn, **DEFAULTS)
    assert split is not None
    assert split.configured_ms == pytest.approx(670.0)  # 550 silence + 120 TTS
    assert split.vad_detection_ms == pytest.approx(72.0)
    assert split.worker_overhead_ms == pytest.approx(5.0)


def test_turn_asked_at_commit_waits_for_the_whole_first_token() -> None:
    turn = _turn(1039.0, vad_end_of_speech_ms=661.0, turn_committed_ms=664.0, llm_request_ms=663.0)
    split = split_latency(turn, **DEFAULTS)
    assert split is not None
    assert split.configured_ms == pytest.approx(920.0)  # 550 + 250 + 120
    assert split.worker_overhead_ms == pytest.approx(1039.0 - 920.0 - 111.0)


def test_unanswered_turn_has_no_split() -> None:
    assert split_latency(_turn(None), **DEFAULTS) is None
