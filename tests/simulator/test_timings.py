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


def test_with_the_default_plan_the_vad_lag_hides_behind_the_llm() -> None:
    # 0.2 s silence, 0.2 s terminal wait: committed at 322 ms (silero 122 ms late), but the
    # LLM asked at the final (160 ms) has its first token only at 150 + 250 = 400 ms
    plan = DEFAULTS | {"min_silence_ms": 200.0, "min_endpointing_ms": 200.0}
    turn = _turn(
        538.0,
        stt_final_ms=160.0,
        vad_end_of_speech_ms=322.0,
        turn_committed_ms=323.0,
        llm_request_ms=162.0,
    )
    split = split_latency(turn, **plan)
    assert split is not None
    assert split.configured_ms == pytest.approx(520.0)  # max(200, 400) + 120
    assert split.vad_detection_ms == pytest.approx(122.0)  # reported, not on the path
    # the final came at 160 ms (frame boundaries): the token at 410, audio at 530
    assert split.worker_overhead_ms == pytest.approx(8.0)
    # a VAD later than the token puts its lag back on the critical path
    late = _turn(600.0, vad_end_of_speech_ms=450.0, turn_committed_ms=451.0, llm_request_ms=160.0)
    later = split_latency(late, **plan)
    assert later is not None
    assert later.worker_overhead_ms == pytest.approx(600.0 - 450.0 - 120.0)
