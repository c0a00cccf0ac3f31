"""Outbound phone calls: dial, wait for an answer, and tell a person from a voicemail box.

    dial (CreateSIPParticipant, wait_until_answered, ring window = call.answer_timeout_seconds)
      -> nobody answered: the call ends `no_answer` before it ever went live (report still sent)
      -> answered: the call goes live; with voicemail_detection enabled, livekit's answering
         machine detection (``voice/amd``) listens to the greeting while the agent's own
         first line is held back:
           voicemail box            -> leave `voicemail_message` (as the goodbye), end `voicemail`
           no message / box full    -> end `voicemail` at once
           person / IVR / uncertain -> the conversation goes on (the LLM has send_dtmf for IVRs)

The dial happens before the session starts, so silence prompts and the max duration count
from the answer, not from the first ring. The price: AMD starts listening a moment after the
answer and may miss the first syllables of a machine's greeting.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Coroutine
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import structlog

from agent.call.telephony.sip import DialFailed, SipGateway
from agent.contracts.end_reason import EndReason

if TYPE_CHECKING:
    from agent.call.live_call import LiveCall
    from agent.contracts.events import EndOfCallReport

log = structlog.get_logger(__name__)


class MachineVerdict(StrEnum):
    HUMAN = "human"
    VOICEMAIL = "voicemail"
    """A mailbox that takes a message."""
    UNAVAILABLE = "unavailable"
    """A machine that takes no message (mailbox full or not set up)."""
    IVR = "ivr"
    UNCERTAIN = "uncertain"


Detect = Callable[["LiveCall", str], Coroutine[Any, Any, MachineVerdict]]
"""``detect(call, callee_identity)``: the verdict on who answered."""


def callee_identity(call: LiveCall) -> str:
    return f"callee-{call.spec.call_id}"


async def dial(call: LiveCall, sip: SipGateway) -> bool:
    """Dial the call's destination. False: the call has been ended (no_answer or error)."""
    info = call.spec.call
    # CallInfo refuses an outbound call without both.
    assert info.destination is not None
    assert info.sip_trunk_id is not None
    log.info("dialing", answer_timeout_seconds=info.answer_timeout_seconds)
    try:
        result = await sip.dial(
            trunk_id=info.sip_trunk_id,
            call_to=info.destination,
            participant_identity=callee_identity(call),
            answer_timeout=info.answer_timeout_seconds,
        )
    except DialFailed as exc:
        log.warning("dial_failed", reason=str(exc))
        call.lifecycle.request_end(EndReason.ERROR, f"sip: {exc}", interrupt=False)
        return False
    if result.outcome == "no_answer":
        log.info("dial_not_answered", detail=result.detail)
        # Nothing is playing yet: nothing to interrupt, nobody to say goodbye to.
        call.lifecycle.request_end(EndReason.NO_ANSWER, result.detail, interrupt=False)
        return False
    log.info("dial_answered")
    return True


def act_on_verdict(call: LiveCall, verdict: MachineVerdict) -> None:
    """End the call on a machine; anything else carries on."""
    log.info("answered_by", verdict=verdict.value)
    if verdict is MachineVerdict.VOICEMAIL:
        message = call.spec.assistant.voicemail_detection.voicemail_message
        detail = "voicemail_left" if message else "voicemail_detected"
        call.lifecycle.request_end(EndReason.VOICEMAIL, detail, goodbye=message)
    elif verdict is MachineVerdict.UNAVAILABLE:
        call.lifecycle.request_end(EndReason.VOICEMAIL, "mailbox_unavailable")


def _verdict(screening: asyncio.Task[MachineVerdict]) -> MachineVerdict:
    try:
        return screening.result()
    except Exception as exc:  # a detector failure must not cost the call
        log.warning("voicemail_detection_failed", error_type=type(exc).__name__)
        return MachineVerdict.UNCERTAIN


async def livekit_amd(call: LiveCall, identity: str) -> MachineVerdict:
    """livekit's answering-machine detection on the session's own STT and LLM."""
    from livekit.agents.voice.amd import AMD, AMDCategory

    verdicts = {
        AMDCategory.HUMAN: MachineVerdict.HUMAN,
        AMDCategory.MACHINE_VM: MachineVerdict.VOICEMAIL,
        AMDCategory.MACHINE_UNAVAILABLE: MachineVerdict.UNAVAILABLE,
        AMDCategory.MACHINE_IVR: MachineVerdict.IVR,
        AMDCategory.UNCERTAIN: MachineVerdict.UNCERTAIN,
    }
    async with AMD(
        call.session,
        llm=None,
        stt=None,
        participant_identity=identity,
        ivr_detection=False,  # an IVR is navigated by the LLM with send_dtmf
        suppress_compatibility_warning=True,
    ) as detector:
        result = await detector.execute()
    return verdicts[result.category]


async def connect_outbound(
    call: LiveCall,
    sip: SipGateway,
    *,
    start: Callable[[], Awaitable[None]],
    detect: Detect = livekit_amd,
) -> None:
    """Dial; once answered, go live (``start``, e.g. ``call.start(room=...)``) and screen for
    a voicemail box. Returns when the call has ended (no answer included)."""
    if not await dial(call, sip):
        await call.wait_ended()
        return
    await start()
    if not call.spec.assistant.voicemail_detection.enabled:
        await call.wait_ended()
        return
    screening = asyncio.create_task(detect(call, callee_identity(call)))
    ended = asyncio.create_task(call.wait_ended())
    try:
        done, _ = await asyncio.wait({screening, ended}, return_when=asyncio.FIRST_COMPLETED)
        if screening in done:
            act_on_verdict(call, _verdict(screening))
        await ended
    finally:
        for task in (screening, ended):
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task


async def run_outbound_call(
    call: LiveCall,
    sip: SipGateway,
    *,
    room: Any = None,
    room_options: Any = None,
    detect: Detect = livekit_amd,
) -> EndOfCallReport:
    """The outbound counterpart of ``LiveCall.run``: dial, the call, then the report."""

    async def start() -> None:
        await call.start(room=room, room_options=room_options)

    try:
        await connect_outbound(call, sip, start=start, detect=detect)
    except Exception as exc:
        log.exception("call_failed")
        call.lifecycle.on_error("worker", f"{type(exc).__name__}: {exc}"[:300])
    return await call.finish()
