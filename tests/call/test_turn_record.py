"""The turn recorder: each stretch of caller speech over the agent, and what it did, from the
session's own events (emitted on a real, unstarted AgentSession with explicit times: no sleeping,
the late-backchannel window is arithmetic on those times). Async only because an AgentSession
wants a running loop."""

from __future__ import annotations

from typing import Any

from livekit.agents import AgentSession, llm
from livekit.agents.voice import events as ev

from agent.call.backchannel import BackchannelIgnored
from agent.call.endpointing import EndpointingDecision
from agent.call.turn_record import LATE_BACKCHANNEL_SECONDS, TurnRecorder
from agent.report.record import CallRecord, InterruptionEntry

T = 1_000.0


class _Call:
    """A session in the states a call goes through, and the recorder watching it."""

    def __init__(self) -> None:
        self.session: AgentSession[Any] = AgentSession()
        self.record = CallRecord(call_id="c1")
        self.turns = TurnRecorder(self.record)
        self.unbind = self.turns.watch(self.session)

    def agent(self, old: Any, new: Any, at: float) -> None:
        self.session.emit(
            "agent_state_changed",
            ev.AgentStateChangedEvent(old_state=old, new_state=new, created_at=at),
        )

    def caller(self, old: Any, new: Any, at: float) -> None:
        self.session.emit(
            "user_state_changed",
            ev.UserStateChangedEvent(old_state=old, new_state=new, created_at=at),
        )

    def heard(self, text: str, at: float) -> None:
        self.session.emit(
            "user_input_transcribed",
            ev.UserInputTranscribedEvent(transcript=text, is_final=False, created_at=at),
        )

    def agent_message(self, *, interrupted: bool, at: float) -> None:
        item = llm.ChatMessage(role="assistant", content=["..."], interrupted=interrupted)
        self.session.emit(
            "conversation_item_added", ev.ConversationItemAddedEvent(item=item, created_at=at)
        )

    def false_interruption(self, *, resumed: bool, at: float) -> None:
        self.session.emit(
            "agent_false_interruption",
            ev.AgentFalseInterruptionEvent(resumed=resumed, created_at=at),
        )

    def speaking(self, at: float) -> None:
        self.agent("thinking", "speaking", at)


async def test_a_real_interruption_is_stopped_with_the_time_to_quiet() -> None:
    call = _Call()
    call.speaking(T)
    call.caller("listening", "speaking", T + 1.0)
    call.heard("Wait,", T + 1.25)
    call.agent("speaking", "listening", T + 1.27)  # paused on the first word
    call.heard("Wait, stop", T + 1.5)
    call.agent_message(interrupted=True, at=T + 1.6)  # the final cut the paused speech

    [entry] = call.record.interruptions
    assert entry == InterruptionEntry(T + 1.0, "stopped", words=2, quiet_at=T + 1.27)


async def test_a_backchannel_keeps_the_agent_talking() -> None:
    call = _Call()
    call.speaking(T)
    call.caller("listening", "speaking", T + 1.0)
    call.caller("speaking", "listening", T + 1.6)
    call.turns.on_backchannel(BackchannelIgnored(at=T + 1.75, words=1))
    call.agent("speaking", "listening", T + 4.0)  # its sentence ended
    call.agent_message(interrupted=False, at=T + 4.0)

    [entry] = call.record.interruptions
    # the agent went quiet at its sentence's end, not for the caller: no quiet time
    assert entry == InterruptionEntry(T + 1.0, "backchannel", words=1)


async def test_a_backchannel_final_after_the_sentence_ended_still_counts_as_one() -> None:
    call = _Call()
    call.speaking(T)
    call.caller("listening", "speaking", T + 3.8)  # "yeah" over the last words
    call.agent("speaking", "listening", T + 4.0)
    call.agent_message(interrupted=False, at=T + 4.0)  # closed as ignored: no words yet
    assert call.record.interruptions[0].outcome == "ignored"
    late = T + 3.8 + LATE_BACKCHANNEL_SECONDS - 0.1
    call.turns.on_backchannel(BackchannelIgnored(at=late, words=1))
    assert call.record.interruptions == [InterruptionEntry(T + 3.8, "backchannel", words=1)]


async def test_a_backchannel_too_late_for_the_last_episode_opens_its_own() -> None:
    call = _Call()
    call.speaking(T)
    call.caller("listening", "speaking", T + 1.0)
    call.agent_message(interrupted=False, at=T + 2.0)
    call.turns.on_backchannel(BackchannelIgnored(at=T + 1.0 + LATE_BACKCHANNEL_SECONDS, words=1))
    assert [e.outcome for e in call.record.interruptions] == ["ignored"]
    call.agent_message(interrupted=False, at=T + 9.0)
    assert [e.outcome for e in call.record.interruptions] == ["ignored", "backchannel"]


async def test_noise_with_no_words_is_ignored() -> None:
    call = _Call()
    call.speaking(T)
    call.caller("listening", "speaking", T + 1.0)
    call.caller("speaking", "listening", T + 1.8)
    call.agent_message(interrupted=False, at=T + 5.0)
    assert call.record.interruptions == [InterruptionEntry(T + 1.0, "ignored", words=0)]


async def test_a_false_interruption_resumed_from() -> None:
    call = _Call()
    call.speaking(T)
    call.caller("listening", "speaking", T + 1.0)
    call.agent("speaking", "listening", T + 1.2)  # paused on sound alone (min words 0)
    call.caller("speaking", "listening", T + 1.8)
    call.false_interruption(resumed=True, at=T + 3.0)  # 1.0 s after the VAD's end + 0.2
    call.agent("listening", "speaking", T + 3.0)
    call.agent_message(interrupted=False, at=T + 6.0)  # belongs to no open episode

    assert call.record.interruptions == [
        InterruptionEntry(T + 1.0, "resumed", words=0, quiet_at=T + 1.2, resumed_at=T + 3.0)
    ]


async def test_a_false_interruption_not_resumed() -> None:
    call = _Call()
    call.speaking(T)
    call.caller("listening", "speaking", T + 1.0)
    call.agent("speaking", "listening", T + 1.2)
    call.false_interruption(resumed=False, at=T + 3.0)
    assert [e.outcome for e in call.record.interruptions] == ["not_resumed"]


async def test_caller_speech_while_the_agent_is_quiet_is_no_interruption() -> None:
    call = _Call()
    call.caller("listening", "speaking", T)
    call.caller("speaking", "listening", T + 1.0)
    call.speaking(T + 1.5)
    call.agent_message(interrupted=False, at=T + 3.0)
    assert call.record.interruptions == []


async def test_unbind_stops_watching() -> None:
    call = _Call()
    call.unbind()
    call.speaking(T)
    call.caller("listening", "speaking", T + 1.0)
    call.agent_message(interrupted=True, at=T + 2.0)
    assert call.record.interruptions == []


async def test_decisions_go_to_the_record() -> None:
    call = _Call()
    call.turns.on_decision(EndpointingDecision("My number is 415.", "number", 1.2, T))
    call.record.record_chat_item(llm.ChatMessage(role="user", content=["My number is 415."]))
    [message] = call.record.messages()
    assert message.metrics == {"end_of_turn_rule": "number", "end_of_turn_wait_ms": 1200.0}
