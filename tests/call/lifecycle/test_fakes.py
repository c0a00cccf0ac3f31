"""A stand-in for the voice session at the lifecycle's framework boundary, on a virtual clock.

``ScriptedSession`` implements ``LifecycleActions`` the way livekit's ``AgentSession``
behaves towards it: lines queue and play one after another, each for a fixed time; the agent
state is ``speaking`` while a line plays and ``listening`` after; an assistant line is
committed to the conversation once it has played; ``interrupt()`` cuts off the current and
queued lines; TTS can be "down" (lines never finish). It reports back into the
``CallLifecycle`` exactly as the session binding does. The tests in this file pin the
stand-in's own behaviour so the lifecycle tests can rely on it.
"""

from __future__ import annotations

import pytest

from agent.call.lifecycle import SilenceSettings
from tests.support.lifecycle_fakes import LINE_SECONDS, make_call

# -- the stand-in's own behaviour ------------------------------------------------------------


def test_lines_queue_and_play_one_after_another() -> None:
    clock, session, _ = make_call(silence=SilenceSettings(enabled=False))
    first = session.say("one", allow_interruptions=True)
    second = session.say("two", allow_interruptions=True)
    clock.advance(LINE_SECONDS)
    assert first.done
    assert not second.done
    clock.advance(LINE_SECONDS)
    assert second.done
    assert not second.interrupted


def test_interrupt_cuts_off_playing_and_queued_lines() -> None:
    clock, session, _ = make_call(silence=SilenceSettings(enabled=False))
    first = session.say("one", allow_interruptions=True)
    second = session.agent_reply("two")
    clock.advance(0.5)
    session.interrupt()
    assert first.interrupted
    assert second.interrupted
    assert session.interrupts == [0.5]


def test_lines_never_finish_while_tts_is_down() -> None:
    clock, session, _ = make_call(silence=SilenceSettings(enabled=False))
    session.tts_down = True
    line = session.say("one", allow_interruptions=True)
    clock.advance(100.0)
    assert not line.done


@pytest.mark.parametrize("seconds", [0.5, 7.0])
def test_agent_reply_plays_for_its_own_length(seconds: float) -> None:
    clock, session, _ = make_call(silence=SilenceSettings(enabled=False))
    line = session.agent_reply("hello", seconds)
    clock.advance(seconds - 0.01)
    assert not line.done
    clock.advance(0.01)
    assert line.done
