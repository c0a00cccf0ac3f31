"""An event's body: the exact bytes that get signed and sent, and what happens when a value
will not encode.

agent/contracts/events.py says what a receiver sees; this module says how an event becomes
those bytes, once, for :class:`agent.delivery.base.Delivery`. A report always goes out: strict
serialisation first (``serialise``), then every value cleaned (agent/contracts/encodable.py),
then the event reduced to what identifies the call and says how it ended (``reduced_event``).
Only a tool-calls request, which must not be sent without its arguments, raises
(``UnsendableEvent``). A CallMissed session body (``session_body``) has the same guarantee.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

import structlog
from pydantic import BaseModel

from agent.contracts.callmissed import VoiceSession
from agent.contracts.encodable import clean_data, clean_text
from agent.contracts.events import (
    AssistantRef,
    CallRef,
    EndOfCallReport,
    Envelope,
    EventMessage,
    StatusUpdate,
    ToolCalls,
    Transcript,
)
from agent.contracts.wire import iso_ms
from agent.delivery.base import Delivery

log = structlog.get_logger(__name__)


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


def session_body(session: VoiceSession) -> bytes:
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
