"""A TTS that makes audio as long as the words take to say, after a vendor-like delay.

The agent's audio is never listened to, so its content is a quiet 200 Hz hum (-30 dBFS);
what matters is its *length*, which drives playout, interruption and the transcript sync:
``len(text) / 15`` seconds, the speaking rate of :mod:`agent.simulator.speech` (about 170
words a minute). "Hello there!" (12 characters) is 0.8 s of audio.

Timing: the first audio of a synthesis comes ``tts_ttfb_ms`` after its first text arrives.
Later text is "synthesized" at once (vendors run faster than real time), so audio reaches
the session as fast as the LLM writes; the audio output paces it to real time.

Both interfaces are offered, as vendors do: ``stream()`` (text in as the LLM writes it,
the path the session uses when ``streaming=True``) and ``synthesize()`` (whole text, used
through the framework's sentence adapter when ``streaming=False``).

Failure (``tts_fail_after: N`` in :class:`~.failures.OfflineProviders`): once N syntheses have
succeeded, every attempt raises the framework's ``APIConnectionError`` before any audio (the
vendor is unreachable), so the framework retries and then gives up; see :mod:`.failures`.
"""

from __future__ import annotations

import asyncio
import functools
import math
from array import array
from dataclasses import dataclass

from livekit.agents import APIConnectionError, tts, utils
from livekit.agents.types import DEFAULT_API_CONNECT_OPTIONS, APIConnectOptions

from agent.clock import TimeBase

from ..speech import CHARS_PER_SECOND
from ..speed import call_time_base
from .failures import OfflineProviders
from .latencies import OfflineLatencies

_TONE_HZ = 200
_TONE_AMPLITUDE = 1_000  # of 32_767: about -30 dBFS
_FRAME_MS = 20


@dataclass
class SynthesisRecord:
    """One synthesis, for timing reports (the call's monotonic seconds)."""

    text: str = ""
    first_text_at: float | None = None
    first_audio_at: float | None = None
    audio_seconds: float = 0.0


@functools.cache
def _one_second_of_hum(sample_rate: int) -> bytes:
    # one second holds a whole number of 200 Hz periods, so it loops seamlessly
    return array(
        "h",
        (
            int(_TONE_AMPLITUDE * math.sin(2 * math.pi * _TONE_HZ * n / sample_rate))
            for n in range(sample_rate)
        ),
    ).tobytes()


class _Hum:
    """Endless quiet tone, handed out in pieces that join without a click."""

    def __init__(self, sample_rate: int) -> None:
        self._second = _one_second_of_hum(sample_rate)
        self._at = 0

    def take(self, samples: int) -> bytes:
        out = bytearray()
        wanted = samples * 2
        while len(out) < wanted:
            piece = self._second[self._at : self._at + wanted - len(out)]
            out += piece
            self._at = (self._at + len(piece)) % len(self._second)
        return bytes(out)


