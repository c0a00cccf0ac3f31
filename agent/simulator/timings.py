"""What a simulated call measured: greeting time, per-turn latency with its waterfall, the log.

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

from livekit.agents import llm
from pydantic import BaseModel, ConfigDict

CallEnding = Literal["caller_hangup", "script_end", "session_closed", "time_limit"]


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
    """Since the call started (just before ``AgentSession.start``)."""
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


class SimulatedCallResult(BaseModel):
    model_config = ConfigDict(arbitrary_types_allowed=True)

    ended_by: CallEnding
    wall_seconds: float
    greeting_ms: float | None
    """Call start -> first agent audio, when the agent spoke before the caller's first line."""
    turns: list[TurnTiming]
    log: list[LogEntry]
    history: llm.ChatContext
    """The session's chat history at the end of the call."""
    published_transcripts: list[str]
    """Agent transcript segments as published to the caller (cut where the audio was cut)."""


def first_after(times: Iterable[float | None], after: float) -> float | None:
    """The earliest of ``times`` at or after ``after``."""
    later = [t for t in times if t is not None and t >= after]
    return min(later) if later else None


def ms_after(at: float | None, origin: float) -> float | None:
    return None if at is None else round((at - origin) * 1000, 1)
