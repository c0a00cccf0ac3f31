"""The simulated room's audio: caller audio in, agent audio and transcript out, at the call's pace.

(:class:`~agent.simulator.room.SimulatedCallRoom` is the room itself: this audio, the caller
party and the room's events.)

It stands where RoomIO stands in production, and is wired the same way: the session reads
:class:`CallerAudioInput`, and writes to a framework ``TranscriptSynchronizer`` that feeds
:class:`PlayoutRecorder` (audio) and :class:`TranscriptRecorder` (text), so the agent's
transcript is published in step with its audio and cut where its audio was cut.

- :class:`CallerAudioInput` hands out 20 ms frames at the pace of the call's clock (frame *n*
  is delivered when it has "happened": at start + (n + 1) x 20 ms), silence unless the
  caller is saying a line. Line frames carry a :class:`~agent.simulator.speech.HeardLine`.
  Before the caller's audio is up (``SimulatedAudio.caller_absent`` until
  ``caller_audio_up``) it hands out nothing, as RoomIO's input has no track to read.
- :class:`PlayoutRecorder` plays captured frames on the call's clock: a 20 ms frame occupies
  20 ms, a pause stops the clock, ``clear_buffer()`` cuts at once and reports how far it got.
  It records when the first frame of each segment played (greeting and turn latency). Like
  RoomIO's output (``capture_frame`` waits for a subscriber), it holds the agent's audio until
  the caller is there to hear it.
- :class:`TranscriptRecorder` keeps each published agent transcript segment.

Times are the call's monotonic seconds (its :class:`~agent.clock.TimeBase`): ``time.monotonic()``
at real time, N times faster in a sped-up call (agent/simulator/speed.py); the pacing is the
same in both, as the loop the pieces sleep on runs on the same clock.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from livekit import rtc
from livekit.agents import AgentSession
from livekit.agents.voice import io
from livekit.agents.voice.transcription.synchronizer import TranscriptSynchronizer

from agent.clock import TimeBase

from .noise import laughter
from .speech import CALLER_SAMPLE_RATE, HEARD_LINE_KEY, CallerLine, CallerSpeech, HeardLine
from .speed import call_time_base

_FRAME_SECONDS = 0.02
_SAMPLES_PER_FRAME = int(CALLER_SAMPLE_RATE * _FRAME_SECONDS)


@dataclass
class _Speaking:
    line: CallerLine
    pcm: bytes
    at: int = 0  # bytes already sent
    done: asyncio.Future[float] = field(default_factory=asyncio.Future)
    heard: bool = True
    """False: sound with no words (noise); its frames carry no HeardLine."""


class CallerAudioInput(io.AudioInput):
    """The caller's microphone: 16 kHz frames at the call's pace, speech when a line is said."""

    def __init__(
        self, speech: CallerSpeech | None = None, *, time_base: TimeBase | None = None
    ) -> None:
        super().__init__(label="SimulatedCaller")
        self._time = time_base or call_time_base()
        self._speech = speech or CallerSpeech()
        self._queue: deque[_Speaking] = deque()
        self._next_deadline: float | None = None
        self._closed = asyncio.Event()
        self._connected = asyncio.Event()
        self._connected.set()
        self._silence = b"\0\0" * _SAMPLES_PER_FRAME

    def disconnect(self) -> None:
        """No caller audio (not yet there): frames stop until ``connect``."""
        self._connected.clear()

    def connect(self) -> None:
        """The caller's audio is up: frames flow from now (no catch-up for the time before)."""
        if not self._connected.is_set():
            self._next_deadline = None
            self._connected.set()

    def say(self, line: CallerLine) -> asyncio.Future[float]:
        """Queue ``line``; the future resolves with the time its last frame was delivered."""
        speaking = _Speaking(line=line, pcm=self._speech.pcm_for(line))
        self._queue.append(speaking)
        return speaking.done

    def noise(self, seconds: float) -> asyncio.Future[float]:
        """Queue ``seconds`` of laughter (agent/simulator/noise.py): silero takes it for
        speech, the STT hears no words in it. Resolves as :meth:`say` does."""
        line = CallerLine(line_id=-1, text="", seconds=seconds)
        speaking = _Speaking(line=line, pcm=laughter(seconds), heard=False)
        self._queue.append(speaking)
        return speaking.done

    @property
    def speaking(self) -> bool:
        return bool(self._queue)

    def hang_up(self) -> None:
        """End the stream: the session sees the caller's audio stop for good."""
        self._closed.set()
        self._connected.set()  # wake a reader waiting for the caller: the stream is over
        for speaking in self._queue:
            if not speaking.done.done():
                speaking.done.set_result(self._time.monotonic())
        self._queue.clear()

    async def __anext__(self) -> rtc.AudioFrame:
        if self._closed.is_set():
            raise StopAsyncIteration
        if not self._connected.is_set():
            await self._connected.wait()
            if self._closed.is_set():
                raise StopAsyncIteration
        now = self._time.monotonic()
        # deadlines, not sleeps per frame: a late wake-up is caught up, never accumulated
        deadline = (self._next_deadline or now) + _FRAME_SECONDS
        self._next_deadline = deadline
        if deadline > now:
            await asyncio.sleep(deadline - now)
        if self._closed.is_set():
            raise StopAsyncIteration
        return self._next_frame()

    def _next_frame(self) -> rtc.AudioFrame:
        if not self._queue:
            return self._frame(self._silence)
        speaking = self._queue[0]
        size = _SAMPLES_PER_FRAME * 2
        chunk = speaking.pcm[speaking.at : speaking.at + size]
        offset = speaking.at / 2 / CALLER_SAMPLE_RATE
        speaking.at += size
        last = speaking.at >= len(speaking.pcm)
        frame = self._frame(chunk.ljust(size, b"\0"))
        if speaking.heard:
            frame.userdata[HEARD_LINE_KEY] = HeardLine(line=speaking.line, offset=offset, last=last)
        if last:
            self._queue.popleft()
            speaking.done.set_result(self._time.monotonic())
        return frame

    @staticmethod
    def _frame(pcm: bytes) -> rtc.AudioFrame:
        return rtc.AudioFrame(pcm, CALLER_SAMPLE_RATE, 1, _SAMPLES_PER_FRAME)


