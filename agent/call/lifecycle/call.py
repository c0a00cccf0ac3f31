"""One object per call that turns session events into the call's limits and its one ending.

``CallLifecycle`` is driven by plain method calls (the session binding makes them from
livekit events; the simulator and tests make them directly) and acts only through
``LifecycleActions``. It holds no framework objects and reads time only from a ``Clock``, so
the same rules run in production, in the simulator and on a virtual clock in tests.

A call's life, in the order of the calls made on it:

    on_agent_joined()          the agent is in the room (agent_joined_at)
    await_caller()             the join timeout starts (join.py)
    on_participant_joined(p)   anyone arriving; the first the CallerRule accepts is the caller
    start()                    the caller answered (their audio is up): limits, silence and
                               started_at start here, the join timeout stops
    on_participant_left(i, r)  anyone leaving; only the caller ends the call, per the
                               disconnect table (disconnects.py)
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Literal

import structlog

from agent.call.lifecycle.actions import LifecycleActions
from agent.call.lifecycle.disconnects import agent_disconnected, caller_disconnected
from agent.call.lifecycle.end_phrases import EndPhraseDetector
from agent.call.lifecycle.ending import CallEnd, CallEnding, EndRequest
from agent.call.lifecycle.join import JoinWait
from agent.call.lifecycle.max_duration import MaxDurationPolicy
from agent.call.lifecycle.parties import CallerRule, CallParties, RoomParty
from agent.call.lifecycle.settings import LifecycleSettings
from agent.call.lifecycle.silence import SilencePolicy
from agent.clock import Clock
from agent.contracts.end_reason import EndReason

log = structlog.get_logger(__name__)

AgentState = Literal["initializing", "idle", "listening", "thinking", "speaking"]
UserState = Literal["speaking", "listening", "away"]

WORKER_SHUTDOWN = "worker_shutdown"
"""``end_detail`` of a call cut short because the worker was told to stop."""


class CallLifecycle:
    """Max duration, silence stages, end phrases and exactly-once ending for one call."""

    def __init__(
        self,
        clock: Clock,
        actions: LifecycleActions,
        settings: LifecycleSettings | None = None,
        *,
        caller_rule: CallerRule | None = None,
        wall_clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.settings = settings or LifecycleSettings()
        self.ending = CallEnding(
            clock, actions, budget=self.settings.goodbye_budget, wall_clock=wall_clock
        )
        self.silence = SilencePolicy(
            clock, self.settings.autonomous_silence_handling, actions, self.ending
        )
        self.max_duration = MaxDurationPolicy(
            clock,
            self.ending,
            max_duration_seconds=self.settings.max_duration_seconds,
            message=self.settings.max_duration_message,
        )
        self.join_wait = JoinWait(
            clock, self.ending, timeout_seconds=self.settings.join_timeout_seconds
        )
        self.parties = CallParties(caller_rule or CallerRule(), clock)
        self.ending.attendance = lambda: self.parties.attendance(self.ending.wall_at)
        self._caller_listeners: list[Callable[[RoomParty], None]] = []
        self._end_phrases = EndPhraseDetector(self.settings.end_call_phrases)
        self._started = False
        self._transferring = False

    # -- joining and call start -------------------------------------------------------------

    def on_agent_joined(self) -> None:
        """The agent is in the room: ``agent_joined_at`` (the caller is usually not, yet)."""
        self.ending.mark_agent_joined()

    def await_caller(self) -> None:
        """Start waiting for the caller to answer: the join timeout runs from here."""
        if not self._started:
            self.join_wait.start()

    def add_caller_listener(self, listener: Callable[[RoomParty], None]) -> None:
        """``listener(party)`` runs once, when the caller is bound (the phone line's caller)."""
        self._caller_listeners.append(listener)

    @property
    def caller(self) -> RoomParty | None:
        """The bound caller, once one has joined."""
        return self.parties.caller

    def start(self) -> None:
        """The caller answered: start the duration limit and the silence clock."""
        if self._started or self.ending.is_ending:
            return
        self._started = True
        self.join_wait.stop()
        self.ending.mark_started()
        self.max_duration.start()
        self.silence.start()

    @property
    def started(self) -> bool:
        return self._started

    # -- session events ---------------------------------------------------------------------

    def on_agent_state(self, state: AgentState) -> None:
        self.ending.agent_speaking(state == "speaking")
        self.silence.agent_state(state)

    def on_user_state(self, state: UserState) -> None:
        self.silence.user_state(state)

    def on_user_transcript(self, text: str, final: bool) -> None:
        self.silence.user_transcript(text, final=final)

    def on_agent_speech_committed(self, text: str) -> None:
        """The assistant's line has been spoken (committed to the conversation)."""
        if self.ending.is_ending:
            return
        phrase = self._end_phrases.find(text)
        if phrase is not None:
            # End after this sentence has been heard: nothing interrupted, no extra goodbye.
            self.ending.request_end(EndReason.AGENT_HANGUP, "end_call_phrase", interrupt=False)

    def on_playout_finished(self) -> None:
        """A line the session was playing has finished (heard in full or cut off)."""
        self.ending.playout_finished()

    def on_tool_started(self, call_id: str) -> None:
        self.silence.tool_started(call_id)

    def on_tool_finished(self, call_id: str) -> None:
        self.silence.tool_finished(call_id)

    def on_transfer_started(self) -> None:
        self._transferring = True
        self.silence.transfer_started()

    def on_transfer_finished(self, ok: bool) -> None:
        self._transferring = False
        if ok:
            self.ending.request_end(EndReason.TRANSFERRED, None)
        else:
            self.silence.transfer_finished()

    # -- the room and the process -----------------------------------------------------------

    def on_participant_joined(self, party: RoomParty) -> None:
        """Someone is in the room; the first the caller rule accepts becomes the caller."""
        if not self.parties.joined(party):
            log.info("observer_joined", kind=party.kind, observers=self.parties.observers_present)
            return
        log.info("caller_joined", kind=party.kind, chosen_by=self.parties.rule.describe())
        self.join_wait.caller_seen()
        for listener in self._caller_listeners:
            try:
                listener(party)
            except Exception:
                log.exception("caller_listener_failed")

    def on_participant_left(self, identity: str, reason: str) -> None:
        """Someone left the room for ``reason`` (LiveKit's name): only the caller counts."""
        role = self.parties.left(identity, reason)
        if role == "caller":
            self.on_caller_left(reason)
        elif role == "observer":
            log.info("observer_left", disconnect_reason=reason)

    def on_caller_left(self, reason: str) -> None:
        """The caller left the room for ``reason``: end now, as the disconnect table says
        (hang-up -> user_hangup, lost connection -> error / connection_lost).

        During a SIP transfer the caller's leg leaving is the transfer working (the REFER moves
        it elsewhere), and it can arrive before the REFER request returns: that is `transferred`.
        """
        if self._transferring:
            self.ending.request_end(EndReason.TRANSFERRED, "caller_left_during_transfer")
            return
        outcome = caller_disconnected(reason)
        log.info("caller_left", disconnect_reason=reason, end_reason=outcome.reason.value)
        # Nobody is left to hear anything: interrupt, no goodbye, hang up at once (also when
        # the call was already ending with a goodbye playing; its reason then stays).
        self.ending.request_end(outcome.reason, outcome.detail, interrupt=True)
        self.ending.caller_gone()

    def on_agent_disconnected(self, reason: str) -> None:
        """The agent's own connection to the room ended for ``reason`` (LiveKit's name)."""
        outcome = agent_disconnected(reason)
        self.ending.request_end(outcome.reason, outcome.detail)

    def on_room_deleted(self) -> None:
        """The room was deleted (backend or operator): nobody is left to talk to."""
        self.on_agent_disconnected("ROOM_DELETED")

    def on_error(self, component: str, detail: str) -> None:
        """An unrecoverable failure in ``component`` (e.g. "tts", "llm"): end now, no goodbye."""
        self.ending.request_end(EndReason.ERROR, f"{component}: {detail}")

    def on_worker_shutdown(self) -> None:
        """The worker is stopping and this call cannot be drained to its natural end."""
        self.ending.request_end(EndReason.ERROR, WORKER_SHUTDOWN)

    # -- programmatic end (end_call tool, control end-call, voicemail, ...) -----------------

    def request_end(
        self,
        reason: EndReason,
        detail: str | None = None,
        *,
        goodbye: str | None = None,
        interrupt: bool | None = None,
    ) -> bool:
        """See ``CallEnding.request_end``: the first request decides; returns whether it did."""
        return self.ending.request_end(reason, detail, goodbye=goodbye, interrupt=interrupt)

    def add_ended_listener(self, listener: Callable[[CallEnd], None]) -> None:
        """``listener(record)`` runs once, just before ``hang_up()``."""
        self.ending.add_ended_listener(listener)

    # -- results ----------------------------------------------------------------------------

    @property
    def is_ending(self) -> bool:
        return self.ending.is_ending

    @property
    def is_ended(self) -> bool:
        return self.ending.is_ended

    @property
    def end_reason(self) -> EndReason | None:
        return self.ending.end_reason

    @property
    def end_detail(self) -> str | None:
        return self.ending.end_detail

    @property
    def started_at(self) -> datetime | None:
        """When the call was answered; None until then."""
        return self.ending.started_at

    @property
    def timeline_origin(self) -> datetime:
        """What offsets in the call count from: the answer, else the agent's join."""
        return self.ending.timeline_origin

    @property
    def ended_at(self) -> datetime | None:
        return self.ending.ended_at

    @property
    def duration_seconds(self) -> float | None:
        return self.ending.duration_seconds

    @property
    def record(self) -> CallEnd | None:
        return self.ending.record

    @property
    def ignored_requests(self) -> tuple[EndRequest, ...]:
        return self.ending.ignored_requests
