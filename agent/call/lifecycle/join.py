"""The join timeout: how long the agent waits in the room for its caller.

In LiveKit the agent is usually in the room before the caller: a browser is still asking for
microphone permission, a phone is still ringing. The call is *answered* when the bound caller
(parties.py) is in the room and their audio is up both ways (the room says when); only then do
the limits, the silence clock and ``started_at`` start (``CallLifecycle.start``).

A caller who never answers must not hold a job process, nor cost a greeting: the timer is armed
when the wait starts and, unless the caller answers first, ends the call ``no_answer`` with
nothing said. The seed's "room auto-deleted if nobody joins: 60 seconds" is the default
(``VOICE_AGENT_JOIN_TIMEOUT_SECONDS``, per call ``call.join_timeout_seconds``, which may only
shorten it):

    t = 0 s      the agent is in the room: timer armed for 60 s
    t = 4.2 s    the caller's browser joins; its microphone arrives at t = 6.0 s: answered,
                 timer cancelled, max duration runs from t = 6.0 s to t = 606.0 s
    -- or --
    t = 60 s     nobody answered: end ``no_answer``, ``caller_did_not_join`` (nobody came) or
                 ``caller_audio_not_received`` (they joined, their audio never did); hang up
                 at once, nothing spoken, so no TTS request was ever made

An outbound call starts its wait once the callee picked up (the ring window is the dial's own
``answer_timeout_seconds``), so the timer only bounds the callee's audio arriving.
"""

from __future__ import annotations

import structlog

from agent.call.lifecycle.ending import CallEnding
from agent.clock import Clock, TimerHandle
from agent.contracts.end_reason import EndReason

log = structlog.get_logger(__name__)

CALLER_DID_NOT_JOIN = "caller_did_not_join"
"""``end_detail`` of a call nobody joined within the join timeout."""
CALLER_AUDIO_NOT_RECEIVED = "caller_audio_not_received"
"""``end_detail`` of a call whose caller joined but whose audio never came up in time."""


class JoinWait:
    """One timer, armed when the agent starts waiting, cancelled when the caller answers."""

    def __init__(self, clock: Clock, ending: CallEnding, *, timeout_seconds: float) -> None:
        self._clock = clock
        self._ending = ending
        self.timeout_seconds = timeout_seconds
        self._timer: TimerHandle | None = None
        self._caller_seen = False
        self._deadline: float | None = None
        ending.add_ending_listener(lambda _reason: self.stop())

    def start(self) -> None:
        """The agent is waiting for its caller (idempotent; a no-op once the call is ending)."""
        if self._timer is not None or self._ending.is_ending:
            return
        self._deadline = self._clock.now() + self.timeout_seconds
        self._timer = self._clock.call_later(self.timeout_seconds, self._on_timeout)

    def caller_seen(self) -> None:
        """The caller's participant is in the room (their audio may still be on its way)."""
        self._caller_seen = True

    def stop(self) -> None:
        """The caller answered, or the call is ending for another reason."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    @property
    def waiting(self) -> bool:
        return self._timer is not None

    @property
    def deadline(self) -> float | None:
        """Monotonic time at which the wait gives up, once started."""
        return self._deadline

    def _on_timeout(self) -> None:
        self._timer = None
        detail = CALLER_AUDIO_NOT_RECEIVED if self._caller_seen else CALLER_DID_NOT_JOIN
        log.info("join_timeout", timeout_seconds=self.timeout_seconds, detail=detail)
        # Nothing has been said and nothing is playing: no goodbye, nothing to interrupt.
        self._ending.request_end(EndReason.NO_ANSWER, detail, interrupt=False)