@dataclass
class PlayedSegment:
    """One agent audio segment as the caller heard it."""

    captured_seconds: float = 0.0
    first_frame_at: float | None = None
    """When its first frame started playing: what the caller hears first."""
    finished_at: float | None = None
    played_seconds: float = 0.0
    interrupted: bool = False
    flushed: bool = False
    frames: deque[rtc.AudioFrame] = field(default_factory=deque, repr=False)
    paused_at: list[float] = field(default_factory=list)
    """Each time the framework paused it while it played (a possible false interruption)."""
    cleared_at: float | None = None
    """When it was cut (``clear_buffer``) after it began playing."""

    @property
    def quiet_at(self) -> float | None:
        """When the caller stopped hearing it before its end: the first pause, or the cut."""
        times = [*self.paused_at[:1], *([] if self.cleared_at is None else [self.cleared_at])]
        return min(times) if times else None

    @property
    def heard_whole(self) -> bool:
        """Played to its end with no pause and no cut."""
        return self.finished_at is not None and not self.interrupted and not self.paused_at


class PlayoutRecorder(io.AudioOutput):
    """Agent audio sink playing in real time and recording what played when.

    Segments are what the framework separates with ``flush()``. Each gets exactly one
    ``playback_finished``: after its last frame played, or at ``clear_buffer()`` (then
    ``interrupted=True`` and the position is how much played). A segment cleared before it
    was flushed finishes on that flush, so the framework's capture/flush pairs stay counted.
    """

    def __init__(
        self,
        *,
        on_segment_started: Callable[[PlayedSegment], None] | None = None,
        time_base: TimeBase | None = None,
    ):
        super().__init__(
            label="SimulatedPlayout",
            capabilities=io.AudioOutputCapabilities(pause=True),
            sample_rate=None,
        )
        self._time = time_base or call_time_base()
        self.segments: list[PlayedSegment] = []
        self._segment_listeners: list[Callable[[PlayedSegment], None]] = []
        if on_segment_started is not None:
            self._segment_listeners.append(on_segment_started)
        self._capturing: PlayedSegment | None = None
        self._pending: deque[PlayedSegment] = deque()  # captured, not finished, in order
        self._frame_ready = asyncio.Event()
        self._resumed = asyncio.Event()
        self._resumed.set()
        self._next_deadline = 0.0
        self._playing: tuple[PlayedSegment, float, float] | None = None  # segment, start, len
        self._player: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()
        self._subscribed.set()
        self.subscribed_at: float | None = None
        """When the caller subscribed (``time.monotonic()``), once held back by ``unsubscribe``."""

    def unsubscribe(self) -> None:
        """Nobody hears the agent yet: ``capture_frame`` holds audio until ``subscribe``."""
        self._subscribed.clear()

    def subscribe(self) -> None:
        """The caller hears the agent from now: held audio starts playing."""
        if not self._subscribed.is_set():
            self.subscribed_at = self._time.monotonic()
            self._subscribed.set()

    def add_segment_listener(self, listener: Callable[[PlayedSegment], None]) -> None:
        """Call ``listener`` when a segment's first frame starts playing."""
        self._segment_listeners.append(listener)

    @property
    def idle(self) -> bool:
        """Nothing captured is waiting to play or playing."""
        return not self._pending

    async def capture_frame(self, frame: rtc.AudioFrame) -> None:
        # As RoomIO's _ParticipantAudioOutput: nothing is pushed before a subscriber is there,
        # so speech is held, not lost, and plays from its first frame once they are.
        await self._subscribed.wait()
        await super().capture_frame(frame)
        segment = self._capturing
        if segment is None:
            segment = self._capturing = PlayedSegment()
            self.segments.append(segment)
            self._pending.append(segment)
        if segment.interrupted:
            return  # cleared while still being captured: the rest is never heard
        segment.frames.append(frame)
        segment.captured_seconds += frame.duration
        self._frame_ready.set()
        if self._player is None:
            self._player = asyncio.create_task(self._play(), name="simulated_playout")

    def flush(self) -> None:
        super().flush()
        segment, self._capturing = self._capturing, None
        if segment is None:
            return
        segment.flushed = True
        playing_it = self._playing is not None and self._playing[0] is segment
        if segment.interrupted or (not segment.frames and not playing_it):
            # cleared earlier, or every frame already played before the flush came
            self._finish(segment, interrupted=segment.interrupted)
        self._frame_ready.set()

    def clear_buffer(self) -> None:
        for segment in list(self._pending):
            segment.frames.clear()
            segment.interrupted = True
            if segment.first_frame_at is not None and segment.cleared_at is None:
                segment.cleared_at = self._time.monotonic()
            if self._playing is not None and self._playing[0] is segment:
                # 20 ms frame that started 12 ms ago: 12 ms of it were heard
                _, started, length = self._playing
                segment.played_seconds += min(max(self._time.monotonic() - started, 0.0), length)
                self._playing = None
            if segment.flushed:
                self._finish(segment, interrupted=True)

    def pause(self) -> None:
        if self._resumed.is_set() and (segment := self.playing) is not None:
            segment.paused_at.append(self._time.monotonic())
        self._resumed.clear()

    @property
    def playing(self) -> PlayedSegment | None:
        """The segment the caller is hearing (begun, not finished), if any."""
        return next(
            (s for s in self._pending if s.first_frame_at is not None and s.finished_at is None),
            None,
        )

    def resume(self) -> None:
        self._resumed.set()

    async def aclose(self) -> None:
        if self._player is not None:
            self._player.cancel()
            await asyncio.gather(self._player, return_exceptions=True)

    def _finish(self, segment: PlayedSegment, *, interrupted: bool) -> None:
        if segment.finished_at is not None:
            return
        segment.finished_at = self._time.monotonic()
        if segment in self._pending:
            self._pending.remove(segment)
        position = segment.played_seconds if interrupted else segment.captured_seconds
        self.on_playback_finished(playback_position=position, interrupted=interrupted)

    async def _play(self) -> None:
        while True:
            segment = next((s for s in self._pending if s.frames), None)
            if segment is None:
                self._next_deadline = 0.0  # ran dry: the next frame starts when it comes
                self._frame_ready.clear()
                await self._frame_ready.wait()
                continue
            if not self._resumed.is_set():
                self._next_deadline = 0.0  # paused: playback picks up at the resume
                await self._resumed.wait()
            if not segment.frames:
                continue  # cleared while paused
            frame = segment.frames.popleft()
            now = self._time.monotonic()
            # A frame already queued plays right after the one before, as from a sound card's
            # buffer, however late this task woke. Starting it at max(now, deadline) added
            # every late wake-up to the audio: epoll rounds its timeout up to the millisecond,
            # so 1 ms late per 20 ms frame played the agent ~5% long at real time (a 2.53 s
            # greeting took 2.66 s) and ~20% long at speed 8 (1 real ms = 8 call ms).
            start = self._next_deadline or now
            if segment.first_frame_at is None:
                segment.first_frame_at = start
                # when its first frame began, on the framework's clock (start may be past)
                self.on_playback_started(created_at=self._time.wall() - (now - start))
                for listener in self._segment_listeners:
                    listener(segment)
            self._playing = (segment, start, frame.duration)
            self._next_deadline = start + frame.duration
            await asyncio.sleep(self._next_deadline - now)
            if self._playing is None or self._playing[0] is not segment:
                continue  # cleared mid-frame: clear_buffer() counted what was heard
            self._playing = None
            segment.played_seconds += frame.duration
            if segment.flushed and not segment.frames:
                self._finish(segment, interrupted=False)


