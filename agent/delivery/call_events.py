"""The per-call sender: one call's events, stamped, filtered and handed to the sinks in order.

``CallEvents`` is the per-call emitter: it stamps ``seq`` and ``timestamp``, drops event types
the assistant did not ask for (``webhook_events``), serialises each event once, in the call's
wire format, to the bytes that get signed (:class:`agent.delivery.base.Delivery`) and hands
them to the sink without ever making the caller wait for a receiver.

It lives with delivery rather than with the contracts because it is not a wire format but
the step that sends one: the models are agent/contracts/events.py, their bytes
agent/contracts/event_body.py.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Iterable
from datetime import datetime

import structlog

from agent.contracts.callmissed import (
    STARTED,
    CallMissedEvent,
    SessionFacts,
    VoiceSession,
    session_config,
    session_end,
    session_from_report,
    session_started,
)
from agent.contracts.encodable import clean_text
from agent.contracts.event_body import session_body, to_delivery
from agent.contracts.events import (
    AssistantRef,
    CallRef,
    CallStatus,
    EndOfCallReport,
    EventMessage,
    Role,
    StatusUpdate,
    ToolCall,
    ToolCalls,
    Transcript,
)
from agent.contracts.webhook_events import ALL_WEBHOOK_EVENTS, enabled_event_names
from agent.contracts.wire import WireFormat, utc_now
from agent.delivery.base import Delivery, EventSink
from agent.intake.dispatch import CallSpec
from agent.intake.document import CallType
from agent.intake.report_target import ReportTarget
from agent.report.redaction import redact as gdpr_redact
from agent.worker.ledger import report_delivery_id

log = structlog.get_logger(__name__)


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
            body=session_body(session),
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
