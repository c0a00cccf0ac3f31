"""The backchannel filter in the agent's STT node: what it drops, and only over the agent."""

from __future__ import annotations

from livekit.agents import stt
from livekit.agents.language import LanguageCode

from agent.call.backchannel import BackchannelFilter, BackchannelIgnored, is_backchannel
from agent.call.turn_words import turn_words

FINAL = stt.SpeechEventType.FINAL_TRANSCRIPT
INTERIM = stt.SpeechEventType.INTERIM_TRANSCRIPT
START = stt.SpeechEventType.START_OF_SPEECH
EOS = stt.SpeechEventType.END_OF_SPEECH
USAGE = stt.SpeechEventType.RECOGNITION_USAGE


def _ev(kind: stt.SpeechEventType, text: str = "") -> stt.SpeechEvent:
    alts = [stt.SpeechData(language=LanguageCode("en"), text=text)] if text else []
    return stt.SpeechEvent(type=kind, alternatives=alts)


def test_is_backchannel() -> None:
    en = turn_words("en").backchannels
    assert is_backchannel("Mm-hm, yeah.", en)
    assert is_backchannel("Uh huh.", en)
    assert is_backchannel("Got it. Okay.", en)  # longest phrase first: "got it"
    assert not is_backchannel("I see it", en)  # "it" is no phrase
    assert not is_backchannel("Yeah, but", en)
    assert not is_backchannel("Wait, stop.", en)
    assert not is_backchannel("", en)
    assert is_backchannel("Haan ji.", turn_words("en-IN").backchannels)
    assert is_backchannel("ठीक है।", turn_words("hi").backchannels)
    assert is_backchannel("Oké, klopt.", turn_words("nl").backchannels)
    assert is_backchannel("Bien.", turn_words("en", extra_backchannels=("bien",)).backchannels)


class _Agent:
    """Whether the agent is speaking, as the session would say."""

    def __init__(self) -> None:
        self.speaking = True


def _filter(agent: _Agent, ignored: list[BackchannelIgnored]) -> BackchannelFilter:
    return BackchannelFilter(
        turn_words("en").backchannels,
        agent_speaking=lambda: agent.speaking,
        now=lambda: 12.5,
        on_ignored=ignored.append,
    )


def test_a_backchannel_over_the_agent_is_dropped_whole() -> None:
    agent, ignored = _Agent(), list[BackchannelIgnored]()
    flt = _filter(agent, ignored)
    said = [(START, ""), (INTERIM, "Uh-huh"), (FINAL, "Uh-huh."), (USAGE, ""), (EOS, "")]
    kept = [flt.keep(_ev(kind, text)) for kind, text in said]
    # start and usage pass (the audio was heard and billed); the words and their end do not
    assert kept == [True, False, False, True, False]
    assert ignored == [BackchannelIgnored(at=12.5, words=1)]


def test_more_than_a_backchannel_passes_as_soon_as_it_is_more() -> None:
    agent, ignored = _Agent(), list[BackchannelIgnored]()
    flt = _filter(agent, ignored)
    assert not flt.keep(_ev(INTERIM, "Okay"))
    assert flt.keep(_ev(INTERIM, "Okay, but wait"))
    assert flt.keep(_ev(FINAL, "Okay, but wait."))
    assert flt.keep(_ev(EOS))
    assert ignored == []


def test_the_same_words_when_the_agent_is_quiet_are_an_answer() -> None:
    agent, ignored = _Agent(), list[BackchannelIgnored]()
    agent.speaking = False
    flt = _filter(agent, ignored)
    assert flt.keep(_ev(INTERIM, "Yes"))
    assert flt.keep(_ev(FINAL, "Yes."))
    assert ignored == []


def test_the_verdict_is_taken_when_the_segment_begins() -> None:
    agent, ignored = _Agent(), list[BackchannelIgnored]()
    flt = _filter(agent, ignored)
    assert not flt.keep(_ev(INTERIM, "Okay"))  # begun over the agent's last words
    agent.speaking = False  # its sentence ended meanwhile
    assert not flt.keep(_ev(FINAL, "Okay."))  # still a backchannel
    assert len(ignored) == 1
    # the next segment begins with the agent quiet: an answer
    assert flt.keep(_ev(FINAL, "Okay."))
