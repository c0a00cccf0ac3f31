"""What the call lifecycle asks of the voice session, as a protocol of three verbs.

The lifecycle decides *when* to speak, interrupt and hang up; the session binding
(``agent.call.lifecycle.binding``) decides *how* with livekit's ``AgentSession``. Keeping that
boundary a protocol lets every timer rule be tested on a virtual clock against a recording
stand-in for the framework, with no server, no audio and no provider.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol


class SpokenLine(Protocol):
    """A line handed to the session to speak: tells us when playout is over.

    livekit's ``SpeechHandle`` satisfies this as is. The callback fires once the line has
    been heard to the end or was cut off (interrupted, failed); either way it is over.
    """

    def add_done_callback(self, callback: Callable[[Any], None]) -> None:
        """Call ``callback(line)`` once playout is over (at once if it already is)."""


class LifecycleActions(Protocol):
    """The session binding's side of the lifecycle: speak, stop speaking, end the job."""

    def say(self, text: str, *, allow_interruptions: bool) -> SpokenLine:
        """Queue ``text`` to be spoken after whatever is already queued."""

    def interrupt(self) -> None:
        """Stop current speech, generation and tool replies now, even uninterruptible ones."""

    def hang_up(self) -> None:
        """Shut the call's job down. Called exactly once per call, after the end is decided."""
