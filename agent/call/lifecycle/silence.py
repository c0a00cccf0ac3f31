"""Prompt a caller who has gone quiet, and end the call if they stay quiet.

With the defaults (timeout 7.5 s, two prompts), a caller who never answers hears:

    t = 0       the agent starts listening
    t = 7.5 s   prompt 1 ("Are you still there?")          -- 7.5 s of listening
    prompt 1 finishes playing at P1; t = P1 + 7.5 s   prompt 2
    prompt 2 finishes playing at P2; t = P2 + 7.5 s   final_message, end silence_timeout

Prompts cycle through ``prompts`` (prompt n is ``prompts[(n - 1) % len(prompts)]``); an empty
list means no prompts: the first timeout goes straight to the final message.

When the clock runs. The timeout measures *listening* time: it runs only while the agent is
listening (agent state ``listening`` or ``idle``), the user is not speaking, no tool call is
running, no transfer is in progress and no prompt is playing. Anything else pauses it.

Pause semantics (the choice, made explicitly):

- Agent-side pauses restart the full timeout. After the agent speaks (a reply, a prompt, a
  tool message), thinks, runs a tool or attempts a transfer, the caller gets a fresh
  ``timeout_seconds`` from the moment the agent is listening again. This is what hosted voice
  platforms do: silence is measured from the end of the agent's last words.
- A user-side pause (user state ``speaking``) resumes the remaining time. VAD fires on line
  noise, breathing and TV in the background; if such a blip could restart the timeout, a noisy
  line would never be prompted. So ``speaking`` only holds the clock, and when the user state
  returns to ``listening`` it carries on with whatever was left.

The noise rule. Only words count as the caller speaking: the stage (prompts answered so
far) resets to zero, and the full timeout restarts, on a *final* transcript that contains at
least one word character (regex ``\\w``). A VAD speech-start with nothing transcribed, an
empty final transcript, or one of pure punctuation/noise tokens (``"..."``, ``"-"``) resets
nothing; interim transcripts reset nothing either (the final one follows if the words were real).

Once the call is ending, the policy stops for good: no timers, no more prompts.
"""

from __future__ import annotations

import re
from typing import Any

import structlog

from agent.call.lifecycle.actions import LifecycleActions
from agent.call.lifecycle.ending import CallEnding
from agent.call.lifecycle.settings import SilenceSettings
from agent.clock import Clock, TimerHandle
from agent.contracts.end_reason import EndReason

log = structlog.get_logger(__name__)

_WORD = re.compile(r"\w")

# The only pause that keeps the remaining time; every other pause restarts the full timeout.
_USER_SPEAKING = "user_speaking"
_NOT_STARTED = "not_started"
_AGENT_BUSY = "agent_busy"
_PROMPT_PLAYING = "prompt_playing"
_TRANSFER = "transfer"
_LISTENING_STATES = frozenset({"listening", "idle"})


def is_real_speech(text: str) -> bool:
    """True when a transcript holds at least one word character: noise transcribes as nothing."""
    return _WORD.search(text) is not None


class SilencePolicy:
    """The silence stages of one call, driven by session events and one timer."""

    def __init__(
        self,
        clock: Clock,
        settings: SilenceSettings,
        actions: LifecycleActions,
        ending: CallEnding,
    ) -> None:
        self._clock = clock
        self._settings = settings
        self._actions = actions
        self._ending = ending
        self._stage = 0
        # The agent's state is unknown until the session reports it: assume it is busy.
        self._pauses: set[str] = {_NOT_STARTED, _AGENT_BUSY}
        self._remaining = settings.timeout_seconds
        self._restart_on_resume = True
        self._timer: TimerHandle | None = None
        self._armed_at = 0.0
        self._stopped = not settings.enabled
        ending.add_ending_listener(self._on_ending)

    # -- inputs -----------------------------------------------------------------------------

    def start(self) -> None:
        self._resume(_NOT_STARTED)

    def stop(self) -> None:
        """Stop for good: cancel the timer, never prompt again."""
        self._stopped = True
        self._disarm()

    def agent_state(self, state: str) -> None:
        if state in _LISTENING_STATES:
            self._resume(_AGENT_BUSY)
        else:
            self._pause(_AGENT_BUSY)

    def user_state(self, state: str) -> None:
        if state == "speaking":
            self._pause(_USER_SPEAKING)
        else:  # "listening" or "away": the caller makes no sound
            self._resume(_USER_SPEAKING)

    def user_transcript(self, text: str, *, final: bool) -> None:
        if not final or not is_real_speech(text) or self._stopped:
            return
        self._stage = 0
        self._restart_on_resume = True
        if self._timer is not None:  # words arrived after VAD said the user stopped: restart
            self._disarm()
            self._arm()

    def tool_started(self, call_id: str) -> None:
        self._pause(f"tool:{call_id}")

    def tool_finished(self, call_id: str) -> None:
        self._resume(f"tool:{call_id}")

    def transfer_started(self) -> None:
        self._pause(_TRANSFER)

    def transfer_finished(self) -> None:
        self._resume(_TRANSFER)

    # -- state, for the log and for tests ---------------------------------------------------

    @property
    def stage(self) -> int:
        """Prompts spoken since the caller last said something."""
        return self._stage

    @property
    def running(self) -> bool:
        """True while the silence clock is counting."""
        return self._timer is not None

    # -- the clock --------------------------------------------------------------------------

    def _pause(self, reason: str) -> None:
        if reason != _USER_SPEAKING:
            self._restart_on_resume = True
        self._pauses.add(reason)
        if self._timer is not None:
            self._disarm()

    def _resume(self, reason: str) -> None:
        self._pauses.discard(reason)
        if not self._pauses and self._timer is None and not self._stopped:
            self._arm()

    def _arm(self) -> None:
        if self._restart_on_resume:
            self._remaining = self._settings.timeout_seconds
            self._restart_on_resume = False
        self._armed_at = self._clock.now()
        self._timer = self._clock.call_later(self._remaining, self._on_timeout)

    def _disarm(self) -> None:
        if self._timer is None:
            return
        self._timer.cancel()
        self._timer = None
        # Keep what is left: only a user-side pause resumes it (see module docstring).
        self._remaining = max(0.0, self._remaining - (self._clock.now() - self._armed_at))

    def _on_timeout(self) -> None:
        self._timer = None
        self._restart_on_resume = True
        if self._stopped or self._ending.is_ending:
            return
        prompts = self._settings.prompts
        if self._stage < self._settings.max_prompts and prompts:
            text = prompts[self._stage % len(prompts)]
            self._stage += 1
            log.info("silence_prompt", stage=self._stage, of=self._settings.max_prompts)
            self._pause(_PROMPT_PLAYING)  # the next timeout counts from the end of this prompt
            try:
                line = self._actions.say(text, allow_interruptions=True)
            except Exception:
                log.exception("silence_prompt_failed")
                self._resume(_PROMPT_PLAYING)
                return
            line.add_done_callback(self._on_prompt_done)
            return
        log.info("silence_timeout", prompts=self._stage)
        self._ending.request_end(
            EndReason.SILENCE_TIMEOUT,
            f"no speech after {self._stage} prompts",
            goodbye=self._settings.final_message or None,
        )

    def _on_prompt_done(self, _line: Any) -> None:
        self._resume(_PROMPT_PLAYING)

    def _on_ending(self, _reason: EndReason) -> None:
        self.stop()
