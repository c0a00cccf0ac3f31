"""The outgoing wire format: every event a call sends, as typed models, and nothing else.

This is the module that knows what a receiver sees (with its CallMissed half,
agent/contracts/callmissed.py). Backends of the VoiceDock / HMS Sovereign dialect parse these
bodies as they are (shared/seeds 000): one envelope
``{"message": {"type", "timestamp", "call": {...}, "assistant": {"name", "metadata"}, ...}}``
with a discriminated union on ``type``. ``assistant.metadata`` is passed through exactly as the
backend sent it (``UserID`` stays ``UserID``). Each event of a call also carries ``seq``
(1, 2, 3… in emission order) so a receiver can order events and spot a gap; ``seq`` 0 marks an
event built outside the call's own process (a crash report), whose place in the order is unknown.
Backends of the CallMissed dialect get that API's ``voice_session.*`` events instead
(``CallSpec.webhook_format``).

What is done with these models lives beside them: agent/contracts/event_body.py turns an
event into the exact bytes that get signed (strict, else cleaned, else reduced), and
agent/delivery/call_events.py (``CallEvents``) stamps one call's events and hands them to
the sinks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import Field, TypeAdapter

from agent.contracts.callmissed import EVENTS as CALLMISSED_EVENTS
from agent.contracts.callmissed import STARTED, CallMissedTurn, VoiceSession, our_end_reason
from agent.contracts.end_reason import EndReason
from agent.contracts.turn_plan import EndOfTurnRule, InterruptionOutcome
from agent.contracts.wire import Timestamp, WireModel, utc_now
from agent.delivery.base import Delivery
from agent.intake.document import CallType

CallStatus = Literal["dialing", "in-progress", "forwarding", "ended", "failed"]
"""Seed 002's call statuses the worker knows: ``dialing`` (outbound, before the answer),
``in-progress`` (live), ``forwarding`` (a transfer under way), ``ended`` (a call that went live,
or an outbound call nobody answered, has ended), ``failed`` (it never went live: config_error
or error). ``connecting`` is never sent: before the caller is there nothing is reported."""


def final_status(reason: EndReason, *, went_live: bool) -> CallStatus:
    """The status a call ends with: ``failed`` when an error kept it from ever going live."""
    if not went_live and reason in (EndReason.ERROR, EndReason.CONFIG_ERROR):
        return "failed"
    return "ended"


Role = Literal["user", "assistant"]


class CallRef(WireModel):
    id: str
    type: CallType
    status: CallStatus = "in-progress"


class AssistantRef(WireModel):
    name: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    """Exactly as the backend sent it: key casing and nesting untouched."""


class _Message(WireModel):
    timestamp: Timestamp = Field(default_factory=utc_now)
    """When the event was emitted (stamped again by ``CallEvents``)."""
    seq: int = Field(0, ge=0)
    """Per-call emission order, from 1; 0 when built outside the call's process."""
    call: CallRef
    assistant: AssistantRef


# --- status-update, transcript, tool-calls -----------------------------------------------------


class StatusUpdate(_Message):
    type: Literal["status-update"] = "status-update"
    status: CallStatus
    destination: str | None = None
    """While ``forwarding``: the number or SIP URI the call is handed to."""


class Transcript(_Message):
    type: Literal["transcript"] = "transcript"
    role: Role
    transcript: str
    transcript_type: Literal["final"] = "final"
    start_seconds: float | None = None
    """Offset from the call start."""
    end_seconds: float | None = None


class ToolCall(WireModel):
    id: str
    name: str
    arguments: dict[str, Any] | str
    """The parsed arguments; the raw text when the model produced something that is not JSON."""


class ToolCalls(_Message):
    type: Literal["tool-calls"] = "tool-calls"
    tool_call_list: list[ToolCall] = Field(alias="toolCallList")


# --- end-of-call-report ------------------------------------------------------------------------


class ReportMessage(WireModel):
    """One entry of the conversation. Tool calls ride on an assistant entry; each result is a
    ``tool`` entry pointing back with ``tool_call_id``."""

    role: Literal["system", "user", "assistant", "tool"]
    message: str
    start_seconds: float | None = None
    end_seconds: float | None = None
    interrupted: bool = False
    tool_calls: list[ToolCall] | None = None
    tool_call_id: str | None = None
    name: str | None = None
    result: Any = None
    error: str | None = None
    tool_ms: float | None = None


PartStatus = Literal["ok", "failed", "skipped", "timeout"]


class AnalysisPart(WireModel):
    status: PartStatus
    error: str | None = None
    """Why a part failed, timed out or was skipped."""


