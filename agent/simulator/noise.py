"""A burst of sound with no words in it that silero takes for speech: the caller laughing.

The `noise` caller step must test what the turn plan does with sound the VAD calls speech and
the STT hears no words in (a cough, a laugh, a voice on the television). Most such sounds do
not test it: silero was trained to reject them. Measured with the plugin's own model
(16 kHz, 32 ms windows, activation 0.5): white or brown noise never passes 0.1, a band-passed
noise "cough" 0.05, a voiced synthetic cough is above 0.5 in at most 37 % of its windows.
Laughter is what gets through: voiced "ha" syllables, four a second, each a breathy onset and
an /a/ vowel (formants 800, 1250, 2600 Hz) on a falling 230 Hz pitch. Through the production
VAD (``vad_for_call``, 0.2 s silence window) silero calls 0.4, 0.6 and 1.0 s of it speech of
0.42, 0.64 and 0.93 s (tests/simulator/test_noise.py), so it passes any
`min_interruption_seconds` up to its length, as a caller's voice would.

Generated, not recorded: deterministic (a fixed seed), no fixture file, 1-2 ms for a second of
sound. The offline STT hears nothing in it: its frames carry no
:class:`~agent.simulator.speech.HeardLine`.
"""

from __future__ import annotations

import numpy as np

from .speech import CALLER_SAMPLE_RATE

SYLLABLES_PER_SECOND = 4.0
PITCH_HZ = 230.0
FORMANTS = ((800.0, 150.0, 1.0), (1250.0, 200.0, 0.6), (2600.0, 300.0, 0.3))
"""(centre Hz, bandwidth Hz, gain) of the vowel's resonances."""
PEAK = 0.7
"""Of full scale: loud, as the recorded speech fixtures are."""
_VOICED_SHARE = 0.7  # of each syllable; the rest is silence before the next "ha"
_ONSET_SECONDS = 0.04  # the breathy "h" decays over this


def laughter(seconds: float, *, seed: int = 5) -> bytes:
    """``seconds`` of laughter as 16 kHz mono 16-bit little-endian PCM."""
    rng = np.random.default_rng(seed)
    n = max(int(seconds * CALLER_SAMPLE_RATE), 1)
    t = np.arange(n) / CALLER_SAMPLE_RATE
    place = (t * SYLLABLES_PER_SECOND) % 1.0  # 0..1 through each syllable
    syllable = (t * SYLLABLES_PER_SECOND).astype(int)
    # each syllable its own pitch (230 Hz +- 15), falling 15 % through it
    pitch = (PITCH_HZ + 15.0 * rng.standard_normal(syllable.max() + 1))[syllable]
    phase = np.cumsum(2 * np.pi * pitch * (1 - 0.15 * place) / CALLER_SAMPLE_RATE)
    buzz = ((phase / (2 * np.pi)) % 1.0) * 2 - 1  # a sawtooth: the glottis, roughly
    onset = np.exp(-place / _ONSET_SECONDS)
    source = buzz * (1 - onset) + 0.6 * rng.standard_normal(n) * (0.3 + onset)
    spectrum = np.fft.rfft(source)
    freqs = np.fft.rfftfreq(n, 1 / CALLER_SAMPLE_RATE)
    response = sum(
        gain / (1 + ((freqs - centre) / (width / 2)) ** 2) for centre, width, gain in FORMANTS
    )
    voiced = np.fft.irfft(spectrum * response, n)
    envelope = np.sin(np.pi * np.clip(place / _VOICED_SHARE, 0.0, 1.0)) ** 0.5
    envelope[place >= _VOICED_SHARE] = 0.0
    sound = voiced * envelope
    peak = float(np.abs(sound).max()) or 1.0
    return (sound / peak * PEAK * 32767).astype("<i2").tobytes()
