"""What a simulated call measured: greeting time, per-turn latency with its waterfall, the log.

``agent.simulator.live`` measures them on the production call path; the bench reads them.

A turn's latency runs from the caller's end of speech (the moment the last frame of their
line was delivered to the session) to the first frame of the agent's next audio segment
starting to play. The waterfall places every step in between, in milliseconds after the
caller's end of speech, so configured waits (VAD silence, endpointing delay, STT final,
LLM first token, TTS first audio) can be told apart from worker overhead:

    caller end ─ stt_final ─ vad_end_of_speech ─ turn_committed ─ ... ─ first_agent_audio
                 (150 cfg)   (silero silence)    (endpointing)

With preemptive generation (the framework default) the LLM is asked at the STT final,
before the turn is committed, so ``llm_request_ms`` may come before ``turn_committed_ms``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from pydantic import BaseModel


class TurnWaterfall(BaseModel):
    """Milliseconds after the caller's end of speech; None when it did not happen."""

    stt_final_ms: float | None = None
    vad_end_of_speech_ms: float | None = None
    turn_committed_ms: float | None = None
    llm_request_ms: float | None = None
    llm_first_delta_ms: float | None = None
    tts_first_text_ms: float | None = None
    tts_first_audio_ms: float | None = None
    first_agent_audio_ms: float | None = None


class TurnTiming(BaseModel):
    caller_text: str
    barge_in: bool
    caller_started_at_ms: float
    """Since the call started (just before ``LiveCall.converse``)."""
    caller_ended_at_ms: float
    latency_ms: float | None
    """Caller end of speech -> first agent audio; None if the agent never answered (before
    the next line ended)."""
    waterfall: TurnWaterfall
    continues: bool = False
    """A part of a `say` list with more parts to come: the caller only paused, so an answer
    here (``latency_ms`` not None) is a premature reply."""


class OverlapTiming(BaseModel):
    """Caller sound over the agent's speech (a barge-in line or a noise step): what the caller
    heard of the agent's speech it talked over."""

    kind: Literal["say", "noise"]
    caller_text: str
    """The line ("" for noise)."""
    caller_started_at_ms: float
    """Since the call started."""
    agent_speaking: bool
    """The agent's audio was playing when the caller started (False: nothing to talk over)."""
    agent_quiet_ms: float | None
    """Caller's first frame -> the agent's audio paused or was cut; None: it never was."""
    agent_heard_whole: bool
    """The agent's speech played to its end with no pause and no cut."""
    agent_resumed: bool
    """It was paused and then played to its end (a false interruption, resumed from)."""


class LogEntry(BaseModel):
    at_ms: float
    """Since the call started."""
    who: Literal["caller", "agent", "tool"]
    text: str
    interrupted: bool = False


def first_after(times: Iterable[float | None], after: float) -> float | None:
    """The earliest of ``times`` at or after ``after``."""
    later = [t for t in times if t is not None and t >= after]
    return min(later) if later else None


def ms_after(at: float | None, origin: float) -> float | None:
    return None if at is None else round((at - origin) * 1000, 1)


class LatencySplit(BaseModel):
    """A turn's latency split into what was configured and what the worker added."""

    latency_ms: float
    configured_ms: float
    """The configured waits on the critical path (see :func:`split_latency`)."""
    vad_detection_ms: float | None
    """How much later than its configured silence silero called the end of speech: window
    granularity (32 ms) and the speech probability decaying, not worker code (subtracted from
    the overhead only where it is on the critical path)."""
    worker_overhead_ms: float
    """The rest: framework and worker time between the vendors' answers."""


def split_latency(
    turn: TurnTiming,
    *,
    stt_final_ms: float,
    llm_ttft_ms: float,
    tts_ttfb_ms: float,
    min_silence_ms: float,
    min_endpointing_ms: float,
) -> LatencySplit | None:
    """Split ``turn.latency_ms`` into configured waits, VAD detection lag and worker overhead.

    The turn commits when the VAD's silence, the endpointing delay (the turn plan's wait for a
    finished sentence) and the STT final have all passed, each counted from the caller's end of
    speech; the VAD's own lag comes on top of its silence. The LLM's first token comes
    ``llm_ttft_ms`` after it was asked: at the STT final when asked preemptively (then only
    what is left of it at the commit counts), else at the commit. Then the TTS's first audio.

    - before turn plans: commit max(550, 500, 150) = 550 (+ silero's ~110 ms lag), the token
      was ready at 150 + 250 = 400, long before: configured 550 + 120 = 670 ms, and the lag
      is on the critical path;
    - the default plan (a finished sentence): commit max(200, 200, 150) = 200 (+ lag ~120 =
      320), the token ready at 400: configured max(200, 400) + 120 = 520 ms, and the lag is
      hidden behind the LLM, so none of it is subtracted; the STT final as it came (160 ms
      on the simulator's 20 ms frames) is on the critical path instead.
    """
    latency = turn.latency_ms
    waterfall = turn.waterfall
    if latency is None:
        return None
    commit = max(min_silence_ms, min_endpointing_ms, stt_final_ms)
    # asked before the VAD even ended the caller's speech: preemptive. (Not "before the
    # commit": a request made at the commit goes out a fraction of a ms before the event.)
    turn_ended = waterfall.vad_end_of_speech_ms or waterfall.turn_committed_ms
    preemptive = (
        waterfall.llm_request_ms is not None
        and turn_ended is not None
        and waterfall.llm_request_ms < turn_ended
    )
    vad_lag = (
        max(0.0, waterfall.vad_end_of_speech_ms - min_silence_ms)
        if waterfall.vad_end_of_speech_ms is not None and min_silence_ms >= commit
        else None
    )
    committed_at = commit + (vad_lag or 0.0)
    if preemptive:
        configured = max(commit, stt_final_ms + llm_ttft_ms) + tts_ttfb_ms
        # the LLM is asked at the final as it came: the offline STT finalises on 20 ms frame
        # boundaries (150 ms configured, 160 ms seen), vendor time, not the worker's
        final_at = max(stt_final_ms, waterfall.stt_final_ms or stt_final_ms)
        expected = max(committed_at, final_at + llm_ttft_ms) + tts_ttfb_ms
    else:
        configured = commit + llm_ttft_ms + tts_ttfb_ms
        expected = committed_at + llm_ttft_ms + tts_ttfb_ms
    return LatencySplit(
        latency_ms=latency,
        configured_ms=round(configured, 1),
        vad_detection_ms=None if vad_lag is None else round(vad_lag, 1),
        worker_overhead_ms=round(latency - expected, 1),
    )