class AnalysisParts(WireModel):
    summary: AnalysisPart
    structured_data: AnalysisPart
    success_evaluation: AnalysisPart


_SKIPPED = AnalysisPart(status="skipped", error="no analysis ran")


class Analysis(WireModel):
    summary: str | None = None
    structured_data: Any = None
    """Validated against the assistant's ``structured_data_plan.schema``."""
    success_evaluation: bool | int | None = None
    """``pass_fail``: true/false; ``numeric_scale``: 1-10."""
    parts: AnalysisParts = Field(
        default_factory=lambda: AnalysisParts(
            summary=_SKIPPED, structured_data=_SKIPPED, success_evaluation=_SKIPPED
        )
    )


class TurnMetrics(WireModel):
    """One caller turn and the reply to it, in milliseconds. ``e2e_ms``: caller stopped
    speaking -> first agent audio."""

    turn_index: int
    stt_ms: float | None = None
    end_of_turn_ms: float | None = None
    """Caller's end of speech (as the VAD placed it) -> the turn taken: the wait measured."""
    end_of_turn_rule: EndOfTurnRule | None = None
    """What ended the turn: `terminal`, `number` or `mid_phrase` (transcript endpointing), or
    the mode where no rule is read (`vad`, `stt`, `model`). See `turn_config`."""
    end_of_turn_wait_ms: float | None = None
    """The wait that rule chose, as configured (`end_of_turn_ms` is the one measured); none
    for `stt`, whose wait is the STT's own."""
    llm_ttft_ms: float | None = None
    tts_ttfb_ms: float | None = None
    e2e_ms: float | None = None
    tool_ms: float | None = None
    interrupted: bool = False


class Percentiles(WireModel):
    count: int
    p50: float | None = None
    p95: float | None = None


class InterruptionMetrics(WireModel):
    """Caller speech that began while the agent was speaking, and what it did."""

    at_seconds: float | None = None
    """When the caller's speech began (as the VAD heard it), from the call's start."""
    outcome: InterruptionOutcome
    """`stopped`, `backchannel`, `resumed` (a false interruption resumed from),
    `not_resumed` or `ignored` (see `turn_config`)."""
    words: int = 0
    """Words the STT heard in it (0: a sound with no words)."""
    quiet_ms: float | None = None
    """Caller speech start -> the agent stopped or paused; none when it kept talking."""
    resumed_ms: float | None = None
    """`resumed`: how long the agent was paused before it went on."""


class CallMetrics(WireModel):
    turns: list[TurnMetrics] = Field(default_factory=list)
    interruptions: list[InterruptionMetrics] = Field(default_factory=list)
    """Each time the caller spoke over the agent, in order."""
    percentiles: dict[str, Percentiles] = Field(default_factory=dict)
    """Per figure of ``turns`` (``e2e_ms``, ``stt_ms``, …) over the turns that have it."""
    callmissed_turns: list[CallMissedTurn] = Field(default_factory=list)


class UsageEntry(WireModel):
    kind: Literal["llm", "tts", "stt"]
    provider: str
    model: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    characters: int = 0
    audio_seconds: float = 0.0


class ControlEntry(WireModel):
    command: str
    outcome: str
    at_seconds: float | None = None


class Customer(WireModel):
    number: str | None = None
    name: str | None = None


class ParticipantVisit(WireModel):
    """One participant's time in the room: the caller, or someone else who came and went."""

    identity: str
    """Their LiveKit identity (phone numbers in it redacted under gdpr_mode)."""
    kind: str
    """LiveKit's participant kind: standard, sip, egress, ingress, agent, connector, bridge."""
    role: Literal["caller", "observer"]
    """``caller``: the one participant bound as the caller; ``observer``: anyone else, whose
    coming and going had no effect on the call."""
    joined_at: Timestamp
    left_at: Timestamp | None = None
    """None: still in the room when the call ended."""
    disconnect_reason: str | None = None
    """LiveKit's reason when they left (CLIENT_INITIATED, SIGNAL_CLOSE, ...)."""


