"""What tools, telephony and live control may do to a call: a narrow seam, not the LiveCall.

The transfer path, DTMF, outbound dialling, the control channel and the ``end_call`` tool act
on a call only through ``CallHandle``. :class:`~agent.call.live_call.LiveCall` implements it by
binding each verb to the framework (``session.say``, ``generate_reply``, the agent's chat
context) and to the call's own parts (the lifecycle decides the end, the record keeps what
happened, the events tell the backend). So nothing outside ``live_call.py`` reaches into the
session, the lifecycle or the record, and a rule like "a failed transfer puts the call back in
progress" is written once, here, instead of by every caller that can transfer.

Who uses what:

    end_call tool      end
    dtmf.py            is_ending, reply(user_input=...)
    outbound.py        dialing, end
    transfer.py        is_ending, say, add_context, transfer_started, transfer_finished, note
    control/channel    is_ending, say, reply, add_context, end, note_control (+ the transfer)
    phone_line.py      note_caller
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from agent.call.lifecycle.actions import SpokenLine
from agent.contracts.end_reason import EndReason

if TYPE_CHECKING:
    from agent.call.telephony.caller import CallerParty


class CallHandle(Protocol):
    """A live call as its tools, telephony and control channel see it."""

    # -- the conversation ------------------------------------------------------------------

    def say(self, text: str, *, allow_interruptions: bool | None = None) -> SpokenLine:
        """Queue ``text`` to be spoken (after whatever is already queued); interruptible as
        the assistant's turn settings say unless ``allow_interruptions`` is given."""

    def reply(self, *, user_input: str | None = None) -> None:
        """Have the agent answer now; ``user_input`` is a caller turn that did not come through
        the microphone (key presses), kept in the transcript as the caller's."""

    async def add_context(self, text: str) -> None:
        """Put ``text`` in the agent's context as a system message (the LLM sees it next)."""

    # -- the ending ------------------------------------------------------------------------

    @property
    def is_ending(self) -> bool:
        """True from the first end request on: nothing new should start."""

    def end(
        self,
        reason: EndReason,
        detail: str | None = None,
        *,
        goodbye: str | None = None,
        interrupt: bool | None = None,
    ) -> bool:
        """Ask the lifecycle to end the call (``CallEnding.request_end``); True if this request
        decided the end reason."""

    # -- an outbound call ------------------------------------------------------------------

    def dialing(self) -> None:
        """The dial is about to go out: the backend hears ``dialing`` (seed 002), until the
        answer puts the call ``in-progress``."""

    # -- a transfer ------------------------------------------------------------------------

    def transfer_started(self, destination: str) -> None:
        """The REFER is about to go out: the backend hears ``forwarding``, silence pauses."""

    def transfer_finished(self, destination: str, *, ok: bool) -> None:
        """The REFER came back: ok ends the call ``transferred`` (the report names the
        destination); a failure puts the call back ``in-progress``."""

    # -- the record ------------------------------------------------------------------------

    def note(self, text: str) -> None:
        """A system line in the call record (the report's messages), e.g. a failed transfer."""

    def note_control(self, command: str, outcome: str) -> bool:
        """A control command and its outcome (the report's ``control``; refused ones beyond the
        first few are only counted, in ``control_refused``). True if it was listed."""

    def note_caller(self, caller: CallerParty) -> None:
        """Who the caller is: a SIP caller's numbers go into the record (never an info log)."""
