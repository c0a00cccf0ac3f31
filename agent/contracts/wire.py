"""What both outgoing wire formats share: the base model, the timestamp type, the format names.

The worker speaks two webhook dialects: HMS's envelope (agent/contracts/events.py) and
CallMissed's ``voice_session.*`` events (agent/contracts/callmissed.py). Their bodies are built
on the pieces here, and a :class:`agent.delivery.base.Delivery` carries the
:data:`WireFormat` it was serialised in, so the signing and the outbox (which re-signs on
replay) put the right headers on it without knowing anything else about formats.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, PlainSerializer, WithJsonSchema

WireFormat = Literal["hms", "callmissed"]
"""``hms``: the HMS/VoiceDock envelope and ``X-Webhook-*`` headers (seeds 000, 001);
``callmissed``: CallMissed's session events and ``X-CallMissed-*`` headers (seed 004)."""

WireFormatSetting = Literal["auto", "hms", "callmissed"]
"""The operator's ``VOICE_AGENT_WEBHOOK_FORMAT``: ``auto`` lets each document decide."""


def choose_wire_format(
    dialect: WireFormat, chosen: WireFormat | None, *, operator: WireFormatSetting
) -> WireFormat:
    """The format a call's webhooks go out in: the operator's when it forces one (its
    receivers verify one scheme), else the document's own choice, else its dialect's."""
    if operator != "auto":
        return operator
    return chosen or dialect


def iso_ms(moment: datetime) -> str:
    # 2026-04-19T12:00:00.123Z: UTC, millisecond precision, as the platforms send it.
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


Timestamp = Annotated[
    datetime,
    PlainSerializer(iso_ms, return_type=str),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]
"""A wall-clock moment, sent as ISO 8601 UTC with milliseconds."""


def utc_now() -> datetime:
    return datetime.now(UTC)


class WireModel(BaseModel):
    """Base of every outgoing model: unknown fields are a bug, aliases are the wire names."""

    model_config = ConfigDict(
        extra="forbid",
        populate_by_name=True,
        serialize_by_alias=True,
        # Every field is always sent (null when empty): the schema says so to receivers.
        json_schema_serialization_defaults_required=True,
    )
