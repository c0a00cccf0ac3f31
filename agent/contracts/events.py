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

``CallEvents`` is the per-call emitter: it stamps ``seq`` and ``timestamp``, drops event types
the assistant did not ask for (``webhook_events``), serialises each event once, in the call's
wire format, to the bytes that get signed (:class:`agent.delivery.base.Delivery`) and hands
them to the sink without ever making the caller wait for a receiver.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

import structlog
from pydantic import (
    BaseModel,
    Field,
    TypeAdapter,
)

from agent.contracts.callmissed import EVENTS as CALLMISSED_EVENTS
from agent.contracts.callmissed import (
    STARTED,
    CallMissedEvent,
    CallMissedTurn,
    SessionFacts,
    VoiceSession,
    our_end_reason,
    session_config,
    session_end,
    session_from_report,
    session_started,
)
from agent.contracts.encodable import clean_data, clean_text
from agent.contracts.end_reason import EndReason
from agent.contracts.turn_plan import EndOfTurnRule, InterruptionOutcome
from agent.contracts.webhook_events import ALL_WEBHOOK_EVENTS, enabled_event_names
from agent.contracts.wire import Timestamp, WireFormat, WireModel, iso_ms, utc_now
from agent.delivery.base import Delivery, EventSink
from agent.intake.dispatch import CallSpec
from agent.intake.document import CallType
from agent.intake.report_target import ReportTarget
from agent.report.redaction import redact as gdpr_redact
from agent.worker.ledger import report_delivery_id

log = structlog.get_logger(__name__)


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


_UNSERIALISABLE = (ValueError, TypeError, RecursionError)
"""What serialising can raise: PydanticSerializationError and UnicodeEncodeError are
ValueErrors; deep nesting is a ValueError of pydantic's or a RecursionError of json's."""

REDUCED_DETAIL_LIMIT = 1000


class UnsendableEvent(ValueError):
    """A tool-calls request that cannot be encoded even once cleaned. Never raised for a
    report (which is reduced instead): a tool call with its arguments left out must not be
    sent as if the model had sent none, so the tool call fails."""


def serialise(envelope: Envelope) -> bytes:
    """The exact bytes of ``envelope``: compact JSON, UTF-8. Raises when a value cannot be
    encoded; :func:`to_delivery` is what never does."""
    return envelope.model_dump_json(by_alias=True).encode("utf-8")


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


def to_delivery(
    event: EventMessage | Envelope,
    *,
    url: str | None,
    secret: str | None,
    delivery_id: str | None = None,
    requires_signature: bool = False,
) -> Delivery:
    """Serialise ``event`` once (compact JSON, UTF-8) into what gets signed and sent.

    A report always goes out. Every value was made encodable where it entered
    (agent/contracts/encodable.py), so the first try is expected to work; if it still fails,
    the event is sent with every value cleaned (lone surrogates replaced, over-deep values
    marked), and if even that fails, an end-of-call report is sent reduced to what
    identifies and ends the call (:func:`reduced_event`). Only a tool-calls request raises
    (:class:`UnsendableEvent`)."""
    envelope = event if isinstance(event, Envelope) else Envelope(message=event)
    message = envelope.message
    return Delivery(
        delivery_id=delivery_id or str(uuid.uuid4()),
        call_id=message.call.id,
        event_type=message.type,
        seq=message.seq,
        body=_body(envelope),
        url=url,
        secret=secret,
        requires_signature=requires_signature,
    )


def _body(envelope: Envelope) -> bytes:
    try:
        return serialise(envelope)
    except _UNSERIALISABLE as exc:
        failure: Exception = exc
    message = envelope.message
    # The type of the failure only: its text may quote the value (a transcript, an argument).
    bound = log.bind(event_type=message.type, error_type=type(failure).__name__)
    cleaned = _cleaned(envelope)
    if cleaned is not None:
        bound.warning("event_serialised_cleaned")
        return cleaned
    if isinstance(message, ToolCalls):
        bound.error("event_not_serialisable")
        raise UnsendableEvent(f"the tool call could not be encoded ({type(failure).__name__})")
    bound.error("event_serialised_reduced")
    why = f"a value could not be encoded as JSON ({type(failure).__name__})"
    return serialise(Envelope(message=reduced_event(message, why)))


