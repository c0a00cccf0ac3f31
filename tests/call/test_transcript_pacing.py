"""The speaking-rate replacement returns the framework's own values, and is applied only to the
code it was proven against (agent/call/transcript_pacing.py)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from livekit import rtc
from livekit.agents.voice.transcription._speaking_rate import (
    SpeakingRateDetector,
    SpeakingRateStream,
)

from agent.call import transcript_pacing

RATES = (8000, 16000, 22050, 24000, 44100, 48000)
"""The rates agent audio reaches the synchronizer at (TTS outputs, resampled or not)."""


def original(audio: np.ndarray[Any, Any], sample_rate: int) -> float:
    """The framework's method itself, on a bare stream object (it needs no event loop)."""
    stream = object.__new__(SpeakingRateStream)
    return transcript_pacing.framework_spectral_flux()(stream, audio, sample_rate)


@settings(max_examples=150, deadline=None)
@given(
    sample_rate=st.sampled_from(RATES),
    audio=hnp.arrays(
        np.float32,
        st.integers(0, 48000),
        elements=st.floats(-1.0, 1.0, width=32, allow_nan=False),
    ),
)
def test_equal_to_the_framework_on_random_audio(
    sample_rate: int, audio: np.ndarray[Any, Any]
) -> None:
    try:
        expected = original(audio, sample_rate)
    except ValueError:  # shorter than one frame: both refuse it alike
        with pytest.raises(ValueError, match="negative dimensions"):
            transcript_pacing.spectral_flux(audio, sample_rate)
        return
    assert transcript_pacing.spectral_flux(audio, sample_rate) == expected  # bit for bit


@pytest.mark.parametrize("sample_rate", RATES)
@pytest.mark.parametrize("kind", ["noise", "pcm16", "speech-like"])
def test_equal_on_whole_windows_of_each_kind(sample_rate: int, kind: str) -> None:
    """The stream's own sizes (a 1 s window, the flush's shorter ones), as int16 audio scaled to
    float32 the way the stream scales it, noise, and tone bursts with pauses."""
    rng = np.random.default_rng(sample_rate)
    for n in (sample_rate, sample_rate // 2 + 7, sample_rate * 3 // 4):
        if kind == "noise":
            audio = rng.standard_normal(n) * 0.1
        elif kind == "pcm16":
            audio = rng.integers(-32768, 32767, n) / np.iinfo(np.int16).max
        else:
            t = np.arange(n) / sample_rate
            bursts = (np.sin(2 * np.pi * 3.8 * t) > 0).astype(np.float64)
            audio = bursts * (
                0.3 * np.sin(2 * np.pi * 180 * t) + 0.1 * np.sin(2 * np.pi * 2300 * t)
            )
            audio += rng.standard_normal(n) * 0.01
        audio = audio.astype(np.float32)
        assert transcript_pacing.spectral_flux(audio, sample_rate) == original(audio, sample_rate)


async def _rates(audio: np.ndarray[Any, Any], sample_rate: int) -> list[tuple[float, float]]:
    """Every (start time, speaking rate) a whole SpeakingRateStream emits for this audio."""
    step = sample_rate // 100  # 10 ms frames, as TTS audio reaches the synchronizer
    stream = SpeakingRateDetector().stream()
    pcm = (audio * 32767).astype(np.int16)
    for i in range(0, len(pcm) - step + 1, step):
        stream.push_frame(rtc.AudioFrame(pcm[i : i + step].tobytes(), sample_rate, 1, step))
    stream.end_input()
    return [(event.timestamp, event.speaking_rate) async for event in stream]


async def test_the_stream_emits_the_same_rates_patched_and_not(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What the synchronizer paces `lk.transcription` by: the same events, value for value."""
    rng = np.random.default_rng(15)
    sample_rate = 24000
    t = np.arange(sample_rate * 4) / sample_rate
    audio = ((np.sin(2 * np.pi * 4.2 * t) > -0.2) * np.sin(2 * np.pi * 210 * t) * 0.4).astype(
        np.float32
    ) + (rng.standard_normal(len(t)) * 0.02).astype(np.float32)
    monkeypatch.setattr(
        SpeakingRateStream, "_spectral_flux", transcript_pacing.framework_spectral_flux()
    )
    assert not transcript_pacing.installed()
    before = await _rates(audio, sample_rate)
    assert transcript_pacing.install()
    after = await _rates(audio, sample_rate)
    assert len(before) > 20
    assert any(rate > 0 for _, rate in before)
    assert after == before


def test_applied_on_the_locked_framework() -> None:
    """An upgrade of livekit-agents fails here, so the speed-up is never lost silently."""
    assert transcript_pacing.not_applied_reason() is None
    assert transcript_pacing.install()
    assert transcript_pacing.installed()
    assert transcript_pacing.install()  # idempotent


def test_refused_on_code_it_was_not_proven_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        SpeakingRateStream, "_spectral_flux", transcript_pacing.framework_spectral_flux()
    )
    monkeypatch.setattr(transcript_pacing, "ORIGINAL_SHA256", "0" * 64)
    assert transcript_pacing.not_applied_reason() == (
        "SpeakingRateStream._spectral_flux/_stft differ from the code it was proven on"
    )
    assert transcript_pacing.install() is False
    assert not transcript_pacing.installed()


def test_refused_on_another_framework_version(monkeypatch: pytest.MonkeyPatch) -> None:
    from livekit.agents import version

    monkeypatch.setattr(
        SpeakingRateStream, "_spectral_flux", transcript_pacing.framework_spectral_flux()
    )
    monkeypatch.setattr(version, "__version__", "1.9.0")
    assert transcript_pacing.not_applied_reason() == "livekit-agents 1.9.0 is not 1.8.9"
    assert transcript_pacing.install() is False
    assert not transcript_pacing.installed()
