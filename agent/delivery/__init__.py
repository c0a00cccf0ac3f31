"""Event delivery: where a call's events go once the events module has built them.

Sinks are pluggable (``load_sinks``); the default is signed HTTP webhooks with retries, an
outbox for what cannot be delivered, and an SSRF guard on every target. See docs/delivery.md.
"""

from agent.delivery.base import (
    ENTRY_POINT_GROUP,
    Delivery,
    EventSink,
    FanOutSink,
    SinkContext,
    SinkFactory,
    load_sinks,
)
from agent.delivery.outbox import Outbox, OutboxBusy, ReplayResult
from agent.delivery.target_policy import TargetPolicy, TargetRefused
from agent.delivery.webhook import DeliveryOutcome, WebhookSink

__all__ = [
    "ENTRY_POINT_GROUP",
    "Delivery",
    "DeliveryOutcome",
    "EventSink",
    "FanOutSink",
    "Outbox",
    "OutboxBusy",
    "ReplayResult",
    "SinkContext",
    "SinkFactory",
    "TargetPolicy",
    "TargetRefused",
    "WebhookSink",
    "load_sinks",
]