def _cleaned(envelope: Envelope) -> bytes | None:
    """``envelope`` with every value cleaned (agent/contracts/encodable.py), or None."""
    try:
        # Python mode keeps the strings as they are, to be cleaned here (JSON mode would
        # mangle a broken key); timestamps are written as the wire writes them.
        data = clean_data(envelope.model_dump(by_alias=True), default=_wire_value)
        text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        return text.encode("utf-8")
    except Exception:  # best effort: whatever stops it, the reduced form still goes out
        return None


def _session_body(session: VoiceSession) -> bytes:
    """A CallMissed body, with the envelope's guarantee: it always goes out (cleaned, else
    reduced to the session's identity, status and end)."""
    try:
        return session.model_dump_json(by_alias=True).encode("utf-8")
    except _UNSERIALISABLE as exc:
        failure: Exception = exc
    bound = log.bind(event_type="voice_session", error_type=type(failure).__name__)
    try:
        data = clean_data(session.model_dump(by_alias=True), default=_wire_value)
        text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        bound.warning("event_serialised_cleaned")
        return text.encode("utf-8")
    except Exception:  # best effort, as for the envelope: the reduced form still goes out
        bound.error("event_serialised_reduced")
    metadata = clean_data(session.metadata) if session.metadata is not None else None
    if metadata is not None and not _encodes(
        VoiceSession(id="", status="failed", created_at=session.created_at, metadata=metadata)
    ):
        metadata = None
    marker = f"[session reduced: a value could not be encoded as JSON ({type(failure).__name__})]"
    error = clean_text(session.error or "")[: REDUCED_DETAIL_LIMIT - len(marker) - 1]
    reduced = session.model_copy(update={
        "id": clean_text(session.id), "bot_id": None, "config": None, "metadata": metadata,
        "transcript": [], "warnings": [], "error": f"{error} {marker}".strip(),
    })  # fmt: skip
    return reduced.model_dump_json(by_alias=True).encode("utf-8")


def _wire_value(value: Any) -> Any:
    return iso_ms(value) if isinstance(value, datetime) else str(value)


def _encodes(model: BaseModel) -> bool:
    try:
        model.model_dump_json()
    except _UNSERIALISABLE:
        return False
    return True


def reduced_event(message: EventMessage, why: str) -> EventMessage:
    """``message`` cut down to what identifies the call and says how it ended: ids, status,
    end reason and detail (``why`` appended), timing; ``assistant.metadata`` only if it can be
    encoded on its own. Every string is cleaned, so this always serialises."""
    metadata = clean_data(message.assistant.metadata)
    if not _encodes(AssistantRef(metadata=metadata)):
        metadata = {}
    name = message.assistant.name
    common: dict[str, Any] = {
        "timestamp": message.timestamp,
        "seq": message.seq,
        "call": CallRef(
            id=clean_text(message.call.id), type=message.call.type, status=message.call.status
        ),
        "assistant": AssistantRef(name=clean_text(name) if name else None, metadata=metadata),
    }
    if isinstance(message, EndOfCallReport):
        marker = f"[report reduced: {why}]"
        detail = clean_text(message.end_detail or "")[: REDUCED_DETAIL_LIMIT - len(marker) - 1]
        return EndOfCallReport(
            **common,
            end_reason=message.end_reason,
            end_detail=f"{detail} {marker}".strip(),
            started_at=message.started_at,
            ended_at=message.ended_at,
            duration_seconds=message.duration_seconds,
            duration_ms=message.duration_ms,
        )
    if isinstance(message, StatusUpdate):
        return StatusUpdate(**common, status=message.status)
    if isinstance(message, Transcript):
        return Transcript(
            **common,
            role=message.role,
            transcript="",
            start_seconds=message.start_seconds,
            end_seconds=message.end_seconds,
        )
    return ToolCalls(**common, tool_call_list=[])


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


# --- the per-call emitter ----------------------------------------------------------------------


