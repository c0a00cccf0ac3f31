"""The LiveKit SIP server API calls a call makes: transfer (SIP REFER) and dial out.

Both go through ``livekit.api.LiveKitAPI`` (``JobContext.api`` in a job), so there is one place
that knows the request shapes and one place that turns LiveKit's errors into our outcomes:

- ``TransferSIPParticipant``: the caller's leg is REFERred to ``transfer_to`` (E.164 number or
  ``sip:`` URI). A ``SipCallError``/``ServerError`` or a response with status
  ``STS_TRANSFER_FAILED`` is a failed transfer; ``ONGOING``/``SUCCESSFUL`` (and the empty
  response of servers that predate the status) count as handed over.
- ``CreateSIPParticipant`` with ``wait_until_answered``: the request returns when the callee
  answers. A SIP final response (busy 486, unavailable 480, timeout 408, declined 603, ...)
  or the ring window running out means nobody answered; anything else (bad trunk, auth) is
  an error of ours.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import aiohttp
import structlog
from livekit import api

from agent.report.redaction import mask_numbers

log = structlog.get_logger(__name__)

_TRANSFER_FAILED = 1
"""``TransferSIPParticipantResponse.status`` STS_TRANSFER_FAILED (0 ongoing, 2 successful)."""


class TransferFailed(Exception):
    """The transfer did not happen; ``str(exc)`` says why (safe to log: numbers masked)."""


class DialFailed(Exception):
    """The outbound dial could not be placed at all (not a matter of nobody answering)."""


@dataclass(frozen=True)
class DialResult:
    outcome: Literal["answered", "no_answer"]
    detail: str
    """``answered`` or the SIP status that ended the ringing, e.g. ``486 Busy Here``."""
    participant_identity: str


class SipGateway:
    """SIP operations on one room through the LiveKit server API."""

    def __init__(self, lkapi: api.LiveKitAPI, room_name: str) -> None:
        self._api = lkapi
        self.room_name = room_name

    async def transfer(
        self, participant_identity: str, transfer_to: str, *, ringing_timeout: float = 30.0
    ) -> None:
        request = api.TransferSIPParticipantRequest(
            room_name=self.room_name,
            participant_identity=participant_identity,
            transfer_to=transfer_to,
            play_dialtone=False,
        )
        request.ringing_timeout.seconds = int(ringing_timeout)
        try:
            response = await self._api.sip.transfer_sip_participant(request)
        except api.ServerError as exc:
            raise TransferFailed(_describe(exc)) from None
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise TransferFailed(f"livekit api unreachable: {type(exc).__name__}") from None
        if response.status == _TRANSFER_FAILED:
            raise TransferFailed(f"transfer failed: {response.reason or 'no reason given'}")

    async def dial(
        self,
        *,
        trunk_id: str,
        call_to: str,
        participant_identity: str,
        answer_timeout: float,
        caller_id: str | None = None,
    ) -> DialResult:
        """Ring ``call_to`` for up to ``answer_timeout`` seconds; returns once it was answered
        or it is certain nobody will answer. Raises ``DialFailed`` for errors of ours.
        ``caller_id``: the number to call from (the trunk's own when None)."""
        request = api.CreateSIPParticipantRequest(
            sip_trunk_id=trunk_id,
            sip_call_to=call_to,
            sip_number=caller_id or "",
            room_name=self.room_name,
            participant_identity=participant_identity,
            wait_until_answered=True,
        )
        # The server stops ringing after answer_timeout; the client request lives 2 s longer
        # (livekit-api's dial timeout: ring window + margin) so the server's answer arrives.
        request.ringing_timeout.seconds = int(answer_timeout)
        try:
            await self._api.sip.create_sip_participant(request)
        except api.SipCallError as exc:
            return DialResult("no_answer", _describe(exc), participant_identity)
        except api.ServerError as exc:
            if exc.code == api.ServerErrorCode.DEADLINE_EXCEEDED:
                return DialResult("no_answer", "ringing timed out", participant_identity)
            raise DialFailed(_describe(exc)) from None
        except TimeoutError:
            return DialResult("no_answer", "ringing timed out", participant_identity)
        except aiohttp.ClientError as exc:
            raise DialFailed(f"livekit api unreachable: {type(exc).__name__}") from None
        return DialResult("answered", "answered", participant_identity)


def _describe(exc: api.ServerError) -> str:
    if isinstance(exc, api.SipCallError) and exc.sip_status_code is not None:
        return f"{exc.sip_status_code} {exc.sip_status or ''}".strip()
    if isinstance(exc, api.SipCallError) and exc.sip_transfer_reason:
        return exc.sip_transfer_reason
    # The server's message may quote the number dialled; the SIP status above never does.
    return mask_numbers(f"{exc.code}: {exc.message}")[:200]
