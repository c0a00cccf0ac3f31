"""The turn plan (`assistant.turn_config`): when the agent answers, and when it stops talking.

Two halves, after Vapi's `startSpeakingPlan` / `stopSpeakingPlan` (the names here are ours):

- **when to answer** (`endpointing_mode` and the waits): how long after the caller's last word
  the agent takes the turn. `transcript`, the default wherever the STT punctuates, reads the
  end of the caller's words: a finished sentence is answered after 0.2 s, a number after 1.2 s
  (people read numbers in groups), a phrase that stops mid-way after 1.5 s;
- **when to stop talking** (`min_interruption_*`, `backchannel_phrases`,
  `false_interruption_timeout`): what the caller must say before the agent gives up its
  sentence. One word the STT heard, not merely sound, and not a backchannel ("uh-huh",
  "yeah", "right") said while the agent talks.

Every key of the earlier `turn_config` keeps its name and meaning, so existing documents keep
working; two of their defaults changed (`min_silence_seconds` 0.55 -> 0.2,
`min_interruption_seconds` 0.5 -> 0.2), which is what makes the default plan answer a finished
sentence in ~225 ms instead of ~575 ms on the simulator (docs/benchmarks.md).

How each mode maps onto livekit-agents: agent/call/session.py; the rules: agent/call/endpointing.py
and agent/call/backchannel.py; the words per language: agent/call/turn_words.yaml.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

from pydantic import Field, model_validator

from agent.contracts.base import ContractModel

MODEL_MIN_SILENCE_SECONDS = 0.25
"""livekit's end-of-turn model predicts after 200 ms of VAD silence and the framework refuses a
shorter VAD silence with it at session start (``_check_vad_silence_requirement``)."""


class EndpointingMode(StrEnum):
    """How the end of the caller's turn is decided."""

    VAD = "vad"
    """A fixed wait: `min_endpointing_delay` after the VAD's end of speech (the plan before
    turn plans existed). The default for an STT that does not punctuate (Sarvam)."""
    STT = "stt"
    """The STT's own end of utterance: Deepgram nova's `speech_final` after
    `stt_config.endpointing_ms` of silence (500 ms in this mode unless set) or its
    `utterance_end_ms`; Deepgram Flux's EndOfTurn (`stt_config.model: flux-*`)."""
    TRANSCRIPT = "transcript"
    """A wait per rule, read from the end of the transcript (`transcript_endpointing`). Needs
    an STT that punctuates: the default for Deepgram (`punctuate`, on by default) and
    OpenAI."""
    MODEL = "model"
    """livekit's local end-of-turn model (an audio model, `livekit-local-inference`): the
    `min_endpointing_delay` when it finds the turn likely over, else
    `max_endpointing_delay`. Only on workers that load it (`VOICE_AGENT_TURN_MODEL`); refused
    with config_error at call start elsewhere."""


class TranscriptEndpointing(ContractModel):
    """The waits of `endpointing_mode: transcript`, counted from the caller's end of speech.

    The rule is read off the end of the turn's transcript so far; the first that applies wins:
    `mid_phrase`, then `number`, then `terminal`.
    """

    terminal_seconds: float = Field(0.2, ge=0.0, le=5.0)
    """The transcript ends a sentence: `.`, `?`, `!` (and `।`, `。`, `？`, `！`, `؟`). A question
    or an exclamation always counts as finished."""
    number_seconds: float = Field(1.2, ge=0.0, le=10.0)
    """A full stop right after a number of three or more digits (`415.`, `4111-1111.`) or after
    two number words (`five five.`): a caller reading a phone or card number pauses between
    groups, and the STT may punctuate the pause. At 0.8 s the simulator's caller was answered
    in a 1.0 s pause between groups; 1.2 s was not."""
    mid_phrase_seconds: float = Field(1.5, ge=0.0, le=10.0)
    """No terminal punctuation (nothing, a comma), an ellipsis, or the last word before a full
    stop is a continuation word ("and", "so", "um", "the", "for", ... in the call's language):
    the caller has more to say. The longest wait: a pause of up to 1 s inside a phrase is never
    answered."""
    continuation_words: list[str] = Field(default_factory=list, max_length=200)
    """Added to the call language's built-in list (agent/call/turn_words.yaml), compared in
    lower case."""


