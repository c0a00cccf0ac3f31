"""Who to tell when a document fails: the `config_error` report's target, salvaged.

A document that does not parse still names, most of the time, where its report goes (the
webhook URL and secret), which call it was and what the backend wants back (its metadata, its
wire format). This module reads that much, best effort and never raising, under the same
limits the parser applies (agent/intake/dispatch.py), so the report built from it
(agent/report/build.py) always serialises.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from agent.contracts.field_bounds import MAX_METADATA_BYTES, MAX_METADATA_DEPTH
from agent.contracts.untrusted_json import bounds_problem
from agent.contracts.wire import WireFormat, WireFormatSetting, choose_wire_format
from agent.errors import ConfigError
from agent.intake.dialects import dialect_of, normalise
from agent.intake.document import CallType
from agent.intake.reading import load_json
from agent.intake.secrets import ResolvesSecrets, SecretNotFound, SecretResolver


@dataclass(frozen=True)
class ReportTarget:
    """What a failed parse can still tell: where to send the `config_error` report."""

    call_id: str
    call_type: str
    webhook_url: str | None
    webhook_secret: str | None
    """The document's own secret, resolved; None when it gave none or it did not resolve."""
    assistant_name: str | None
    metadata: dict[str, Any]
    signature_requested: bool = False
    """The document gave a `webhook_secret` (resolved or not): its deliveries must be signed."""
    webhook_format: WireFormat = "hms"
    """The format its backend verifies, chosen as for a document that parsed."""
    metadata_sent: bool = False
    """The document had `metadata` (CallMissed sends null when it had none)."""
    bot_id: str | None = None


def salvage_report_target(
    raw: str | bytes | Mapping[str, Any] | None,
    *,
    room_name: str,
    resolver: ResolvesSecrets | None = None,
    webhook_format: WireFormatSetting = "auto",
) -> ReportTarget:
    """Best effort, never raising: read what is needed to report a config error.

    Held to what the parser would accept, so the report built from it serialises: the same
    strict reader (a key given twice is left out, never guessed), a call id and a name within
    their limits, metadata within its bounds (else none)."""
    try:
        sent = load_json(raw, duplicates="drop")
        dialect = dialect_of(sent)
        doc = normalise(sent)
    except (ConfigError, RecursionError, TypeError, ValueError):
        doc, dialect = {}, "hms"
    assistant = doc.get("assistant") or doc.get("assistant_override") or {}
    call = doc.get("call") if isinstance(doc.get("call"), Mapping) else {}
    assert isinstance(call, Mapping)
    if not isinstance(assistant, Mapping):
        assistant = {}

    def text(value: object, limit: int = 2048) -> str | None:
        return value if isinstance(value, str) and value and len(value) <= limit else None

    requested = assistant.get("webhook_secret") is not None
    secret = text(assistant.get("webhook_secret"))
    if secret is not None:
        try:
            secret = (resolver or SecretResolver()).resolve(secret)
        except SecretNotFound:  # refused names included: never a worker setting's value
            secret = None
    call_type = text(call.get("type"))
    metadata = assistant.get("metadata")
    metadata_sent = isinstance(metadata, Mapping)
    if not isinstance(metadata, Mapping) or bounds_problem(
        metadata, max_depth=MAX_METADATA_DEPTH, max_bytes=MAX_METADATA_BYTES
    ):
        metadata = {}
    chosen = assistant.get("webhook_format")
    return ReportTarget(
        call_id=text(call.get("id"), 200) or room_name,
        call_type=call_type if call_type in set(CallType) else CallType.WEB.value,
        webhook_url=text(assistant.get("webhook_url")),
        webhook_secret=secret,
        signature_requested=requested,
        assistant_name=text(assistant.get("name"), 200),
        metadata=dict(metadata),
        webhook_format=choose_wire_format(
            dialect, chosen if chosen in ("hms", "callmissed") else None, operator=webhook_format
        ),
        metadata_sent=metadata_sent,
        bot_id=text(doc.get("assistant_id"), 200),
    )
