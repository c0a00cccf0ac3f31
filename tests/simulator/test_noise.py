"""The simulator's noise is sound the production VAD takes for speech, with no words in it."""

from __future__ import annotations

import numpy as np
import pytest
from livekit import rtc
from livekit.agents import vad

from agent.call.providers import vad_for_call
from agent.contracts.turn_plan import TurnConfig
from agent.simulator.noise import laughter
from agent.simulator.speech import CALLER_SAMPLE_RATE
from agent.simulator.transport import CallerAudioInput

FRAME = CALLER_SAMPLE_RATE // 50  # 20 ms


async def speech_events(pcm: bytes, silence: float) -> list[tuple[vad.VADEventType, float]]:
    """The silero events (the production VAD, as vad_for_call builds it) for ``pcm`` with 0.5 s of
    silence before and 1 s after: (type, speech duration so far)."""
    stream = vad_for_call(TurnConfig(min_silence_seconds=silence)).stream()
    lead, tail = b"\0\0" * (CALLER_SAMPLE_RATE // 2), b"\0\0" * CALLER_SAMPLE_RATE
    audio = np.frombuffer(lead + pcm + tail, dtype="<i2")
    for at in range(0, len(audio) - FRAME + 1, FRAME):
        chunk = audio[at : at + FRAME].tobytes()
        stream.push_frame(rtc.AudioFrame(chunk, CALLER_SAMPLE_RATE, 1, FRAME))
    stream.end_input()
    events: list[tuple[vad.VADEventType, float]] = []
    async for ev in stream:
        if ev.type is not vad.VADEventType.INFERENCE_DONE:
            events.append((ev.type, round(ev.speech_duration, 2)))
    await stream.aclose()
    return events


@pytest.mark.parametrize("seconds", [0.4, 0.6, 1.0])
async def test_silero_takes_the_laughter_for_speech_for_as_long_as_it_lasts(
    seconds: float,
) -> None:
    events = await speech_events(laughter(seconds), silence=0.2)
    kinds = [kind for kind, _ in events]
    assert kinds == [vad.VADEventType.START_OF_SPEECH, vad.VADEventType.END_OF_SPEECH]
    # speech for the whole burst but the quiet tail of its last "ha" (30 % of 0.25 s), so a
    # min_interruption_seconds up to its length is passed
    assert events[1][1] >= seconds - 0.1


def test_the_laughter_is_loud_deterministic_and_sized() -> None:
    pcm = laughter(0.6)
    assert pcm == laughter(0.6)
    samples = np.frombuffer(pcm, dtype="<i2")
    assert len(samples) == int(0.6 * CALLER_SAMPLE_RATE)
    assert np.abs(samples).max() > 0.6 * 32767


async def test_noise_frames_carry_no_words_for_the_stt() -> None:
    mic = CallerAudioInput()
    done = mic.noise(0.1)
    frames = [await mic.__anext__() for _ in range(6)]
    assert done.done()
    assert all(not f.userdata for f in frames)
    assert any(np.frombuffer(bytes(f.data), dtype="<i2").any() for f in frames)
    mic.hang_up()
