"""One object per call that turns session events into the call's limits and its one ending.

``CallLifecycle`` is driven by plain method calls (the session binding makes them from
livekit events; the simulator and tests make them directly) and acts only through
``LifecycleActions``. It holds no framework objects and reads time only from a ``Clock``, so
the same rules run in production, in the simulator and on a virtual clock in tests.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Literal

import structlog

from agent.call.lifecycle.actions import LifecycleActions
from agent.call.lifecycle.end_phrases import EndPhraseDetector
from agent.call.lifecycle.ending import CallEnd, CallEnding, EndRequest
from agent.call.lifecycle.max_duration import MaxDurationPolicy
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
        self._end_phrases = EndPhraseDetector(self.settings.end_call_phrases)
        self._started = False
        self._transferring = False

    # -- call start -------------------------------------------------------------------------

    def start(self) -> None:
        """The agent is live in the call: start the duration limit and the silence clock."""
        if self._started or self.ending.is_ending:
            return
        self._started = True
        self.ending.mark_started()
        self.max_duration.start()
        self.silence.start()

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

    def on_participant_left(self, reason: str) -> None:
        """The caller left the room, for any disconnect reason: hang up now.

        During a SIP transfer the caller's leg leaving is the transfer working (the REFER moves
        it elsewhere), and it can arrive before the REFER request returns: that is `transferred`.
        """
        if self._transferring:
            self.ending.request_end(EndReason.TRANSFERRED, "caller_left_during_transfer")
            return
        self.ending.request_end(EndReason.USER_HANGUP, reason)

    def on_room_deleted(self) -> None:
        """The room was deleted (backend or operator): nobody is left to talk to."""
        self.ending.request_end(EndReason.USER_HANGUP, "room_deleted")

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
    def started_at(self) -> datetime:
        return self.ending.started_at

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
