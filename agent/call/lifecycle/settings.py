"""The assistant-config fields that govern how a call stays inside its limits and ends.

Field names are the dispatch document's own (design brief section 3), and unknown keys are
ignored, so ``LifecycleSettings.model_validate(assistant_config.model_dump())`` maps the whole
assistant config in one step.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class SilenceSettings(BaseModel):
    """``autonomous_silence_handling``: prompt a silent caller, then end the call."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    enabled: bool = True
    """False turns silence handling off entirely: no prompts, never a silence_timeout."""
    timeout_seconds: float = Field(default=7.5, gt=0)
    """Listening time without caller speech before each prompt and before the final message."""
    prompts: list[str] = Field(default_factory=lambda: ["Are you still there?"])
    """Spoken in turn, cycling when ``max_prompts`` exceeds their number."""
    max_prompts: int = Field(default=2, ge=0)
    """Unanswered prompts before the final message. 0: the first timeout ends the call."""
    final_message: str | None = "It seems you've stepped away. I'll end the call now. Goodbye!"
    """Spoken before ending with silence_timeout; None or empty ends without a goodbye."""


class GoodbyeBudget(BaseModel):
    """How long the lifecycle waits for a closing line to be heard before hanging up anyway.

    budget = min(cap, len(text) / chars_per_second + margin)

    15 chars/s is ordinary TTS speech: about 150 words/min at ~6 characters a word
    (spaces included). The margin covers TTS time-to-first-byte, buffering and the
    interruption of what was playing. Example, the default max-duration message
    "We've reached the time limit for this call. Goodbye!" (52 chars):
    52 / 15 = 3.47 s + 2.0 s margin = 5.47 s, under the 10 s cap.
    """

    model_config = ConfigDict(frozen=True)

    chars_per_second: float = Field(default=15.0, gt=0)
    margin_seconds: float = Field(default=2.0, ge=0)
    cap_seconds: float = Field(default=10.0, gt=0)
    """Upper bound on any wait at the end of a call, and the wait for a line of unknown length."""

    def for_text(self, text: str | None) -> float:
        """Seconds to wait for ``text`` to be heard; the cap when the text is unknown."""
        if text is None:
            return self.cap_seconds
        return min(self.cap_seconds, len(text) / self.chars_per_second + self.margin_seconds)


class LifecycleSettings(BaseModel):
    """Everything the call lifecycle reads from the assistant config."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    max_duration_seconds: float = Field(default=600.0, gt=0)
    """Hard limit on the call, counted from ``CallLifecycle.start()`` (the caller's answer)."""
    join_timeout_seconds: float = Field(default=60.0, gt=0)
    """How long the agent waits in the room for the caller to answer (join.py); not an
    assistant field: the call's ``call.join_timeout_seconds`` or the operator's default."""
    max_duration_message: str | None = "We've reached the time limit for this call. Goodbye!"
    """Spoken at the limit; None or empty ends at the limit without a goodbye."""
    end_call_phrases: list[str] = Field(default_factory=list)
    """When the assistant itself says one of these, the call ends after that line is heard."""
    autonomous_silence_handling: SilenceSettings = Field(default_factory=SilenceSettings)
    goodbye_budget: GoodbyeBudget = Field(default_factory=GoodbyeBudget)
