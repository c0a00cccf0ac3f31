"""The word lists per call language (agent/call/turn_words.yaml) and how a call gets its own."""

from __future__ import annotations

from agent.call.turn_words import languages, turn_words, words_of


def test_words_of_strips_punctuation_and_case_but_keeps_inner_hyphens() -> None:
    assert words_of("Uh-huh, yeah.") == ("uh-huh", "yeah")
    assert words_of("  «Okay»! ") == ("okay",)
    assert words_of("हाँ जी।") == ("हाँ", "जी")
    assert words_of("...") == ()


def test_the_seeds_languages_and_hindi_have_lists() -> None:
    for tag in ("en", "en-in", "hi", "nl"):
        assert tag in languages()
    for tag in ("en", "hi", "nl"):
        words = turn_words(tag)
        assert words.continuation
        assert words.numbers
        assert words.backchannels


def test_a_regional_tag_gets_its_base_language_and_its_own_additions() -> None:
    en, en_in = turn_words("en"), turn_words("en-IN")
    assert en.continuation < en_in.continuation  # "matlab" added
    assert ("haan", "ji") in en_in.backchannels
    assert ("haan", "ji") not in en.backchannels
    assert ("uh-huh",) in en_in.backchannels
    assert turn_words("en-US") == en  # no list of its own: English alone


def test_an_unlisted_language_gets_every_list() -> None:
    every = turn_words("multi")
    for tag in ("en", "hi", "nl"):
        words = turn_words(tag)
        assert words.backchannels <= every.backchannels
        assert words.continuation <= every.continuation
    assert turn_words(None) == every


def test_the_assistants_additions_are_lower_cased_words() -> None:
    words = turn_words("en", extra_backchannels=("Sounds Good!",), extra_continuations=("Plus",))
    assert ("sounds", "good") in words.backchannels
    assert "plus" in words.continuation


def test_every_list_entry_is_lower_case_and_stripped() -> None:
    for tag in languages():
        words = turn_words(tag)
        for word in words.continuation | words.numbers:
            assert word == word.lower().strip(), (tag, word)
            assert " " not in word, (tag, word)
        for phrase in words.backchannels:
            assert phrase == words_of(" ".join(phrase)), (tag, phrase)
