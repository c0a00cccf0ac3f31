"""Transcript endpointing: the rule each transcript ends in, and the wait the detector hands the
framework for it (no session started, no sleeping: the framework's wait is its own
``asyncio.wait_for``, exercised by the simulated calls in tests/simulator/test_turn_taking.py)."""

from __future__ import annotations

from typing import Any

import pytest
from livekit.agents import AgentSession, llm

from agent.call.endpointing import (
    LIKELY,
    UNLIKELY,
    EndpointingDecision,
    TranscriptEndpointing,
    TranscriptWaits,
    classify,
)
from agent.call.turn_words import turn_words

EN = turn_words("en")


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        # finished sentences: answered after the terminal wait
        ("Friday at eight, please.", "terminal"),
        ("A table for two.", "terminal"),  # one number word is no group
        ("At 8:30.", "terminal"),  # a time, not a number read in groups
        ("It costs $25.", "terminal"),
        ("Room 12.", "terminal"),  # two digits: not a phone number's group
        ('He said "yes."', "terminal"),  # closing quotes ignored
        ("What is it for?", "terminal"),  # a question is finished whatever its last word
        ("And?", "terminal"),
        ("Is it 415?", "terminal"),
        ("Great!", "terminal"),
        ("我想订位。", "terminal"),
        # numbers read in groups
        ("My number is 415.", "number"),
        ("Card 4111-1111.", "number"),
        ("(415) 555-0134.", "number"),
        ("five five five.", "number"),
        ("It's oh one three.", "number"),
        # mid-phrase
        ("My number is 415", "mid_phrase"),  # no punctuation at all
        ("I'd like a table for", "mid_phrase"),
        ("At eight, and", "mid_phrase"),
        ("At eight,", "mid_phrase"),
        ("Okay, so.", "mid_phrase"),  # a pause punctuated after a conjunction
        ("I want, um.", "mid_phrase"),
        ("A table for the.", "mid_phrase"),
        ("Let me think...", "mid_phrase"),
        ("Let me think…", "mid_phrase"),
        ("", "mid_phrase"),
        ("   ", "mid_phrase"),
    ],
)
def test_english_rules(text: str, rule: str) -> None:
    assert classify(text, EN) == rule


@pytest.mark.parametrize(
    ("language", "text", "rule"),
    [
        ("hi", "मेरा नाम राज है।", "terminal"),  # the danda ends a sentence
        ("hi", "मुझे एक टेबल चाहिए और।", "mid_phrase"),  # "and" before the danda
        ("hi", "mujhe table chahiye aur.", "mid_phrase"),  # romanised
        ("hi", "mera number hai ek do.", "number"),
        ("en-IN", "For four people, matlab.", "mid_phrase"),  # en-IN's own addition
        ("en-IN", "I want a table and.", "mid_phrase"),  # the English list too
        ("en", "For four people, matlab.", "terminal"),  # not in plain English
        ("nl", "Ik wil graag een tafel voor.", "mid_phrase"),
        ("nl", "Mijn nummer is vier vijf.", "number"),
        ("nl", "Vrijdag om acht uur.", "terminal"),
    ],
)
def test_rules_in_the_call_language(language: str, text: str, rule: str) -> None:
    assert classify(text, turn_words(language)) == rule


def test_an_assistant_adds_continuation_words() -> None:
    assert classify("Quiero una mesa, pues vale.", turn_words("es")) == "terminal"
    extended = turn_words("es", extra_continuations=("Vale",))
    assert classify("Quiero una mesa, pues vale.", extended) == "mid_phrase"


def test_waits_per_rule() -> None:
    waits = TranscriptWaits(terminal=0.2, number=1.2, mid_phrase=1.5)
    assert [waits.of(r) for r in ("terminal", "number", "mid_phrase")] == [0.2, 1.2, 1.5]


def _context(*user_lines: str) -> llm.ChatContext:
    ctx = llm.ChatContext.empty()
    ctx.add_message(role="assistant", content="Hello, how can I help?")
    for line in user_lines:
        ctx.add_message(role="user", content=line)
    return ctx


async def test_detector_answers_likely_for_a_finished_sentence_and_sets_the_wait_otherwise() -> (
    None
):
    decisions: list[EndpointingDecision] = []
    detector = TranscriptEndpointing(
        TranscriptWaits(0.2, 1.2, 1.5), EN, on_decision=decisions.append
    )
    session: AgentSession[Any] = AgentSession()
    session.update_options(endpointing_opts={"min_delay": 0.2, "max_delay": 1.5})
    detector.attach(session)

    # finished: the framework waits min_delay (the terminal wait); max_delay untouched
    assert await detector.predict_end_of_turn(_context("Friday at eight, please.")) == LIKELY
    assert session.options.endpointing["max_delay"] == 1.5
    # a number: "unlikely", and the framework's max_delay is now the number wait
    assert await detector.predict_end_of_turn(_context("My number is 415.")) == UNLIKELY
    assert session.options.endpointing["max_delay"] == 1.2
    # mid-phrase: the longest wait
    assert await detector.predict_end_of_turn(_context("I'd like a table for")) == UNLIKELY
    assert session.options.endpointing["max_delay"] == 1.5
    # the threshold the framework compares against sits between the two answers
    assert UNLIKELY < await detector.unlikely_threshold(None) < LIKELY  # type: ignore[operator]

    assert [(d.rule, d.wait_seconds) for d in decisions] == [
        ("terminal", 0.2),
        ("number", 1.2),
        ("mid_phrase", 1.5),
    ]
    assert decisions[1].transcript == "My number is 415."


async def test_detector_reads_the_last_caller_message() -> None:
    detector = TranscriptEndpointing(TranscriptWaits(), EN)
    # the framework appends the transcript so far as the last user message
    assert await detector.predict_end_of_turn(_context("I'd like.", "a table for")) == UNLIKELY
    assert await detector.predict_end_of_turn(_context("a table for", "two.")) == LIKELY
