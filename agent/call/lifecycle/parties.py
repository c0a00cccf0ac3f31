"""Who is in the room: the one caller, bound by identity, and everyone else who comes and goes.

A LiveKit room can hold more than the caller and the agent: a supervisor listening in, a
recorder (egress), a second agent. Only one participant is the caller, and only the caller
leaving ends the call. Who it is is decided once, by :class:`CallerRule`, in this order:

1. the dispatch names the caller (``call.caller_identity``): that identity and no other;
2. an outbound phone call: the callee we dialled (``callee-<call id>``, telephony/outbound.py);
3. an inbound phone call: the first participant of kind SIP;
4. a web call: the first participant of kind standard, SIP or connector (the kinds livekit's
   RoomIO links to, so the session listens to the same person), skipping one that publishes on
   behalf of this agent (an avatar).

"First" is the order the room reports them: those already in the room when the agent joins, in
the room's order, then each as it joins. Once bound the binding never moves; everyone else is an
observer, kept with when they came and went (the report's ``participants``) and otherwise
ignored. A participant who leaves and comes back is a new visit.

Framework-free: the room (agent/call/room.py, the simulator's room) turns its participants into
:class:`RoomParty` values; times come from the lifecycle's clock.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

from agent.clock import Clock

PartyKind = Literal["standard", "ingress", "egress", "sip", "agent", "connector", "bridge", "other"]
Role = Literal["caller", "observer"]

PUBLISH_ON_BEHALF = "lk.publish_on_behalf"
"""Participant attribute naming the agent a participant publishes for (livekit avatars)."""

WEB_CALLER_KINDS: frozenset[PartyKind] = frozenset({"standard", "sip", "connector"})
"""Who can be a web call's caller: livekit's ``DEFAULT_PARTICIPANT_KINDS`` (RoomIO's choice)."""
PHONE_CALLER_KINDS: frozenset[PartyKind] = frozenset({"sip"})


@dataclass(frozen=True)
class RoomParty:
    """A remote participant as the call sees one."""

    identity: str
    kind: PartyKind
    attributes: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class CallerRule:
    """Which participant is the caller (module docstring)."""

    identity: str | None = None
    """Only this identity (named by the dispatch, or the outbound callee); None: by kind."""
    kinds: frozenset[PartyKind] = WEB_CALLER_KINDS
    """Without an identity: the first participant of one of these kinds."""
    agent_identity: str | None = None
    """This agent's own identity: a participant publishing on its behalf is not the caller."""

    def accepts(self, party: RoomParty) -> bool:
        if self.identity is not None:
            return party.identity == self.identity
        if party.kind not in self.kinds:
            return False
        on_behalf = party.attributes.get(PUBLISH_ON_BEHALF)
        return not (on_behalf and on_behalf == self.agent_identity)

    def describe(self) -> str:
        """For the log: how the caller is chosen (never an identity: it may hold a number)."""
        if self.identity is not None:
            return "identity"
        return "first:" + ",".join(sorted(self.kinds))


@dataclass
class Visit:
    """One participant's time in the room."""

    identity: str
    kind: PartyKind
    role: Role
    joined_monotonic: float
    left_monotonic: float | None = None
    disconnect_reason: str | None = None
    """LiveKit's reason name when they left (``CLIENT_INITIATED``, ``SIGNAL_CLOSE``, ...)."""


class Attendance(BaseModel):
    """A visit in wall-clock time, as the call's end record keeps it (the report's
    ``participants``)."""

    model_config = ConfigDict(frozen=True)

    identity: str
    kind: PartyKind
    role: Role
    joined_at: datetime
    left_at: datetime | None
    disconnect_reason: str | None


class CallParties:
    """The caller once bound, and every visit in arrival order."""

    def __init__(self, rule: CallerRule, clock: Clock) -> None:
        self.rule = rule
        self._clock = clock
        self.caller: RoomParty | None = None
        self._visits: list[Visit] = []
        self._present: dict[str, Visit] = {}

    def joined(self, party: RoomParty) -> bool:
        """``party`` is in the room; True when it has just become the caller. A participant
        the room reports twice (already there, then its own event) is one visit."""
        if party.identity in self._present:
            return False
        is_caller = self.caller is None and self.rule.accepts(party)
        if is_caller:
            self.caller = party
        visit = Visit(
            identity=party.identity,
            kind=party.kind,
            role="caller" if is_caller else "observer",
            joined_monotonic=self._clock.now(),
        )
        self._visits.append(visit)
        self._present[party.identity] = visit
        return is_caller

    def left(self, identity: str, reason: str) -> Role | None:
        """``identity`` left for ``reason``; its role, or None for someone never seen here."""
        visit = self._present.pop(identity, None)
        if visit is None:
            return None
        visit.left_monotonic = self._clock.now()
        visit.disconnect_reason = reason
        return visit.role

    @property
    def visits(self) -> tuple[Visit, ...]:
        return tuple(self._visits)

    @property
    def observers_present(self) -> int:
        return sum(1 for visit in self._present.values() if visit.role == "observer")

    def attendance(self, wall_at: Callable[[float], datetime]) -> tuple[Attendance, ...]:
        """Every visit so far, its monotonic times as wall clock (``wall_at``)."""
        return tuple(
            Attendance(
                identity=visit.identity,
                kind=visit.kind,
                role=visit.role,
                joined_at=wall_at(visit.joined_monotonic),
                left_at=wall_at(visit.left_monotonic) if visit.left_monotonic is not None else None,
                disconnect_reason=visit.disconnect_reason,
            )
            for visit in self._visits
        )
