"""Logging: structlog for our code and the standard library's logging (which livekit uses),
rendered by one pipeline. JSON lines when stdout is not a terminal (Kubernetes), a console
renderer when it is. Call context (`call_id`, `room`, `job_id`) is bound once per call with
`bind_call()` and rides on every line, framework lines included.

Personal data rules (checked by tests): transcript text, phone numbers and tool arguments are
logged at debug level only, and never under `gdpr_mode`; secrets never. Our own code obeys them
at the call site. livekit-agents does not know about our calls' `gdpr_mode`: its debug lines
("received user transcript", "conversation_item_added") carry the text in their fields, and a
few info/warning lines do too ("amd prediction", "skipping user input"), so `LivekitTextFilter`
enforces the rules on every `livekit.*` record by field name (see its docstring).
"""

from __future__ import annotations

import logging
import sys
from contextvars import ContextVar
from typing import Any, TextIO

import structlog
from structlog.types import EventDict, Processor

from agent.worker.settings import LogFormat

_configured = False

_gdpr: ContextVar[bool] = ContextVar("voice_agent_call_gdpr", default=False)
"""The call's ``gdpr_mode``, bound by `bind_call`. A ContextVar, like structlog's call context:
the session's tasks are created after the bind and inherit it; calls side by side in one
process (simulator, bench) each see their own."""

TEXT_FIELDS = frozenset(
    {
        "transcript",
        "user_transcript",
        "interim_transcript",
        "user_input",
        "text",
        "content",
        "item",
        "instructions",
        "chat_ctx",
        "arguments",
        "output",
        "dtmf_inputs",
    }
)
"""Record fields (``extra=``) that hold what someone said or typed. livekit-agents marks such
fields with a ``pii`` segment (``lk.pii.user_transcript``, ``lk.pii.text``: its telemetry
convention, telemetry/pii.py); the plain names cover lines without the marker."""

REDACTED = "[redacted]"


_RECORD_FIELDS = frozenset(
    [*logging.LogRecord("", 0, "", 0, "", (), None).__dict__, "message", "asctime"]
)
"""A LogRecord's own attributes: everything else on a record came from ``extra=``."""


def _holds_text(field: str) -> bool:
    # "lk.pii.text" -> pii segment; "text" -> a known name. No split(): this runs per field.
    return field in TEXT_FIELDS or field.startswith("pii.") or ".pii." in field


class LivekitTextFilter(logging.Filter):
    """Keeps the personal data rules on livekit-agents' own records, which name the text they
    carry in their fields. For a ``livekit.*`` record with such a field:

    - debug (below info): kept as is, unless the call is under ``gdpr_mode``: then dropped;
    - info (and livekit's DEV level, 23): downgraded to debug (text is debug-only), then treated
      as a debug record; dropped when the logger does not log debug;
    - warning and above: kept at its level (it says something went wrong), the text fields
      replaced with ``[redacted]``.

    Records without a text field, and every other logger's, pass untouched. Installed on the
    ``livekit*`` loggers (their records are filtered before any handler, including the job
    process's queue to the main process) and on our root handler (child loggers created later).
    Cost (measured): ~0.15 us for other loggers' records, ~2-2.5 us for livekit's (rendering a line
    costs ten times that)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith("livekit"):
            return True
        # Only the extras are looked at: one set difference, then a check per extra (1-3).
        fields = [key for key in record.__dict__.keys() - _RECORD_FIELDS if _holds_text(key)]
        if not fields:
            return True
        if record.levelno >= logging.WARNING:
            for key in fields:
                record.__dict__[key] = REDACTED
            return True
        if record.levelno >= logging.INFO:
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
            if not logging.getLogger(record.name).isEnabledFor(logging.DEBUG):
                return False
        return not _gdpr.get()


_text_filter = LivekitTextFilter()


def guard_livekit_records(handler: logging.Handler | None = None) -> None:
    """Install `LivekitTextFilter` on every ``livekit*`` logger that exists now (and on
    ``handler``). Idempotent; cheap enough to call once per call (a walk of the logger table)."""
    names = ["livekit", "livekit.agents"]
    names += [name for name in logging.root.manager.loggerDict if name.startswith("livekit")]
    for name in names:
        logger = logging.getLogger(name)
        if _text_filter not in logger.filters:
            logger.addFilter(_text_filter)
    if handler is not None and _text_filter not in handler.filters:
        handler.addFilter(_text_filter)


def _drop_color_message(_: Any, __: str, event: EventDict) -> EventDict:
    event.pop("color_message", None)
    return event


def configure_logging(
    fmt: LogFormat = LogFormat.AUTO, level: str = "INFO", *, stream: TextIO | None = None
) -> None:
    """Route structlog and stdlib logging through one renderer. Idempotent. `stream` defaults
    to stdout; commands that print their own output to stdout log to stderr instead."""
    stream = stream or sys.stdout
    global _configured
    json_output = fmt is LogFormat.JSON or (fmt is LogFormat.AUTO and not stream.isatty())
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.stdlib.ExtraAdder(),
        _drop_color_message,
    ]
    renderer: Processor = (
        structlog.processors.JSONRenderer()
        if json_output
        else structlog.dev.ConsoleRenderer(colors=stream.isatty())
    )
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info if json_output else _identity,
            renderer,
        ],
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    guard_livekit_records(handler)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    _configured = True


def _identity(_: Any, __: str, event: EventDict) -> EventDict:
    return event


def bind_call(*, call_id: str, room: str, job_id: str | None = None, gdpr: bool = False) -> None:
    """Bind the call's identity to every log line emitted in this context (task/process), and
    its ``gdpr_mode`` to what `LivekitTextFilter` lets through."""
    structlog.contextvars.bind_contextvars(call_id=call_id, room=room, job_id=job_id)
    _gdpr.set(gdpr)
    guard_livekit_records()


def unbind_call() -> None:
    structlog.contextvars.unbind_contextvars("call_id", "room", "job_id")
    _gdpr.set(False)
