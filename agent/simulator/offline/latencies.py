"""How slow the pretend vendors are: the waits a simulated call spends on STT, LLM and TTS.

Figures are typical of hosted vendors on a good day (Deepgram final after end of speech,
a small OpenAI model's first token, ElevenLabs' first audio). They are configured, not
measured: the simulator reports the time a turn takes *beyond* them as worker overhead.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class OfflineLatencies(BaseModel):
    """Configured vendor waits, in milliseconds."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    stt_final_ms: float = Field(default=150.0, ge=0)
    """Final transcript this long (of audio time) after the caller's speech ends."""
    llm_ttft_ms: float = Field(default=250.0, ge=0)
    """First text delta (or tool call) this long after the LLM request."""
    llm_tokens_per_second: float = Field(default=80.0, gt=0)
    """Pace of the following deltas: one word per delta, this many deltas a second."""
    tts_ttfb_ms: float = Field(default=120.0, ge=0)
    """First audio this long after the first text reaches the TTS."""
