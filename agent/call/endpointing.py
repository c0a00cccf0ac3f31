"""Transcript endpointing: how long to wait after the caller's words, read from the words.

A finished sentence ("Friday at eight, please.") should be answered at once; a caller reading a
number in groups ("my number is 415. ...") or stopping mid-phrase ("I'd like a table for, um")
should be given time. The rule needs no model: it reads the end of the turn's transcript, so it
works in any language whose STT punctuates (the words per language: turn_words.yaml).

Rules, first match wins (the transcript's end, closing quotes and brackets ignored):

- ``mid_phrase``: no terminal punctuation (nothing, a comma), an ellipsis, or a full stop right
  after a continuation word ("and.", "so.", "um.": Deepgram punctuating a pause, not a
  finished thought);
- ``terminal``: a question mark or an exclamation mark, whatever precedes it ("What is it
  for?" is finished although "for" is a continuation word);
- ``number``: a full stop right after a number of three or more digits ("415.",
  "4111-1111.", not "8:30." or "$25.") or after two number words ("five five."): it looks
  finished, but numbers are read in groups;
- ``terminal``: any other terminal punctuation (``.`` and its CJK and Devanagari forms).

The framework (livekit-agents 1.8.9, ``voice/audio_recognition.py`` ``_bounce_eou_task``) knows
two waits only: the endpointing ``min_delay``, and ``max_delay`` when the turn detector's
probability is below its ``unlikely_threshold``. The three waits are mapped onto them:
``min_delay`` is the terminal wait; for a longer rule the detector sets ``max_delay`` to the
rule's wait (``session.update_options``) and answers "unlikely". The framework reads
``max_delay`` right after the detector returns, in the same task, so the value it waits is the
rule's. Waits are counted from the caller's end of speech as the VAD saw it, not from the
detector's answer: with a 0.2 s VAD silence and a 0.15 s STT final, a terminal wait of 0.2 s
commits at max(0.2 + silero's lag, 0.15, 0.2) after the last word.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from livekit.agents import AgentSession, llm
from livekit.agents.language import LanguageCode

from agent.call.turn_words import TurnWords, words_of
from agent.contracts.turn_plan import EndOfTurnRule

Rule = Literal["terminal", "number", "mid_phrase"]

UNLIKELY_THRESHOLD = 0.5
LIKELY = 1.0
UNLIKELY = 0.0

_TERMINAL = ".?!。？！।؟"
_FINISHED = "?!？！؟"
"""A question or an exclamation is finished whatever its last word."""
_CLOSERS = "\"'”’»)]} "
_ELLIPSIS = ("...", "…")
_DIGIT_GROUP = re.compile(r"^\d[\d-]*\d$")
_MIN_GROUP_DIGITS = 3


def classify(text: str, words: TurnWords) -> Rule:
    """The rule for a turn whose transcript so far is ``text``."""
    end = text.rstrip(_CLOSERS)
    if not end or end.endswith(_ELLIPSIS) or end[-1] not in _TERMINAL:
        return "mid_phrase"  # nothing, trailing off, a comma or no punctuation at all
    if end[-1] in _FINISHED:
        return "terminal"
    spoken = words_of(end)
    last = spoken[-1] if spoken else ""
    if last in words.continuation:
        return "mid_phrase"  # "so." is a pause punctuated, not a finished thought
    digits = sum(c.isdigit() for c in last)
    if (_DIGIT_GROUP.match(last) and digits >= _MIN_GROUP_DIGITS) or (
        len(spoken) >= 2 and last in words.numbers and spoken[-2] in words.numbers
    ):
        return "number"  # "my number is 415." : the next group may follow
    return "terminal"


@dataclass(frozen=True)
class TranscriptWaits:
    """Seconds after the caller's end of speech, per rule."""

    terminal: float = 0.2
    number: float = 1.2
    mid_phrase: float = 1.5

    def of(self, rule: Rule) -> float:
        if rule == "terminal":
            return self.terminal
        return self.number if rule == "number" else self.mid_phrase


@dataclass(frozen=True)
class EndpointingDecision:
    """What the detector decided for one transcript (the last one before a commit ended it)."""

    transcript: str
    rule: EndOfTurnRule
    """A transcript rule, or the mode's name where no rule is read (``vad``, ``stt``, ``model``)."""
    wait_seconds: float | None
    """The configured wait the decision chose (None: the STT's own, not known here)."""
    decided_at: float


class TranscriptEndpointing:
    """The framework's ``_TurnDetector`` protocol (``voice/turn.py``), answered from the words.

    ``attach(session)`` once the session exists: that is how a rule's wait reaches the
    framework. ``on_decision`` sees every decision; the turn recorder keeps the last one per
    transcript, to report which rule ended each turn.
    """

    def __init__(
        self,
        waits: TranscriptWaits,
        words: TurnWords,
        *,
        on_decision: Callable[[EndpointingDecision], None] | None = None,
    ) -> None:
        self._waits = waits
        self._words = words
        self._on_decision = on_decision
        self._session: AgentSession[Any] | None = None
        self._max_delay = waits.mid_phrase  # what turn_handling() starts the session with

    def attach(self, session: AgentSession[Any]) -> None:
        self._session = session

    @property
    def model(self) -> str:
        return "transcript-rules"

    @property
    def provider(self) -> str:
        return "voice-agent"

    async def unlikely_threshold(self, language: LanguageCode | None) -> float | None:
        return UNLIKELY_THRESHOLD

    async def supports_language(self, language: LanguageCode | None) -> bool:
        return True

    async def predict_end_of_turn(
        self,
        chat_ctx: llm.ChatContext,
        *,
        timeout: float | None = None,  # noqa: ASYNC109 (the framework's protocol signature)
    ) -> float:
        text = _last_user_text(chat_ctx)
        rule = classify(text, self._words)
        wait = self._waits.of(rule)
        if self._on_decision is not None:
            self._on_decision(EndpointingDecision(text, rule, wait, time.time()))
        if rule == "terminal":
            return LIKELY  # the framework waits min_delay, which is the terminal wait
        if wait != self._max_delay and self._session is not None:
            # read by the framework right after this returns (audio_recognition.py: the
            # "unlikely" branch of _bounce_eou_task); only re-created when it changes
            self._max_delay = wait
            self._session.update_options(endpointing_opts={"max_delay": wait})
        return UNLIKELY


def _last_user_text(chat_ctx: llm.ChatContext) -> str:
    for item in reversed(chat_ctx.items):
        if isinstance(item, llm.ChatMessage) and item.role == "user":
            return item.text_content or ""
    return ""
