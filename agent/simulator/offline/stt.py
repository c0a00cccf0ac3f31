"""A streaming STT that is told what the caller says instead of listening.

The simulated caller's audio is real speech, but of other words; each frame carries a
:class:`~agent.simulator.speech.HeardLine` tag naming the scripted line and where in it the
frame sits. This STT turns those tags into the events a streaming vendor (Deepgram) sends,
timed by *audio* time, i.e. by the frames it has been fed:

- START_OF_SPEECH on the first tagged frame of a line;
- INTERIM_TRANSCRIPT every ``interim_interval`` seconds of the line's audio, with the words
  covering the share of the line heard so far (a line of 3 s, 1.5 s in: the first half);
- FINAL_TRANSCRIPT then END_OF_SPEECH once ``stt_final_ms`` of audio has passed after the
  line's last frame (line ends at 2.00 s of stream audio, final at 2.15 s);
- RECOGNITION_USAGE with the audio seconds fed since the last report, after every final,
  every ``usage_interval`` seconds of audio, and when the stream ends.

A line cut short (the caller hung up, or the framework fed silence in its place while the
agent could not be interrupted) ends at the first untagged frame and is finalised with the
words heard. A flush or the end of input finalises a pending line at once, so a session that
closes mid-sentence still gets its transcript.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from livekit import rtc
from livekit.agents import stt, utils
from livekit.agents.language import LanguageCode
from livekit.agents.types import (
    DEFAULT_API_CONNECT_OPTIONS,
    NOT_GIVEN,
    APIConnectOptions,
    NotGivenOr,
)

from agent.clock import TimeBase

from ..speech import HEARD_LINE_KEY, HeardLine
from ..speed import call_time_base
from .latencies import OfflineLatencies

_LANGUAGE = LanguageCode("en")
_CONFIDENCE = 0.95


def words_heard(text: str, share: float) -> str:
    """The words of ``text`` covered by ``share`` (0..1) of its speaking time.

    Cut at the character share, then forward to the end of the word: "book a table" at
    0.5 is "book a" (6 of 12 characters reach into "a").
    """
    if share >= 1.0:
        return text
    cut = math.ceil(len(text) * max(share, 0.0))
    if cut == 0:
        return ""
    end = text.find(" ", cut)
    return (text if end == -1 else text[:end]).strip()


@dataclass
class TranscriptRecord:
    """One final transcript as emitted, for timing reports (the call's monotonic seconds)."""

    text: str
    emitted_at: float


class OfflineSTT(stt.STT[None]):
    """Streaming STT stand-in; see the module docstring for how it decides what and when."""

    def __init__(
        self,
        *,
        latencies: OfflineLatencies | None = None,
        interim_interval: float = 0.3,
        usage_interval: float = 5.0,
        time_base: TimeBase | None = None,
    ) -> None:
        super().__init__(
            capabilities=stt.STTCapabilities(
                streaming=True, interim_results=True, offline_recognize=False
            )
        )
        self._time = time_base or call_time_base()
        self._final_delay = (latencies or OfflineLatencies()).stt_final_ms / 1000
        self._interim_interval = interim_interval
        self._usage_interval = usage_interval
        self.finals: list[TranscriptRecord] = []
        """Every final transcript any stream of this STT emitted, in order."""

    @property
    def model(self) -> str:
        return "scripted"

    @property
    def provider(self) -> str:
        return "simulator"

    async def _recognize_impl(
        self,
        buffer: utils.AudioBuffer,
        *,
        language: NotGivenOr[str] = NOT_GIVEN,
        conn_options: APIConnectOptions,
    ) -> stt.SpeechEvent:
        # batch recognition: the words of every line tagged in the buffer
        frames = buffer if isinstance(buffer, list) else [buffer]
        texts: list[str] = []
        for frame in frames:
            heard = frame.userdata.get(HEARD_LINE_KEY)
            if isinstance(heard, HeardLine) and heard.line.text not in texts:
                texts.append(heard.line.text)
        return stt.SpeechEvent(
            type=stt.SpeechEventType.FINAL_TRANSCRIPT,
            alternatives=[stt.SpeechData(language=_LANGUAGE, text=" ".join(texts))],
        )

    def stream(
        self,
        *,
        language: NotGivenOr[str] = NOT_GIVEN,
        conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS,
    ) -> OfflineRecognizeStream:
        return OfflineRecognizeStream(stt=self, conn_options=conn_options)


@dataclass
class _LineInProgress:
    heard: HeardLine
    started_at: float  # stream audio time of its first frame
    heard_until: float  # share of the line's speaking time heard (seconds into the line)
    interim_at: float  # seconds into the line of the last interim
    ended_at: float | None = None  # stream audio time its audio ended


class OfflineRecognizeStream(stt.RecognizeStream):
    def __init__(self, *, stt: OfflineSTT, conn_options: APIConnectOptions) -> None:
        super().__init__(stt=stt, conn_options=conn_options)
        self._offline = stt
        self._audio_time = 0.0  # seconds of audio fed to this stream
        self._unreported = 0.0  # seconds of audio not yet reported as usage
        self._line: _LineInProgress | None = None

    async def _run(self) -> None:
        async for item in self._input_ch:
            if isinstance(item, rtc.AudioFrame):
                self._on_frame(item)
            else:  # flush: the framework wants what has been said so far
                self._finish_line()
        self._finish_line()
        self._report_usage()

    def _on_frame(self, frame: rtc.AudioFrame) -> None:
        frame_start = self._audio_time
        self._audio_time += frame.duration
        self._unreported += frame.duration
        heard = frame.userdata.get(HEARD_LINE_KEY)
        line = self._line

        if isinstance(heard, HeardLine):
            if line is not None and line.heard.line.line_id != heard.line.line_id:
                self._finish_line()  # the next line began before this one was final
                line = None
            if line is None:
                line = self._line = _LineInProgress(
                    heard=heard, started_at=frame_start, heard_until=0.0, interim_at=0.0
                )
                self._send(stt.SpeechEventType.START_OF_SPEECH, line=line)
            line.heard = heard
            line.heard_until = heard.offset + frame.duration
            if line.heard_until - line.interim_at >= self._offline._interim_interval:
                line.interim_at = line.heard_until
                self._send_transcript(stt.SpeechEventType.INTERIM_TRANSCRIPT, line)
            if heard.last:
                line.ended_at = self._audio_time
        elif line is not None and line.ended_at is None:
            line.ended_at = frame_start  # cut short: its audio stopped before its end

        if line is not None and line.ended_at is not None:
            if self._audio_time - line.ended_at >= self._offline._final_delay:
                self._finish_line()
        elif self._unreported >= self._offline._usage_interval:
            self._report_usage()

    def _finish_line(self) -> None:
        line, self._line = self._line, None
        if line is None:
            return
        final = self._send_transcript(stt.SpeechEventType.FINAL_TRANSCRIPT, line)
        self._offline.finals.append(
            TranscriptRecord(text=final, emitted_at=self._offline._time.monotonic())
        )
        self._send(stt.SpeechEventType.END_OF_SPEECH, line=line)
        self._report_usage()

    def _send_transcript(self, kind: stt.SpeechEventType, line: _LineInProgress) -> str:
        spoken = line.heard.line
        text = words_heard(spoken.text, line.heard_until / spoken.seconds)
        end = line.ended_at if line.ended_at is not None else self._audio_time
        self._send(
            kind,
            line=line,
            alternatives=[
                stt.SpeechData(
                    language=_LANGUAGE,
                    text=text,
                    start_time=line.started_at + self.start_time_offset,
                    end_time=end + self.start_time_offset,
                    confidence=_CONFIDENCE,
                )
            ],
        )
        return text

    def _report_usage(self) -> None:
        if self._unreported <= 0:
            return
        usage = stt.RecognitionUsage(audio_duration=self._unreported)
        self._unreported = 0.0
        self._send(stt.SpeechEventType.RECOGNITION_USAGE, recognition_usage=usage)

    def _send(
        self,
        kind: stt.SpeechEventType,
        *,
        line: _LineInProgress | None = None,
        alternatives: list[stt.SpeechData] | None = None,
        recognition_usage: stt.RecognitionUsage | None = None,
    ) -> None:
        self._event_ch.send_nowait(
            stt.SpeechEvent(
                type=kind,
                request_id=f"line-{line.heard.line.line_id}" if line is not None else "",
                alternatives=alternatives or [],
                recognition_usage=recognition_usage,
            )
        )
