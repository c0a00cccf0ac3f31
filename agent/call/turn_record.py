"""What turn-taking did on one call, into the call record: what ended each caller turn, and what
each stretch of caller speech over the agent's speech did.

An observer of the session's events plus two plain callbacks (the endpointing detector's
decisions, the backchannel filter's drops); every handler is a few comparisons, cheap on the
audio path. No words are kept, only rules, counts and times, so gdpr_mode needs nothing here.

- Endpointing: each decision goes to the record (``note_turn_end``); the caller message it
  ended takes it when that message is recorded.
- Interruptions: caller speech (the VAD's) that starts while the agent is speaking opens an
  episode. The agent going quiet while it is open is its ``quiet_at``. It closes with the
  framework's ``agent_false_interruption`` (``resumed`` / ``not_resumed``) or with the agent's
  message for the speech it talked over: ``stopped`` if that message was interrupted, else
  ``backchannel`` if the filter dropped a backchannel in it, else ``ignored``. A backchannel's
  final comes after the caller's speech, so it may arrive after the agent's sentence ended and
  closed the episode as ``ignored``: within ``LATE_BACKCHANNEL_SECONDS`` of the episode's start
  it turns it into the ``backchannel`` it was.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from livekit.agents import AgentSession, llm
from livekit.agents.voice import events as lk_events

from agent.call.backchannel import BackchannelIgnored
from agent.call.endpointing import EndpointingDecision
from agent.call.turn_words import words_of
from agent.report.record import CallRecord, InterruptionEntry, TurnEnd

LATE_BACKCHANNEL_SECONDS = 3.0
"""A backchannel final this soon after an episode began belongs to it ("uh-huh" is 0.4 s of
speech, its final 0.15-0.5 s after that)."""

Unbind = Callable[[], None]


@dataclass
class _Episode:
    started_at: float
    words: int = 0
    quiet_at: float | None = None
    backchannel: bool = False


class TurnRecorder:
    """Feeds ``record`` with turn ends and interruptions (see the module docstring)."""

    def __init__(self, record: CallRecord) -> None:
        self._record = record
        self._open: _Episode | None = None
        self._agent_state = "initializing"

    # -- endpointing ------------------------------------------------------------------------

    def on_decision(self, decision: EndpointingDecision) -> None:
        self._record.note_turn_end(
            TurnEnd(decision.transcript, decision.rule, decision.wait_seconds)
        )

    # -- interruptions ----------------------------------------------------------------------

    def on_backchannel(self, ignored: BackchannelIgnored) -> None:
        last = self._record.interruptions[-1] if self._record.interruptions else None
        if (
            self._open is None
            and last is not None
            and last.outcome == "ignored"
            and ignored.at - last.started_at < LATE_BACKCHANNEL_SECONDS
        ):
            last.outcome, last.words = "backchannel", max(last.words, ignored.words)
            return
        episode = self._open or self._start(ignored.at)
        episode.backchannel = True
        episode.words = max(episode.words, ignored.words)

    def watch(self, session: AgentSession[Any]) -> Unbind:
        handlers: list[tuple[Any, Callable[[Any], None]]] = [
            ("user_state_changed", self._on_user_state),
            ("agent_state_changed", self._on_agent_state),
            ("user_input_transcribed", self._on_transcribed),
            ("agent_false_interruption", self._on_false_interruption),
            ("conversation_item_added", self._on_item),
        ]
        for name, handler in handlers:
            session.on(name, handler)

        def unbind() -> None:
            for name, handler in handlers:
                session.off(name, handler)

        return unbind

    def _start(self, at: float) -> _Episode:
        self._open = _Episode(started_at=at)
        return self._open

    def _close(self, entry: InterruptionEntry) -> None:
        self._open = None
        self._record.add_interruption(entry)

    def _on_user_state(self, ev: lk_events.UserStateChangedEvent) -> None:
        if ev.new_state == "speaking" and self._agent_state == "speaking" and self._open is None:
            self._start(ev.created_at)

    def _on_agent_state(self, ev: lk_events.AgentStateChangedEvent) -> None:
        self._agent_state = ev.new_state
        episode = self._open
        if episode is not None and ev.old_state == "speaking" and episode.quiet_at is None:
            episode.quiet_at = ev.created_at

    def _on_transcribed(self, ev: lk_events.UserInputTranscribedEvent) -> None:
        if self._open is not None:
            self._open.words = max(self._open.words, len(words_of(ev.transcript)))

    def _on_false_interruption(self, ev: lk_events.AgentFalseInterruptionEvent) -> None:
        episode = self._open
        if episode is None:
            return
        self._close(
            InterruptionEntry(
                started_at=episode.started_at,
                outcome="resumed" if ev.resumed else "not_resumed",
                words=episode.words,
                quiet_at=episode.quiet_at,
                resumed_at=ev.created_at if ev.resumed else None,
            ),
        )

    def _on_item(self, ev: lk_events.ConversationItemAddedEvent) -> None:
        item, episode = ev.item, self._open
        if episode is None or not isinstance(item, llm.ChatMessage) or item.role != "assistant":
            return
        if item.interrupted:
            entry = InterruptionEntry(
                episode.started_at, "stopped", episode.words, quiet_at=episode.quiet_at
            )
        else:
            # the agent went quiet because its sentence ended, not because of the caller
            entry = InterruptionEntry(
                episode.started_at,
                "backchannel" if episode.backchannel else "ignored",
                episode.words,
            )
        self._close(entry)
