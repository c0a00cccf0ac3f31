"""The turn plan (agent/contracts/turn_plan.py) as livekit-agents turn handling, one call at a time.

Per endpointing mode (livekit-agents 1.8.9):

- ``vad``: ``turn_detection="vad"``; endpointing ``min_endpointing_delay`` /
  ``max_endpointing_delay``;
- ``transcript``: :class:`~agent.call.endpointing.TranscriptEndpointing` as the turn detector;
  ``min_delay`` is the terminal wait, ``max_delay`` is set per decision;
- ``stt``: ``turn_detection="stt"``; ``min_delay`` 0 (the STT already waited),
  ``max_delay`` ``max_endpointing_delay``;
- ``model``: :class:`~agent.call.turn_model.RecordedTurnDetector`; ``min_endpointing_delay``
  when the model finds the turn likely over, else ``max_endpointing_delay``.

Interruptions, every mode: VAD-based (``mode: "adaptive"`` is LiveKit Cloud inference),
``min_duration`` and ``min_words`` from the plan, resume after a false interruption when a
timeout is set; the backchannel filter sits in ``CallAgent.stt_node``
(agent/call/backchannel.py). The endpointing mode is always ``fixed``: transcript endpointing
replaces the endpointing object per decision, which would throw away what ``dynamic`` learned.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from livekit.agents import AgentSession
from livekit.agents.voice.turn import TurnDetectionMode, TurnHandlingOptions

from agent.call.endpointing import EndpointingDecision, TranscriptEndpointing, TranscriptWaits
from agent.call.turn_model import RecordedTurnDetector
from agent.call.turn_words import TurnWords, turn_words
from agent.contracts.assistant import AssistantConfig
from agent.contracts.turn_plan import EndpointingMode
from agent.report.record import TurnEnd


def call_language(assistant: AssistantConfig) -> str:
    return assistant.stt_config.language or "en"


def call_words(assistant: AssistantConfig) -> TurnWords:
    """The call language's continuation words, number words and backchannels, with the
    assistant's additions."""
    turn = assistant.turn_config
    return turn_words(
        call_language(assistant),
        extra_backchannels=tuple(turn.backchannel_phrases),
        extra_continuations=tuple(turn.transcript_endpointing.continuation_words),
    )


@dataclass
class TurnTaking:
    """What one call's session is built with: the framework options and the detector."""

    options: TurnHandlingOptions
    detector: TranscriptEndpointing | RecordedTurnDetector | None
    default_turn_end: TurnEnd | None
    """What ended a turn where no decision is made per turn (``vad``, ``stt``)."""

    def attach(self, session: AgentSession[Any]) -> None:
        """Give the detector the session it changes the wait of (transcript mode)."""
        if isinstance(self.detector, TranscriptEndpointing):
            self.detector.attach(session)


def turn_taking(
    assistant: AssistantConfig,
    *,
    on_decision: Callable[[EndpointingDecision], None] | None = None,
) -> TurnTaking:
    """Turn handling for the assistant's plan, every knob that differs between dev and
    production pinned."""
    turn = assistant.turn_config
    mode = assistant.endpointing_mode
    detection: TurnDetectionMode
    detector: TranscriptEndpointing | RecordedTurnDetector | None = None
    default: TurnEnd | None = None
    min_delay, max_delay = turn.min_endpointing_delay, turn.max_endpointing_delay
    if mode is EndpointingMode.TRANSCRIPT:
        waits = turn.transcript_endpointing
        detector = TranscriptEndpointing(
            TranscriptWaits(waits.terminal_seconds, waits.number_seconds, waits.mid_phrase_seconds),
            call_words(assistant),
            on_decision=on_decision,
        )
        detection = detector
        # min_delay is the terminal wait; max_delay is set per decision by the detector
        min_delay, max_delay = waits.terminal_seconds, waits.mid_phrase_seconds
    elif mode is EndpointingMode.MODEL:
        detector = RecordedTurnDetector(
            language=call_language(assistant),
            min_delay=min_delay,
            max_delay=max_delay,
            on_decision=on_decision,
        )
        detection = detector
    elif mode is EndpointingMode.STT:
        detection = "stt"
        min_delay = 0.0  # the STT already waited (its endpointing / end of turn)
        default = TurnEnd("", "stt", None)
    else:
        detection = "vad"
        default = TurnEnd("", "vad", min_delay)
    return TurnTaking(
        options={
            "turn_detection": detection,
            "endpointing": {"mode": "fixed", "min_delay": min_delay, "max_delay": max_delay},
            "interruption": {
                "enabled": turn.allow_interruptions,
                "mode": "vad",
                "min_duration": turn.min_interruption_seconds,
                "min_words": turn.min_interruption_words,
                "resume_false_interruption": turn.false_interruption_timeout is not None,
                "false_interruption_timeout": turn.false_interruption_timeout,
                "discard_audio_if_uninterruptible": True,
            },
            # The LLM may start on a transcript before the turn is confirmed; TTS waits for it.
            "preemptive_generation": {"enabled": True, "preemptive_tts": False},
        },
        detector=detector,
        default_turn_end=default,
    )
