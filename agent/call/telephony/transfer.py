"""Transfer: hand a phone caller to another number or SIP URI, from the LLM or the backend.

One path for both the ``transfer_call`` tool and the control channel's ``transfer`` command:

    say the destination's message (heard in full)
    -> call.transfer_started: status-update "forwarding" (destination), silence prompts paused
    -> SIP REFER via LiveKit
    -> ok:     call.transfer_finished(ok=True): the report names the destination; transferred
    -> failed: call.transfer_finished(ok=False): back in-progress; the failure is noted in the
               record and the LLM's context, the caller is told, the call goes on

Only a SIP caller can be REFERred. A web caller is refused before anything is said: the tool
answers the LLM with an error (kept in the call record as the tool call's error) telling it to
say so; the control channel speaks ``WEB_CALL_REFUSED_LINE`` itself.

The tool does not run the transfer inside the tool call: a line queued with ``session.say``
plays only after the speech that owns the tool call is done, so awaiting it there would wait
on itself. The tool starts the transfer as a task (held here) and stops the LLM's reply.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, Literal

import structlog
from livekit.agents import llm

from agent.call.handle import CallHandle
from agent.call.lifecycle.actions import SpokenLine
from agent.call.telephony.caller import CallerParty
from agent.call.telephony.sip import SipGateway, TransferFailed
from agent.contracts.tool_definitions import TransferCallTool, TransferDestination
from agent.report.redaction import mask_numbers
from agent.worker.logs import gdpr_active

log = structlog.get_logger(__name__)

TRANSFER_FAILED_LINE = "I'm sorry, I couldn't transfer you just now. Let's carry on."
WEB_CALL_REFUSED_LINE = "I'm sorry, I can't transfer this call: it isn't a phone call."
TOOL_NAME = "transfer_call"


@dataclass(frozen=True)
class TransferOutcome:
    status: Literal["transferred", "failed", "refused"]
    detail: str

    def __str__(self) -> str:
        return f"{self.status}: {self.detail}" if self.detail else self.status


class CallTransfer:
    """The transfer path of one call; ``caller`` is set once the caller is in the room."""

    def __init__(self, call: CallHandle, sip: SipGateway | None) -> None:
        self._call = call
        self._sip = sip
        self.caller: CallerParty | None = None
        self._running: asyncio.Task[TransferOutcome] | None = None

    @property
    def in_progress(self) -> bool:
        """A transfer started here has not finished: its message, the REFER, and after a
        failure the line telling the caller (queued before it finishes)."""
        return self._running is not None and not self._running.done()

    def refusal(self) -> str | None:
        """Why a transfer cannot even start now (None: it can)."""
        if self._call.is_ending:
            return "the call is ending"
        running = self._running
        if running is not None and not running.done() and running is not asyncio.current_task():
            return "a transfer is already in progress"
        if self.caller is None or not self.caller.is_sip or self._sip is None:
            return "web call: no SIP participant to refer"
        return None

    def start(
        self, destination: str, message: str | None, *, label: str
    ) -> asyncio.Task[TransferOutcome]:
        """Run the transfer as a task (see the module docstring); the task is held here."""
        self._running = asyncio.create_task(self.run(destination, message, label=label))
        return self._running

    async def run(self, destination: str, message: str | None, *, label: str) -> TransferOutcome:
        """The whole transfer. ``label`` names the destination in logs, numbers masked (a
        destination without a description is labelled by its number)."""
        shown = mask_numbers(label)
        reason = self.refusal()
        if reason is not None:
            log.warning("transfer_refused", destination=shown, reason=reason)
            return TransferOutcome("refused", reason)
        call, sip, caller = self._call, self._sip, self.caller
        assert sip is not None
        assert caller is not None
        if message:
            await heard(call.say(message, allow_interruptions=False))
        if call.is_ending:  # the caller hung up while the message played
            return TransferOutcome("refused", "the call is ending")
        call.transfer_started(destination)
        log.info("transfer_started", destination=shown)
        if not gdpr_active():
            log.debug("transfer_target", transfer_to=destination)
        try:
            await sip.transfer(caller.identity, destination)
        except TransferFailed as exc:
            # The server's message may quote the number dialled: its text only at debug.
            log.warning("transfer_failed", destination=shown, error_type=type(exc).__name__)
            if not gdpr_active():
                log.debug("transfer_failed_reason", reason=str(exc))
            call.transfer_finished(destination, ok=False)
            if not call.is_ending:
                call.note(f"transfer to {label} failed: {exc}")
                await call.add_context(
                    f"The transfer to {label} failed ({exc}). The caller is still on the line."
                )
                call.say(TRANSFER_FAILED_LINE)
            return TransferOutcome("failed", str(exc))
        call.transfer_finished(destination, ok=True)
        log.info("transfer_done", destination=shown)
        return TransferOutcome("transferred", label)


async def heard(line: SpokenLine) -> None:
    """Until ``line`` has played out (heard in full, or cut off)."""
    done = asyncio.get_running_loop().create_future()

    def over(_line: object) -> None:
        if not done.done():
            done.set_result(None)

    line.add_done_callback(over)
    await done


def destination_labels(tool: TransferCallTool) -> dict[str, TransferDestination]:
    """The names the LLM picks from: the description, else the number/URI; made unique."""
    labels: dict[str, TransferDestination] = {}
    for destination in tool.destinations:
        base = destination.description.strip() or destination.number or destination.sip_uri or "?"
        label, n = base, 2
        while label in labels:
            label, n = f"{base} ({n})", n + 1
        labels[label] = destination
    return labels


def transfer_call_tool(config: TransferCallTool, transfer: CallTransfer) -> llm.Tool:
    """The ``transfer_call`` tool: one ``destination`` parameter, an enum of the labels."""
    labels = destination_labels(config)
    listing = "\n".join(f"- {label}" for label in labels)
    schema: dict[str, Any] = {
        "name": TOOL_NAME,
        "description": (
            "Transfer the caller to another team or person. Only when the caller asks for it "
            "or the conversation needs it. The transfer message is spoken for you; say nothing "
            f"yourself. Destinations:\n{listing}"
        ),
        "parameters": {
            "type": "object",
            "properties": {
                "destination": {
                    "type": "string",
                    "enum": list(labels),
                    "description": "Which destination, by its name above.",
                }
            },
            "required": ["destination"],
            "additionalProperties": False,
        },
    }

    async def transfer_call(raw_arguments: dict[str, object]) -> None:
        label = str(raw_arguments.get("destination", ""))
        destination = labels.get(label)
        if destination is None:
            raise llm.ToolError(f"unknown destination {label!r}; choose one of {list(labels)}")
        reason = transfer.refusal()
        if reason is not None:
            log.warning("transfer_refused", destination=mask_numbers(label), reason=reason)
            raise llm.ToolError(
                f"transfer_refused: {reason}. Tell the caller in one short sentence that you "
                "cannot transfer them on this call, then carry on helping."
            )
        target = destination.number or destination.sip_uri
        assert target is not None  # the config model requires exactly one
        transfer.start(target, destination.message, label=label)
        # The transfer speaks its own message; the LLM must not talk over it.
        raise llm.StopResponse()

    return llm.function_tool(transfer_call, raw_schema=schema)
