"""Which webhook events an assistant asks for (`webhook_events`), in either wire format's names.

A backend lists the moments of a call it wants to hear about; it may write HMS's names
(`status-update`, ...) or CallMissed's (`voice_session.*`), and a name of one format selects
its counterpart in the other. The list is part of the assistant's contract; the emitter
(agent/delivery/call_events.py `CallEvents`) filters by it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

WebhookEvent = Literal[
    "status-update",
    "transcript",
    "tool-calls",
    "end-of-call-report",
    "assistant-request",
    "voice_session.started",
    "voice_session.ended",
    "voice_session.failed",
]
"""Every event name the seeds list: HMS's (000, 001) and CallMissed's (004). `assistant-request`
is accepted and has no effect: whether the worker asks a backend is the operator's
`VOICE_AGENT_CONFIG_SOURCE`."""
ALL_WEBHOOK_EVENTS: tuple[WebhookEvent, ...] = (
    "status-update",
    "transcript",
    "tool-calls",
    "end-of-call-report",
)
"""What the worker sends by default (HMS names)."""
WEBHOOK_EVENT_EQUIVALENTS: dict[str, tuple[str, ...]] = {
    "voice_session.started": ("status-update",),
    "voice_session.ended": ("end-of-call-report",),
    "voice_session.failed": ("end-of-call-report",),
    "status-update": ("voice_session.started",),
    "end-of-call-report": ("voice_session.ended", "voice_session.failed"),
}
"""A name of one wire format also enables its counterpart in the other, so a list written for
either dialect selects the same moments of a call."""


def enabled_event_names(listed: Iterable[str]) -> frozenset[str]:
    """The event names `webhook_events` selects, counterparts of the other format included."""
    names = set(listed)
    for name in list(names):
        names.update(WEBHOOK_EVENT_EQUIVALENTS.get(name, ()))
    return frozenset(names)