class OfflineTTS(tts.TTS[None]):
    """TTS stand-in; see the module docstring for audio length and timing."""

    def __init__(
        self,
        *,
        latencies: OfflineLatencies | None = None,
        sample_rate: int = 24_000,
        streaming: bool = True,
        time_base: TimeBase | None = None,
    ) -> None:
        super().__init__(
            capabilities=tts.TTSCapabilities(streaming=streaming),
            sample_rate=sample_rate,
            num_channels=1,
        )
        self._time = time_base or call_time_base()
        self._latencies = latencies or OfflineLatencies()
        self._first_audio_delay = self._latencies.tts_ttfb_ms / 1000
        self.syntheses: list[SynthesisRecord] = []
        """Every synthesis (stream or chunked), in the order started."""
        self.requests = 0
        """Streams and syntheses asked for, text or not: what a vendor would be sent (a
        connection each), so a call that must cost no TTS can be checked to have made none."""

    @property
    def model(self) -> str:
        return "hum"

    @property
    def provider(self) -> str:
        return "simulator"

    def samples_for(self, characters: int) -> int:
        """Samples of speech for ``characters`` of text at the speaking rate."""
        return round(characters / CHARS_PER_SECOND * self.sample_rate)

    def check_reachable(self) -> None:
        """Raise as an unreachable vendor does once ``tts_fail_after`` syntheses succeeded."""
        providers = self._latencies
        if not isinstance(providers, OfflineProviders) or providers.tts_fail_after is None:
            return
        if len(self.syntheses) >= providers.tts_fail_after:
            raise APIConnectionError("offline TTS unreachable (injected)")

    def _conn_options(self, given: APIConnectOptions) -> APIConnectOptions:
        providers = self._latencies
        if isinstance(providers, OfflineProviders):
            return providers.conn_options(given)
        return given

    def synthesize(
        self, text: str, *, conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS
    ) -> OfflineChunkedStream:
        self.requests += 1
        return OfflineChunkedStream(
            tts=self, input_text=text, conn_options=self._conn_options(conn_options)
        )

    def stream(
        self, *, conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS
    ) -> OfflineSynthesizeStream:
        self.requests += 1
        return OfflineSynthesizeStream(tts=self, conn_options=self._conn_options(conn_options))


class OfflineChunkedStream(tts.ChunkedStream):
    def __init__(self, *, tts: OfflineTTS, input_text: str, conn_options: APIConnectOptions):
        super().__init__(tts=tts, input_text=input_text, conn_options=conn_options)
        self._offline = tts

    async def _run(self, output_emitter: tts.AudioEmitter) -> None:
        offline = self._offline
        offline.check_reachable()
        record = SynthesisRecord(text=self._input_text, first_text_at=offline._time.monotonic())
        offline.syntheses.append(record)
        output_emitter.initialize(
            request_id=utils.shortuuid("offline_"),
            sample_rate=offline.sample_rate,
            num_channels=1,
            mime_type="audio/pcm",
            frame_size_ms=_FRAME_MS,
        )
        await asyncio.sleep(offline._first_audio_delay)
        samples = offline.samples_for(len(self._input_text))
        record.first_audio_at = offline._time.monotonic()
        record.audio_seconds = samples / offline.sample_rate
        output_emitter.push(_Hum(offline.sample_rate).take(samples))


class OfflineSynthesizeStream(tts.SynthesizeStream):
    def __init__(self, *, tts: OfflineTTS, conn_options: APIConnectOptions):
        super().__init__(tts=tts, conn_options=conn_options)
        self._offline = tts

    async def _run(self, output_emitter: tts.AudioEmitter) -> None:
        offline = self._offline
        hum = _Hum(offline.sample_rate)
        output_emitter.initialize(
            request_id=utils.shortuuid("offline_"),
            sample_rate=offline.sample_rate,
            num_channels=1,
            mime_type="audio/pcm",
            frame_size_ms=_FRAME_MS,
            stream=True,
        )
        record: SynthesisRecord | None = None
        samples_sent = 0
        async for item in self._input_ch:
            if isinstance(item, self._FlushSentinel):
                if record is not None:
                    output_emitter.end_segment()
                    record = None
                continue

            if record is None:
                offline.check_reachable()
                record = SynthesisRecord(first_text_at=offline._time.monotonic())
                offline.syntheses.append(record)
                samples_sent = 0
                output_emitter.start_segment(segment_id=utils.shortuuid("segment_"))
                self._mark_started()
                await asyncio.sleep(offline._first_audio_delay)
                record.first_audio_at = offline._time.monotonic()

            # audio for all text so far, minus what was sent: rounding never accumulates
            record.text += item
            samples = offline.samples_for(len(record.text)) - samples_sent
            samples_sent += samples
            record.audio_seconds = samples_sent / offline.sample_rate
            if samples > 0:
                output_emitter.push(hum.take(samples))

        if record is not None:
            output_emitter.end_segment()