@dataclass
class PublishedTranscript:
    """One agent transcript segment as published to the caller."""

    text: str = ""
    first_text_at: float | None = None
    flushed_at: float | None = None


class TranscriptRecorder(io.TextOutput):
    """Agent transcript sink: what RoomIO would publish on ``lk.transcription``."""

    def __init__(self, *, time_base: TimeBase | None = None) -> None:
        super().__init__(label="SimulatedTranscript", next_in_chain=None)
        self._time = time_base or call_time_base()
        self.segments: list[PublishedTranscript] = []
        self._current: PublishedTranscript | None = None

    async def capture_text(self, text: str) -> None:
        if self._current is None:
            self._current = PublishedTranscript(first_text_at=self._time.monotonic())
            self.segments.append(self._current)
        self._current.text += text

    def flush(self) -> None:
        if self._current is not None:
            self._current.flushed_at = self._time.monotonic()
            self._current = None


@dataclass
class SimulatedAudio:
    """The three endpoints, wired like RoomIO (audio and text behind a synchronizer)."""

    caller: CallerAudioInput
    playout: PlayoutRecorder
    transcript: TranscriptRecorder
    synchronizer: TranscriptSynchronizer

    @classmethod
    def create(
        cls,
        *,
        speech: CallerSpeech | None = None,
        on_segment_started: Callable[[PlayedSegment], None] | None = None,
        time_base: TimeBase | None = None,
    ) -> SimulatedAudio:
        stamps = time_base or call_time_base()
        playout = PlayoutRecorder(on_segment_started=on_segment_started, time_base=stamps)
        transcript = TranscriptRecorder(time_base=stamps)
        synchronizer = TranscriptSynchronizer(
            next_in_chain_audio=playout, next_in_chain_text=transcript
        )
        return cls(
            caller=CallerAudioInput(speech, time_base=stamps),
            playout=playout,
            transcript=transcript,
            synchronizer=synchronizer,
        )

    def caller_absent(self) -> None:
        """The caller is not in the room yet: no audio either way until ``caller_audio_up``."""
        self.caller.disconnect()
        self.playout.unsubscribe()

    def caller_audio_up(self) -> None:
        """The caller's audio is up both ways: they are heard, and they hear the agent."""
        self.caller.connect()
        self.playout.subscribe()

    def attach(self, session: AgentSession[Any]) -> None:
        """Be the session's room: set its audio input, audio output and transcript output
        (before ``session.start()``, which then makes no RoomIO of its own)."""
        session.input.audio = self.caller
        session.output.audio = self.synchronizer.audio_output
        session.output.transcription = self.synchronizer.text_output

    async def aclose(self) -> None:
        self.caller.hang_up()
        await self.synchronizer.aclose()
        await self.playout.aclose()