class TurnConfig(ContractModel):
    """When the agent answers and when it stops talking (see the module docstring)."""

    # -- when to answer ---------------------------------------------------------------------
    endpointing_mode: EndpointingMode | None = None
    """`vad`, `stt`, `transcript` or `model`. Not set: `transcript` when the STT punctuates
    (Deepgram unless `punctuate: false`, OpenAI), `vad` otherwise (Sarvam: unverified that it
    punctuates; without punctuation every turn would wait `mid_phrase_seconds`)."""
    min_silence_seconds: float = Field(0.2, ge=0.1, le=3.0)
    """VAD: silence that ends a speech segment. Every mode waits at least this long after the
    last word (the end-of-turn decision starts at the VAD's end of speech), so it bounds how
    fast a finished sentence is answered: 0.2 s gives ~225 ms on the simulator, 0.3 s ~320 ms.
    With `endpointing_mode: model`: 0.25 s unless set, and less is refused."""
    min_endpointing_delay: float = Field(0.5, ge=0.0, le=5.0)
    """`vad` and `model` (turn likely over): the wait after the caller's end of speech. Counted
    from the end of speech, so it overlaps the VAD silence (0.2 s of silence, 0.5 s delay: the
    turn is taken 0.5 s after the last word)."""
    max_endpointing_delay: float = Field(3.0, ge=0.5, le=10.0)
    """`model` (turn unlikely over) and `stt`: the longest wait before the turn is taken anyway."""
    transcript_endpointing: TranscriptEndpointing = Field(default_factory=TranscriptEndpointing)
    """The waits of `transcript` endpointing."""

    # -- when to stop talking ---------------------------------------------------------------
    allow_interruptions: bool = True
    """False: the caller can never cut the agent off (their audio meanwhile is discarded)."""
    min_interruption_seconds: float = Field(0.2, ge=0.0, le=5.0)
    """Caller speech (as the VAD hears it) shorter than this never stops the agent."""
    min_interruption_words: int = Field(1, ge=0, le=10)
    """Words the STT must have heard (interim results count) before the caller's speech stops
    the agent. 1: a cough, a door or a voice in the background never does. 0: any sound of
    `min_interruption_seconds` pauses the agent, which resumes after
    `false_interruption_timeout` if no words follow."""
    backchannel_phrases: list[str] = Field(default_factory=list, max_length=200)
    """Added to the call language's built-in list ("uh-huh", "yeah", "right", "okay",
    "mm-hm", ...; agent/call/turn_words.yaml). Said while the agent speaks, a transcript made
    only of these phrases never interrupts it and is not answered; said when the agent is
    quiet, it is an ordinary turn ("Okay." as an answer)."""
    false_interruption_timeout: float | None = Field(1.0, ge=0.1, le=10.0)
    """The agent paused for caller speech that brought no words (a noise, a word the STT took
    back): after this much silence it resumes its own sentence where it paused. null: it
    abandons the sentence instead."""

    @model_validator(mode="before")
    @classmethod
    def _model_mode_silence(cls, data: Any) -> Any:
        # Refused here, at parse time, rather than by the framework at session start: a call
        # must never fail mid-way for a setting the document chose.
        if isinstance(data, dict) and data.get("endpointing_mode") == EndpointingMode.MODEL:
            silence = data.get("min_silence_seconds")
            if silence is None:
                return {**data, "min_silence_seconds": MODEL_MIN_SILENCE_SECONDS}
            if isinstance(silence, int | float) and silence < MODEL_MIN_SILENCE_SECONDS:
                raise ValueError(
                    "endpointing_mode `model` needs min_silence_seconds >= "
                    f"{MODEL_MIN_SILENCE_SECONDS} (livekit's model predicts after 0.2 s of "
                    "VAD silence)"
                )
        return data

    def resolved_mode(self, *, stt_punctuates: bool) -> EndpointingMode:
        """The mode the call runs: the one set, else by whether the STT punctuates."""
        if self.endpointing_mode is not None:
            return self.endpointing_mode
        return EndpointingMode.TRANSCRIPT if stt_punctuates else EndpointingMode.VAD


EndOfTurnRule = Literal["terminal", "number", "mid_phrase", "vad", "stt", "model"]
"""What ended a caller's turn: a transcript rule (`terminal`, `number`, `mid_phrase`), or the
mode's name where no rule is read (`vad`, `stt`, `model`)."""

InterruptionOutcome = Literal["stopped", "backchannel", "resumed", "not_resumed", "ignored"]
"""What caller speech over the agent's speech did:

- `stopped`: the agent gave up its sentence (cut where the caller was heard);
- `backchannel`: only backchannel phrases; the agent kept talking and nothing answered it;
- `resumed`: a false interruption: the agent paused, no words followed, and after
  `false_interruption_timeout` it went on with its sentence where it paused;
- `not_resumed`: a false interruption the agent could not resume (its sentence was over, or
  `false_interruption_timeout` is null);
- `ignored`: the agent kept talking: sound with no words (noise), fewer words than
  `min_interruption_words`, interruptions off, or its sentence ended first."""
