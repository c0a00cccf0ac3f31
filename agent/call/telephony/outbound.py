"""Outbound phone calls: dial, wait for an answer, and tell a person from a voicemail box.

    dial (status-update `dialing`; CreateSIPParticipant, wait_until_answered, ring window =
          call.answer_timeout_seconds)
      -> nobody answered: the call ends `no_answer` before it ever went live (report still sent,
         `ended`); the dial itself failed: `error`, a `failed` call
      -> answered: the call goes live; with voicemail_detection enabled, livekit's answering
         machine detection (``voice/amd``) listens to the greeting while the agent's own
         first line is held back:
           voicemail box            -> leave `voicemail_message` (as the goodbye), end `voicemail`
           no message / box full    -> end `voicemail` at once
           person / IVR / uncertain -> the conversation goes on (the LLM has send_dtmf for IVRs)

The dial happens before the session starts, so silence prompts and the max duration count
from the answer, not from the first ring. The price: AMD starts listening a moment after the
answer and may miss the first syllables of a machine's greeting.

``LiveCall.converse`` runs ``connect_outbound`` for an outbound call with a SIP gateway; the
verdicts act on the call through its ``CallHandle`` (``end``), nothing else.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Coroutine
from enum import StrEnum
from typing import Any

import structlog
from livekit.agents import AgentSession

from agent.call.handle import CallHandle
from agent.call.telephony.sip import DialFailed, SipGateway
from agent.contracts.assistant import VoicemailDetection
from agent.contracts.end_reason import EndReason
from agent.intake.dispatch import CallSpec

log = structlog.get_logger(__name__)


class MachineVerdict(StrEnum):
    HUMAN = "human"
    VOICEMAIL = "voicemail"
    """A mailbox that takes a message."""
    UNAVAILABLE = "unavailable"
    """A machine that takes no message (mailbox full or not set up)."""
    IVR = "ivr"
    UNCERTAIN = "uncertain"


MachineDetector = Callable[[str], Coroutine[Any, Any, MachineVerdict]]
"""``detect(callee_identity)``: the verdict on who answered (production: :func:`livekit_amd`
on the call's session; a test gives the verdict, the vendor boundary)."""


def callee_identity(call_id: str) -> str:
    return f"callee-{call_id}"


async def dial(call: CallHandle, spec: CallSpec, sip: SipGateway) -> bool:
    """Dial the call's destination. False: the call has been ended (no_answer or error)."""
    info = spec.call
    # The parser refuses an outbound call without a destination, and routes it to a trunk.
    assert info.destination is not None
    assert info.sip_trunk_id is not None
    log.info("dialing", answer_timeout_seconds=info.answer_timeout_seconds)
    call.dialing()  # seed 002: `dialing` until the destination answers (`in-progress`)
    try:
        result = await sip.dial(
            trunk_id=info.sip_trunk_id,
            call_to=info.destination,
            caller_id=spec.agent_number,
            participant_identity=callee_identity(spec.call_id),
            answer_timeout=info.answer_timeout_seconds,
        )
    except DialFailed as exc:
        log.warning("dial_failed", reason=str(exc))
        call.end(EndReason.ERROR, f"sip: {exc}", interrupt=False)
        return False
    if result.outcome == "no_answer":
        log.info("dial_not_answered", detail=result.detail)
        # Nothing is playing yet: nothing to interrupt, nobody to say goodbye to.
        call.end(EndReason.NO_ANSWER, result.detail, interrupt=False)
        return False
    log.info("dial_answered")
    return True


def act_on_verdict(
    call: CallHandle, detection: VoicemailDetection, verdict: MachineVerdict
) -> None:
    """End the call on a machine; anything else carries on."""
    log.info("answered_by", verdict=verdict.value)
    if verdict is MachineVerdict.VOICEMAIL:
        message = detection.voicemail_message
        detail = "voicemail_left" if message else "voicemail_detected"
        call.end(EndReason.VOICEMAIL, detail, goodbye=message)
    elif verdict is MachineVerdict.UNAVAILABLE:
        call.end(EndReason.VOICEMAIL, "mailbox_unavailable")


def _verdict(screening: asyncio.Task[MachineVerdict]) -> MachineVerdict:
    try:
        return screening.result()
    except Exception as exc:  # a detector failure must not cost the call
        log.warning("voicemail_detection_failed", error_type=type(exc).__name__)
        return MachineVerdict.UNCERTAIN


async def livekit_amd(session: AgentSession[Any], identity: str) -> MachineVerdict:
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
        session,
        llm=None,
        stt=None,
        participant_identity=identity,
        ivr_detection=False,  # an IVR is navigated by the LLM with send_dtmf
        suppress_compatibility_warning=True,
    ) as detector:
        result = await detector.execute()
    return verdicts[result.category]


async def connect_outbound(
    call: CallHandle,
    spec: CallSpec,
    sip: SipGateway,
    *,
    go_live: Callable[[], Awaitable[None]],
    ended: Callable[[], Coroutine[Any, Any, None]],
    detect: MachineDetector,
) -> None:
    """Dial; once answered, go live (``go_live``: start the session, wait for the callee's
    audio, go live) and screen for a voicemail box. Returns when the call has ended
    (``ended``), no answer included."""
    if not await dial(call, spec, sip):
        await ended()
        return
    await go_live()
    if call.is_ending:  # the callee's audio never came, or they hung up at once
        await ended()
        return
    detection = spec.assistant.voicemail_detection
    if not detection.enabled:
        await ended()
        return
    screening = asyncio.create_task(detect(callee_identity(spec.call_id)))
    over = asyncio.create_task(ended())
    try:
        done, _ = await asyncio.wait({screening, over}, return_when=asyncio.FIRST_COMPLETED)
        if screening in done:
            act_on_verdict(call, detection, _verdict(screening))
        await over
    finally:
        for task in (screening, over):
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
