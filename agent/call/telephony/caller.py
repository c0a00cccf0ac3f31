"""Who is on the other end: a SIP phone caller or a web client, and their numbers.

LiveKit SIP sets participant attributes on the phone caller (livekit docs, "SIP participant
attributes"): ``sip.phoneNumber`` is the caller's number, ``sip.trunkPhoneNumber`` the number
they dialled (ours). Numbers are personal data: they go into the call record (and from there,
redacted under gdpr_mode, into the report), never into an info-level log line, and into no log
line at all under gdpr_mode.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import structlog

from agent.call.lifecycle.parties import RoomParty
from agent.report.record import CallRecord
from agent.worker.logs import gdpr_active

log = structlog.get_logger(__name__)

SIP_PHONE_NUMBER = "sip.phoneNumber"
"""Attribute: the phone number of the SIP participant (the caller on an inbound call)."""
SIP_TRUNK_PHONE_NUMBER = "sip.trunkPhoneNumber"
"""Attribute: the trunk number the call came in on (the number the caller dialled)."""


@dataclass(frozen=True)
class CallerParty:
    """The caller as the room sees them. Only a SIP caller can be transferred (REFER)."""

    identity: str
    is_sip: bool
    attributes: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_party(cls, party: RoomParty) -> CallerParty:
        """The caller the lifecycle bound (agent/call/lifecycle/parties.py)."""
        return cls(identity=party.identity, is_sip=party.kind == "sip", attributes=party.attributes)

    @property
    def caller_number(self) -> str | None:
        return self.attributes.get(SIP_PHONE_NUMBER) or None

    @property
    def called_number(self) -> str | None:
        return self.attributes.get(SIP_TRUNK_PHONE_NUMBER) or None


def record_numbers(record: CallRecord, caller: CallerParty) -> None:
    """Put the caller's and the called number into the call record (debug log only, and not
    under gdpr_mode)."""
    if not caller.is_sip:
        return
    record.set_numbers(caller=caller.caller_number, called=caller.called_number)
    if not gdpr_active():
        log.debug("sip_numbers", caller=caller.caller_number, called=caller.called_number)
