"""What an event sink is, and how the configured ones are found.

agent/contracts/event_body.py turns a call's events into signed-ready JSON bytes
(:class:`Delivery`); sinks take it from there. A sink's ``submit`` only enqueues, so nothing on
the audio path waits for a receiver; ``flush`` is where the end of a call waits for its report
to be out. Besides the built-in sinks, operators plug their own in through the
``voice_agent.sinks`` entry-point group (see docs/delivery.md).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import structlog

from agent.contracts.wire import WireFormat
from agent.entry_points import plugin_group
from agent.errors import ConfigError

if TYPE_CHECKING:
    from agent.delivery.outbox import Outbox
    from agent.delivery.target_policy import TargetPolicy
    from agent.delivery.webhook import DeliveryOutcome

log = structlog.get_logger(__name__)

ENTRY_POINT_GROUP = "voice_agent.sinks"


@dataclass(frozen=True, slots=True)
class Delivery:
    """One event on its way to one receiver.

    ``body`` is the exact JSON that is signed and sent; ``delivery_id`` is the id receivers
    deduplicate on (``X-Webhook-Id`` / ``X-CallMissed-Delivery``: the same on every retry and
    on replay). ``wire`` is the format ``body`` was written in, which decides the headers and
    the signature (agent/delivery/signing.py).
    ``url`` None means the call has no receiver for this event. ``secret`` and ``body`` are
    kept out of ``repr`` so a stray log of a delivery leaks neither a key nor a transcript.
    ``requires_signature``: the document asked for signed delivery, so without a ``secret``
    nothing is sent (the sink parks it instead; see agent/delivery/webhook.py).
    """

    delivery_id: str
    call_id: str
    event_type: str
    seq: int
    body: bytes = field(repr=False)
    url: str | None = field(repr=False)
    secret: str | None = field(repr=False)
    requires_signature: bool = False
    wire: WireFormat = "hms"

    @property
    def unsigned_but_required(self) -> bool:
        """Asked to be signed, and nothing to sign it with: must never go out."""
        return self.requires_signature and not self.secret


@runtime_checkable
class EventSink(Protocol):
    """Where deliveries go. Implementations never raise from ``submit`` for a receiver's
    failure: what cannot be delivered is parked (outbox) or reported in the sink's stats.

    ``flush``/``aclose`` take a ``timeout`` (hence the ASYNC109 waivers) because running out
    of time is not cancellation: the sink parks what is left in the outbox, which a caller's
    ``asyncio.timeout`` would interrupt.
    """

    async def submit(self, delivery: Delivery) -> None:
        """Accept ``delivery`` for sending and return at once."""
        ...

    async def flush(self, call_id: str | None = None, timeout: float = 30.0) -> None:  # noqa: ASYNC109
        """Wait until ``call_id``'s deliveries (every call's when None) are sent or parked."""
        ...

    async def aclose(self, timeout: float = 30.0) -> None:  # noqa: ASYNC109
        """Flush everything within ``timeout``, park what is left, release resources."""
        ...


@dataclass(frozen=True, slots=True)
class SinkContext:
    """What a sink factory may need; third-party factories receive the same object."""

    policy: TargetPolicy
    outbox: Outbox
    jsonl_path: Path | None = None
    attempt_timeout: float = 10.0
    retry_window: float = 120.0
    max_attempts: int = 8


SinkFactory = Callable[[SinkContext], EventSink]


def _webhook(context: SinkContext) -> EventSink:
    from agent.delivery.webhook import WebhookSink

    return WebhookSink(
        context.policy,
        context.outbox,
        attempt_timeout=context.attempt_timeout,
        retry_window=context.retry_window,
        max_attempts=context.max_attempts,
    )


def _jsonl(context: SinkContext) -> EventSink:
    from agent.delivery.jsonl import JsonlSink

    if context.jsonl_path is None:
        raise ConfigError("the jsonl sink needs a file path", path="sinks.jsonl")
    return JsonlSink(context.jsonl_path)


def _log(context: SinkContext) -> EventSink:
    from agent.delivery.logsink import LogSink

    return LogSink()


BUILT_IN_SINKS: dict[str, SinkFactory] = {"webhook": _webhook, "jsonl": _jsonl, "log": _log}


def load_sinks(names: Sequence[str], context: SinkContext) -> list[EventSink]:
    """Build the sinks named in configuration, in order.

    Built-in names win over an entry point of the same name (a package cannot silently
    replace the signed webhook sink). Raises :class:`ConfigError` naming an unknown sink or a
    plugin whose factory does not return an :class:`EventSink`.
    """
    plugins = {ep.name: ep for ep in plugin_group(ENTRY_POINT_GROUP)}
    sinks: list[EventSink] = []
    for name in names:
        if name in BUILT_IN_SINKS:
            if name in plugins:
                log.warning("sink_plugin_shadowed", sink=name)
            sinks.append(BUILT_IN_SINKS[name](context))
            continue
        if name not in plugins:
            known = sorted(BUILT_IN_SINKS.keys() | plugins.keys())
            raise ConfigError(f"unknown sink {name!r} (known: {', '.join(known)})", path="sinks")
        factory = plugins[name].load()
        sink = factory(context)
        if not isinstance(sink, EventSink):
            raise ConfigError(
                f"sink plugin {name!r} ({plugins[name].value}) did not return an EventSink",
                path="sinks",
            )
        sinks.append(sink)
    return sinks


class FanOutSink:
    """Several sinks behind one: every delivery goes to each, in configuration order.

    One sink's failure to accept a delivery is logged and does not starve the others.
    """

    def __init__(self, sinks: Sequence[EventSink]) -> None:
        self.sinks = tuple(sinks)

    async def submit(self, delivery: Delivery) -> None:
        for sink in self.sinks:
            try:
                await sink.submit(delivery)
            except Exception:
                log.exception(
                    "sink_submit_failed",
                    sink=type(sink).__name__,
                    call_id=delivery.call_id,
                    delivery_id=delivery.delivery_id,
                )

    def outcomes(self, call_id: str) -> list[DeliveryOutcome]:
        """The call's delivery outcomes from every member that keeps them (the webhook sink
        does), in configuration order: what agent/worker/metrics.py counts at the end of a call."""
        found: list[DeliveryOutcome] = []
        for sink in self.sinks:
            outcomes = getattr(sink, "outcomes", None)
            if callable(outcomes):
                found.extend(outcomes(call_id))
        return found

    async def flush(self, call_id: str | None = None, timeout: float = 30.0) -> None:  # noqa: ASYNC109
        # Sinks flush side by side: the timeout bounds the whole flush, not each sink.
        results = await asyncio.gather(
            *(sink.flush(call_id, timeout) for sink in self.sinks), return_exceptions=True
        )
        self._log_failures("flush", results)

    async def aclose(self, timeout: float = 30.0) -> None:  # noqa: ASYNC109
        results = await asyncio.gather(
            *(sink.aclose(timeout) for sink in self.sinks), return_exceptions=True
        )
        self._log_failures("aclose", results)

    def _log_failures(self, step: str, results: Sequence[object]) -> None:
        # One broken sink must not cost the others their report (or the caller its metrics).
        for sink, result in zip(self.sinks, results, strict=True):
            if isinstance(result, BaseException):
                log.error(
                    "sink_failed", step=step, sink=type(sink).__name__,
                    error_type=type(result).__name__,
                )  # fmt: skip