class EndOfCallReport(_Message):
    type: Literal["end-of-call-report"] = "end-of-call-report"
    end_reason: EndReason
    end_detail: str | None = None
    started_at: Timestamp | None = None
    """When the call was answered: the caller in the room with their audio up, or the outbound
    callee picked up. None: never answered (``no_answer``, or an end before the answer)."""
    ended_at: Timestamp | None = None
    duration_seconds: int = 0
    """Whole seconds from ``started_at``, as the platforms send it; ``duration_ms`` has the
    precision. 0 for a call never answered."""
    duration_ms: int = 0
    agent_joined_at: Timestamp | None = None
    """When the agent was in the room (usually before the caller)."""
    caller_join_seconds: float | None = None
    """``started_at`` minus ``agent_joined_at``: how long the caller took to answer (for an
    outbound call, the ringing included)."""
    participants: list[ParticipantVisit] = Field(default_factory=list)
    """Everyone other than the agent who was in the room, in order of arrival."""
    summary: str | None = None
    transcript: str = ""
    messages: list[ReportMessage] = Field(default_factory=list)
    analysis: Analysis = Field(default_factory=Analysis)
    metrics: CallMetrics = Field(default_factory=CallMetrics)
    usage: list[UsageEntry] = Field(default_factory=list)
    control: list[ControlEntry] = Field(default_factory=list)
    """Live control commands and their outcomes, in order; of the refused ones only the first
    five are listed (agent/report/record.py ``REFUSED_CONTROLS_KEPT``)."""
    control_refused: int = Field(0, ge=0)
    """How many control packets were refused in all, listed or not."""
    customer: Customer | None = None
    destination: str | None = None
    """Outbound: the number dialled; inbound: the number the caller dialled; transfers: where
    the call was handed."""
    caller_phone: str | None = None
    """The call's properties as the platform lists them (seed 002 "Call Properties"): the
    customer's number (E.164; inbound: the caller, outbound: the number dialled)."""
    agent_phone: str | None = None
    """Our side's number: the number the caller dialled, or the outbound caller id."""
    assistant_name: str | None = None
    business_name: str | None = None
    error: str | None = None
    """What went wrong, for a call that ended `error` or `config_error` (else null)."""
    warnings: list[str] = Field(default_factory=list)
    """What the worker accepted but could not honour: unknown fields dropped, options a vendor
    lacks, variables left as written, a limit clamped. Paths and names only, never values."""


EventMessage = Annotated[
    StatusUpdate | Transcript | ToolCalls | EndOfCallReport, Field(discriminator="type")
]


class Envelope(WireModel):
    message: EventMessage


_ENVELOPE = TypeAdapter(Envelope)


def parse_envelope(body: bytes | str) -> Envelope:
    """Receivers' side (tests, the simulator, outbox replay): bytes back to a typed event."""
    return _ENVELOPE.validate_json(body)


FINAL_EVENT_TYPES = frozenset({"end-of-call-report", *CALLMISSED_EVENTS}) - {STARTED}
"""The event that tells how a call ended, in either wire format."""


@dataclass(frozen=True, slots=True)
class FinalOutcome:
    """How a call ended, read back from its final delivery (either format)."""

    end_reason: EndReason
    duration_seconds: float | None


def final_outcome(delivery: Delivery) -> FinalOutcome:
    """Readers of our own final deliveries (the simulator): the end reason in our terms."""
    if delivery.wire == "callmissed":
        session = _SESSION.validate_json(delivery.body)
        reason = session.end_reason or EndReason.ERROR.value
        return FinalOutcome(our_end_reason(reason), session.duration_seconds)
    message = parse_envelope(delivery.body).message
    if not isinstance(message, EndOfCallReport):
        raise ValueError(f"not an end-of-call report: {message.type}")
    return FinalOutcome(message.end_reason, message.duration_seconds)


def parse_session(body: bytes | str) -> VoiceSession:
    """Receivers' side of the CallMissed format: bytes back to a typed session."""
    return _SESSION.validate_json(body)


_SESSION = TypeAdapter(VoiceSession)


def events_schema() -> dict[str, Any]:
    """JSON Schema of what receivers get (``config/events.schema.json``)."""
    schema = _ENVELOPE.json_schema(
        mode="serialization", by_alias=True, ref_template="#/$defs/{model}"
    )
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://github.com/voice-agent-worker/schemas/events.schema.json",
        "title": "Voice agent events (webhook bodies)",
        "description": (
            "Every delivery body: one envelope, discriminated on message.type. "
            "assistant.metadata is passed through exactly as the backend sent it."
        ),
    } | schema


def callmissed_schema() -> dict[str, Any]:
    """JSON Schema of the CallMissed-format bodies (``config/callmissed-session.schema.json``)."""
    schema = _SESSION.json_schema(
        mode="serialization", by_alias=True, ref_template="#/$defs/{model}"
    )
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://github.com/voice-agent-worker/schemas/callmissed-session.schema.json",
        "title": "Voice agent events in the CallMissed format (voice_session.* webhook bodies)",
        "description": (
            "The body of voice_session.started, voice_session.ended and voice_session.failed "
            "(the event name is the X-CallMissed-Event header): the session object of "
            "CallMissed's Voice Session API with the per-turn transcript; error and warnings "
            "are this worker's additions. metadata is passed through exactly as sent."
        ),
    } | schema