class CallEvents:
    """Sends one call's events, in order, to the sink, in the call's wire format.

    ``emit`` returns at once: the hand-over to the sink (itself only an enqueue) runs as a task
    chained after the previous one, so deliveries reach the sink in ``seq`` order. Event types
    missing from ``webhook_events`` are dropped before they get a ``seq``, so the ``seq`` a
    receiver sees has no gaps. ``delivery_for`` stamps an event without sending it, for the
    tool-calls request, which is a request/response exchange rather than a notification (HMS's
    format in both wire formats: CallMissed documents no tools).

    The call is described with HMS's events (``status_update``, ``transcript``, the report);
    with ``wire="callmissed"`` they are translated on the way out (agent/contracts/callmissed.py):
    the first ``in-progress`` becomes ``voice_session.started``, the report
    ``voice_session.ended`` or ``voice_session.failed``, and the rest has no CallMissed event.
    """

    def __init__(
        self,
        sink: EventSink,
        *,
        call: CallRef,
        assistant: AssistantRef,
        url: str | None,
        secret: str | None,
        require_signature: bool = False,
        webhook_events: Iterable[str] = ALL_WEBHOOK_EVENTS,
        redact: Callable[[str], str] | None = None,
        now: Callable[[], datetime] = utc_now,
        wire: WireFormat = "hms",
        session: SessionFacts | None = None,
    ) -> None:
        self._sink = sink
        self.call = call
        self.assistant = assistant
        self._url = url
        self._secret = secret
        # The document asked for signed delivery: a delivery left without a secret (a salvaged
        # document whose secret did not resolve, no operator default) is parked, never sent.
        self._require_signature = require_signature
        # A list written with either format's names selects the same moments (voice_session.*
        # and their HMS counterparts).
        self._enabled = enabled_event_names(webhook_events)
        self._redact = redact
        self._now = now
        self.wire: WireFormat = wire
        self._session = session or SessionFacts(created_at=now())
        self._session_started = False
        self._seq = 0
        self._last: asyncio.Task[None] | None = None
        self._pending: set[asyncio.Task[None]] = set()

    @classmethod
    def for_call(
        cls, spec: CallSpec, sink: EventSink, *, default_secret: str | None = None
    ) -> CallEvents:
        assistant = spec.assistant
        secret = assistant.resolved_webhook_secret(None)
        redact = gdpr_redact if assistant.gdpr_mode else None
        config = session_config(assistant, spec.room_name)
        if redact is not None and config.system_prompt:
            # The prompt is the tenant's, but filled variables can carry the caller's number.
            config = config.model_copy(update={"system_prompt": redact(config.system_prompt)})
        return cls(
            sink,
            call=CallRef(id=spec.call_id, type=spec.call.type),
            assistant=AssistantRef(name=assistant.name, metadata=assistant.metadata),
            url=str(assistant.webhook_url) if assistant.webhook_url else None,
            secret=secret.get_secret_value() if secret else default_secret,
            require_signature=assistant.webhook_secret is not None,
            webhook_events=assistant.webhook_events,
            redact=redact,
            wire=spec.webhook_format,
            session=SessionFacts(
                bot_id=spec.assistant_id,
                config=config,
                metadata=assistant.metadata if "metadata" in assistant.model_fields_set else None,
                warnings=spec.warnings,
            ),
        )

    @classmethod
    def for_target(
        cls,
        target: ReportTarget,
        sink: EventSink,
        *,
        secret: str | None,
        created_at: datetime | None = None,
    ) -> CallEvents:
        """The events of a call known only from its salvaged document (a config_error, a
        start-up failure, a crash report); ``created_at``: when the worker took the call."""
        return cls(
            sink,
            call=CallRef(id=target.call_id, type=CallType(target.call_type)),
            assistant=AssistantRef(name=target.assistant_name, metadata=target.metadata),
            url=target.webhook_url,
            secret=secret,
            require_signature=target.signature_requested,
            wire=target.webhook_format,
            session=SessionFacts(
                bot_id=target.bot_id,
                metadata=target.metadata if target.metadata_sent else None,
                created_at=created_at or utc_now(),
            ),
        )

    @property
    def seq(self) -> int:
        """The ``seq`` of the last event stamped (0 before the first)."""
        return self._seq

    # Builders: the envelope fields are this call's; the caller says only what happened.
    def status_update(self, status: CallStatus, destination: str | None = None) -> StatusUpdate:
        return StatusUpdate(
            call=self.call, assistant=self.assistant, status=status, destination=destination
        )

    def transcript(
        self, role: Role, text: str, start_seconds: float | None, end_seconds: float | None
    ) -> Transcript:
        text = clean_text(text)  # vendor text: a lone surrogate becomes U+FFFD here
        if self._redact is not None:
            text = self._redact(text)
        return Transcript(
            call=self.call,
            assistant=self.assistant,
            role=role,
            transcript=text,
            start_seconds=start_seconds,
            end_seconds=end_seconds,
        )

    def tool_calls(self, calls: Iterable[ToolCall]) -> ToolCalls:
        return ToolCalls(call=self.call, assistant=self.assistant, tool_call_list=list(calls))

    def delivery_for(
        self,
        event: EventMessage,
        *,
        url: str | None = None,
        secret: str | None = None,
        delivery_id: str | None = None,
        requires_signature: bool = False,
    ) -> Delivery:
        """Stamp ``event`` (seq, timestamp, call status) and serialise it in HMS's envelope;
        sends nothing. ``url``/``secret`` default to the assistant's webhook; a delivery must be
        signed when the assistant's document asked for it or ``requires_signature`` says so."""
        self._seq += 1
        status = self._status_after(event)
        stamped = event.model_copy(
            update={
                "seq": self._seq,
                "timestamp": self._now(),
                "call": self.call.model_copy(update={"status": status}),
            }
        )
        return to_delivery(
            stamped,
            url=url if url is not None else self._url,
            secret=secret if secret is not None else self._secret,
            delivery_id=delivery_id,
            requires_signature=requires_signature or self._require_signature,
        )

    def build(self, event: EventMessage, *, delivery_id: str | None = None) -> Delivery | None:
        """``event`` stamped and serialised in the call's wire format, not sent; None when the
        format has no such event (CallMissed: anything but going live and the report)."""
        if self.wire == "hms":
            return self.delivery_for(event, delivery_id=delivery_id)
        translated = self._callmissed(event)
        if translated is None:
            return None
        name, session = translated
        self._seq += 1
        return Delivery(
            delivery_id=delivery_id or str(uuid.uuid4()),
            call_id=self.call.id,
            event_type=name,
            seq=self._seq,
            body=_session_body(session),
            url=self._url,
            secret=self._secret,
            requires_signature=self._require_signature,
            wire="callmissed",
        )

    def emit(self, event: EventMessage, *, delivery_id: str | None = None) -> Delivery | None:
        """Send ``event`` to the sink unless ``webhook_events`` leaves it out (or the call's
        wire format has no such event). Never waits."""
        if not self._wanted(event):
            log.debug("event_filtered", event_type=event.type, call_id=self.call.id)
            self._status_after(event)
            return None
        delivery = self.build(event, delivery_id=delivery_id)
        if delivery is None:
            return None
        previous = self._last
        task = asyncio.get_running_loop().create_task(self._submit_after(previous, delivery))
        self._last = task
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)
        return delivery

    def emit_report(self, report: EndOfCallReport) -> Delivery | None:
        """Send the end-of-call report (CallMissed: the final session event) under the call's
        one report delivery id, so a crash report for the same call (sent by the main process)
        dedupes against it."""
        return self.emit(report, delivery_id=report_delivery_id(self.call.id))

    async def drain(self) -> None:
        """Wait until every emitted event is in the sink (not: delivered; see ``flush``)."""
        while self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)

    def _wanted(self, event: EventMessage) -> bool:
        if self.wire == "hms":
            return event.type in self._enabled
        # `enabled_event_names` has put each HMS name's CallMissed counterparts in the set.
        name = self._callmissed_name(event)
        return name is not None and name in self._enabled

    def _callmissed_name(self, event: EventMessage) -> CallMissedEvent | None:
        if isinstance(event, StatusUpdate):
            return STARTED if event.status == "in-progress" and not self._session_started else None
        if isinstance(event, EndOfCallReport):
            return session_end(event.end_reason, event.end_detail).event
        return None

    def _callmissed(self, event: EventMessage) -> tuple[CallMissedEvent, VoiceSession] | None:
        name = self._callmissed_name(event)
        self._status_after(event)
        if name is None:
            return None
        if isinstance(event, EndOfCallReport):
            return session_from_report(event, self._session)
        self._session_started = True
        return name, session_started(self.call.id, self._session, started_at=self._now())

    def _status_after(self, event: EventMessage) -> CallStatus:
        if isinstance(event, StatusUpdate):
            self.call = self.call.model_copy(update={"status": event.status})
        elif isinstance(event, EndOfCallReport):
            # The report ends the call: `failed` when its builder said so (never live), else
            # `ended`, whatever the call was doing.
            final: CallStatus = "failed" if event.call.status == "failed" else "ended"
            self.call = self.call.model_copy(update={"status": final})
        return self.call.status

    async def _submit_after(self, previous: asyncio.Task[None] | None, delivery: Delivery) -> None:
        if previous is not None:
            await asyncio.gather(previous, return_exceptions=True)
        try:
            await self._sink.submit(delivery)
        except Exception:
            log.exception(
                "event_submit_failed",
                call_id=delivery.call_id,
                event_type=delivery.event_type,
                delivery_id=delivery.delivery_id,
            )
