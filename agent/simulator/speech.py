"""Real caller speech for the simulator, and the tag that tells the offline STT what was said.

The simulated caller must sound like a person to the production silero VAD, otherwise the
turn handling under test (speech start, end of speech, interruptions) never runs. So every
caller line is real recorded speech (the WAV fixtures in ``audio/``), cut or looped to the
time the line would take to say aloud. The words of the recording do not match the line:
nothing listens to them. The offline STT reads the line's text from a tag on each frame
(:class:`HeardLine` in ``frame.userdata``), which is how a scripted caller "is understood".

Speaking rate: 15 characters per second (spaces and punctuation included), about 170 words a
minute for conversational English (4.3 letters a word plus a space is 5.3 characters:
170 * 5.3 / 60 = 15). The same rate sizes the agent's synthesized speech.
"""

from __future__ import annotations

import wave
from dataclasses import dataclass
from importlib import resources

CALLER_SAMPLE_RATE = 16_000
"""Caller audio is 16 kHz mono 16-bit: the rate silero runs at, so nothing resamples."""

CHARS_PER_SECOND = 15.0
"""Speaking rate of caller and agent alike (about 170 words a minute)."""

MIN_LINE_SECONDS = 0.4
"""Even "yes" takes this long; below it silero may not count the line as speech."""

HEARD_LINE_KEY = "voice_agent.simulator.heard_line"
"""``rtc.AudioFrame.userdata`` key under which the caller audio carries a :class:`HeardLine`."""

_FIXTURES = ("book_table.wav", "opening_hours.wav", "four_people.wav")
_FADE_SAMPLES = 160  # 10 ms fade-out so a cut recording ends without a click


@dataclass(frozen=True)
class CallerLine:
    """One thing the caller says: its text and how long saying it takes."""

    line_id: int
    text: str
    seconds: float


@dataclass(frozen=True)
class HeardLine:
    """What one caller frame carries: the line, and where in it the frame starts.

    ``last`` marks the frame holding the end of the line; a line cut short (hangup) never
    gets one, and the STT treats the first untagged frame as its end instead.
    """

    line: CallerLine
    offset: float
    last: bool


def seconds_to_say(text: str) -> float:
    """Time to say ``text`` aloud at :data:`CHARS_PER_SECOND` (never under the minimum)."""
    return max(MIN_LINE_SECONDS, len(text.strip()) / CHARS_PER_SECOND)


def _read_fixture(name: str) -> bytes:
    with (
        resources.files("agent.simulator").joinpath("audio", name).open("rb") as raw,
        wave.open(raw, "rb") as wav,
    ):
        if (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) != (
            CALLER_SAMPLE_RATE,
            1,
            2,
        ):
            raise ValueError(f"speech fixture {name} is not 16 kHz mono 16-bit")
        return wav.readframes(wav.getnframes())


class CallerSpeech:
    """Recorded speech cut or looped to the length of a line.

    Recordings are used in turn (line 0 gets the first, line 1 the second, ...), so two
    consecutive lines do not sound identical. The fixtures are read once per instance.
    """

    def __init__(self) -> None:
        self._recordings = [_read_fixture(name) for name in _FIXTURES]

    def pcm_for(self, line: CallerLine) -> bytes:
        """16-bit little-endian PCM of ``line.seconds`` of speech, faded out at the end."""
        recording = self._recordings[line.line_id % len(self._recordings)]
        wanted = int(line.seconds * CALLER_SAMPLE_RATE) * 2
        # loop the recording until it is long enough, then cut: 4.0 s from a 2.6 s clip
        # is the clip once plus its first 1.4 s
        looped = recording * (wanted // len(recording) + 1)
        pcm = bytearray(looped[:wanted])
        fade = min(_FADE_SAMPLES, len(pcm) // 2)
        for i in range(fade):
            at = len(pcm) - (fade - i) * 2
            sample = int.from_bytes(pcm[at : at + 2], "little", signed=True)
            scaled = sample * (fade - i - 1) // fade
            pcm[at : at + 2] = scaled.to_bytes(2, "little", signed=True)
        return bytes(pcm)
