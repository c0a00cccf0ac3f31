"""LiveKit's disconnect reasons, as end reasons: the one table.

When the bound caller leaves the room, LiveKit says why (``participant.disconnect_reason``, the
protocol's ``DisconnectReason``; livekit-rtc 1.x names, read from ``rtc.DisconnectReason``).
The seed (000_7b9f6638bbfe4dbb.txt, FAQ and End Reasons) separates two cases that used to be
reported alike: a caller who hangs up (the browser closed the call, a SIP BYE) ends
``user_hangup``; a caller whose connection was lost ends ``error``. So:

====================  ===========  ===================  ==================================
disconnect reason     end_reason   end_detail           why
====================  ===========  ===================  ==================================
CLIENT_INITIATED      user_hangup  CLIENT_INITIATED     browser closed the call, SIP BYE
UNKNOWN_REASON        user_hangup  UNKNOWN_REASON       no reason given: not called a fault
PARTICIPANT_REMOVED   user_hangup  PARTICIPANT_REMOVED  the backend removed the caller
ROOM_DELETED          user_hangup  room_deleted         the backend deleted the room
ROOM_CLOSED           user_hangup  room_closed          the room closed around the caller
USER_UNAVAILABLE      no_answer    USER_UNAVAILABLE     a SIP callee who did not pick up
USER_REJECTED         no_answer    USER_REJECTED        a SIP callee who declined (busy)
DUPLICATE_IDENTITY    error        connection_lost      another connection took the identity
SERVER_SHUTDOWN       error        connection_lost      the LiveKit node went away
STATE_MISMATCH        error        connection_lost      a resume the server did not know
JOIN_FAILURE          error        connection_lost      never connected fully
MIGRATION             error        connection_lost      moved to another node (Cloud)
SIGNAL_CLOSE          error        connection_lost      signal connection closed unexpectedly
SIP_TRUNK_FAILURE     error        connection_lost      the SIP leg failed
CONNECTION_TIMEOUT    error        connection_lost      the connection timed out
MEDIA_FAILURE         error        connection_lost      the media failed
AGENT_ERROR           error        agent_error          LiveKit blames the agent
====================  ===========  ===================  ==================================

A reason this table does not know (a newer LiveKit) ends ``user_hangup`` with the reason's name
as the detail, the old behaviour, and is logged as ``disconnect_reason_unmapped``; a test pins
the table to every name the installed livekit-rtc has.

The agent's own connection ending (the room's ``disconnected``) follows :func:`agent_disconnected`:
the room deleted or closed is a hang-up from the backend's side (``user_hangup``, detail
``room_deleted`` / ``room_closed``); anything else is the agent losing the room (``error``,
``room: disconnected: NAME``).

Names only (strings): the lifecycle stays framework-free; ``binding.py`` turns livekit's enum
value into its name.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import structlog

from agent.contracts.end_reason import EndReason

log = structlog.get_logger(__name__)

CONNECTION_LOST = "connection_lost"
"""``end_detail`` of a call whose caller's connection was lost (end reason ``error``)."""


@dataclass(frozen=True)
class Disconnect:
    """How a call ends when its caller leaves for one reason."""

    reason: EndReason
    detail: str


_LOST = Disconnect(EndReason.ERROR, CONNECTION_LOST)

CALLER_DISCONNECTS: Mapping[str, Disconnect] = {
    "CLIENT_INITIATED": Disconnect(EndReason.USER_HANGUP, "CLIENT_INITIATED"),
    "UNKNOWN_REASON": Disconnect(EndReason.USER_HANGUP, "UNKNOWN_REASON"),
    "PARTICIPANT_REMOVED": Disconnect(EndReason.USER_HANGUP, "PARTICIPANT_REMOVED"),
    "ROOM_DELETED": Disconnect(EndReason.USER_HANGUP, "room_deleted"),
    "ROOM_CLOSED": Disconnect(EndReason.USER_HANGUP, "room_closed"),
    "USER_UNAVAILABLE": Disconnect(EndReason.NO_ANSWER, "USER_UNAVAILABLE"),
    "USER_REJECTED": Disconnect(EndReason.NO_ANSWER, "USER_REJECTED"),
    "DUPLICATE_IDENTITY": _LOST,
    "SERVER_SHUTDOWN": _LOST,
    "STATE_MISMATCH": _LOST,
    "JOIN_FAILURE": _LOST,
    "MIGRATION": _LOST,
    "SIGNAL_CLOSE": _LOST,
    "SIP_TRUNK_FAILURE": _LOST,
    "CONNECTION_TIMEOUT": _LOST,
    "MEDIA_FAILURE": _LOST,
    "AGENT_ERROR": Disconnect(EndReason.ERROR, "agent_error"),
}
"""Caller's disconnect reason (LiveKit's name) -> how the call ends."""


def caller_disconnected(reason: str) -> Disconnect:
    """The end of a call whose caller left for ``reason`` (a LiveKit reason name)."""
    known = CALLER_DISCONNECTS.get(reason)
    if known is not None:
        return known
    log.warning("disconnect_reason_unmapped", disconnect_reason=reason)
    return Disconnect(EndReason.USER_HANGUP, reason)


def agent_disconnected(reason: str) -> Disconnect:
    """The end of a call whose agent lost the room for ``reason`` (a LiveKit reason name)."""
    if reason == "ROOM_DELETED":
        return Disconnect(EndReason.USER_HANGUP, "room_deleted")
    if reason == "ROOM_CLOSED":
        return Disconnect(EndReason.USER_HANGUP, "room_closed")
    return Disconnect(EndReason.ERROR, f"room: disconnected: {reason}")
