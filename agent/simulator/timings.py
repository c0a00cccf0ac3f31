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
    """Caller end of speech -> first agent audio; None if the agent never answered."""
    waterfall: TurnWaterfall


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
    granularity (32 ms) and the speech probability decaying, not worker code."""
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

    Critical path of configured waits: the turn commits when the VAD's silence, the
    endpointing delay and the STT final have all passed (each counted from the caller's end
    of speech: max(550, 500, 150) = 550 ms with the defaults); the LLM's first token adds
    its wait unless the request went out early (preemptive, at the STT final), in which case
    only what is left of it at the commit counts (150 + 250 - 550 < 0: nothing); then the
    TTS's first audio (120 ms). Defaults: 550 + 0 + 120 = 670 ms.
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
    llm_wait = max(0.0, stt_final_ms + llm_ttft_ms - commit) if preemptive else llm_ttft_ms
    configured = commit + llm_wait + tts_ttfb_ms
    vad_lag = (
        max(0.0, waterfall.vad_end_of_speech_ms - min_silence_ms)
        if waterfall.vad_end_of_speech_ms is not None and min_silence_ms >= commit
        else None
    )
    return LatencySplit(
        latency_ms=latency,
        configured_ms=round(configured, 1),
        vad_detection_ms=None if vad_lag is None else round(vad_lag, 1),
        worker_overhead_ms=round(latency - configured - (vad_lag or 0.0), 1),
    )
