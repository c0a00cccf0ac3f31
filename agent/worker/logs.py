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

Phone numbers also hide in names: LiveKit SIP names the caller's participant ``sip_<number>``
and an individual dispatch rule puts the number in the room name (``call-_<number>_x3Fq``).
So the bound ``room`` is always masked (`mask_numbers`: ``call-_[PHONE]_x3Fq``), and so are
participant and room fields on livekit's info lines. Under ``gdpr_mode`` every string value of
every line of the call is masked, ours (a structlog processor, as a second line behind the call
sites, which skip their number-bearing debug lines) and livekit's (`LivekitTextFilter`).
"""

from __future__ import annotations

import logging
import sys
from contextvars import ContextVar
from typing import Any, TextIO

import structlog
from structlog.types import EventDict, Processor

from agent.report.redaction import mask_numbers
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


NAME_FIELD_ENDINGS = ("identity", "participant", "room", "room_name")
"""Record fields (by how their name ends) that hold a participant identity or a room name,
which can hold a phone number (``sip_+31612345678``): masked on livekit's info lines."""


def gdpr_active() -> bool:
    """Whether the call this code runs for is under ``gdpr_mode``: a call site with a debug
    line that would carry a phone number (or a name holding one) skips it then."""
    return _gdpr.get()


def _mask_record(record: logging.LogRecord, fields: list[str]) -> None:
    for key in fields:
        value = record.__dict__[key]
        if isinstance(value, str):
            record.__dict__[key] = mask_numbers(value)


class LivekitTextFilter(logging.Filter):
    """Keeps the personal data rules on livekit-agents' own records, which name the text they
    carry in their fields. For a ``livekit.*`` record with such a field:

    - debug (below info): kept as is, unless the call is under ``gdpr_mode``: then dropped;
    - info (and livekit's DEV level, 23): downgraded to debug (text is debug-only), then treated
      as a debug record; dropped when the logger does not log debug;
    - warning and above: kept at its level (it says something went wrong), the text fields
      replaced with ``[redacted]``.

    Phone numbers (`mask_numbers`) on the records that pass: under ``gdpr_mode`` masked in
    every string field and in the message; otherwise masked at info and above in the fields
    that name a participant or a room (``NAME_FIELD_ENDINGS``).

    Other records of livekit's, and every other logger's, pass untouched. Installed on the
    ``livekit*`` loggers (their records are filtered before any handler, including the job
    process's queue to the main process) and on our root handler (child loggers created later).
    Cost (measured): ~0.15 us for other loggers' records, ~1-2.5 us for livekit's, ~3-5 us for
    those whose fields are masked (rendering a line costs ~20 us)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith("livekit"):
            return True
        # Only the extras are looked at: one set difference, then a check per extra (1-3).
        extras = list(record.__dict__.keys() - _RECORD_FIELDS)
        fields = [key for key in extras if _holds_text(key)]
        gdpr = _gdpr.get()
        if fields:
            if record.levelno >= logging.WARNING:
                for key in fields:
                    record.__dict__[key] = REDACTED
            elif record.levelno >= logging.INFO:
                record.levelno, record.levelname = logging.DEBUG, "DEBUG"
                if not logging.getLogger(record.name).isEnabledFor(logging.DEBUG):
                    return False
            if record.levelno < logging.INFO and gdpr:
                return False
        if gdpr:
            _mask_record(record, extras)
            if record.args:  # the message is formatted here, so its arguments are masked too
                record.msg, record.args = mask_numbers(record.getMessage()), None
            elif isinstance(record.msg, str):
                record.msg = mask_numbers(record.msg)
        elif record.levelno >= logging.INFO:
            _mask_record(record, [key for key in extras if key.endswith(NAME_FIELD_ENDINGS)])
        return True


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


def _mask_numbers_under_gdpr(_: Any, __: str, event: EventDict) -> EventDict:
    """Under ``gdpr_mode``: phone numbers out of every string value of the line (nested ones
    too, three levels down), whatever the call site passed. The timestamp is ours."""
    if _gdpr.get():
        for key, value in event.items():
            if key != "timestamp":
                event[key] = _masked(value, 3)
    return event


def _masked(value: Any, depth: int) -> Any:
    if isinstance(value, str):
        return mask_numbers(value)
    if depth and isinstance(value, dict):
        return {key: _masked(item, depth - 1) for key, item in value.items()}
    if depth and isinstance(value, list | tuple):
        return [_masked(item, depth - 1) for item in value]
    return value


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
        _mask_numbers_under_gdpr,
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
    its ``gdpr_mode`` to what `LivekitTextFilter` lets through.

    The room name is bound with its phone numbers masked (a SIP dispatch rule may name the room
    after the caller), and so is the call id where it is the room name (a document without
    ``call.id``) or the call is under ``gdpr_mode``; the backend's own call ids stay whole."""
    if gdpr or call_id == room:
        call_id = mask_numbers(call_id)
    structlog.contextvars.bind_contextvars(call_id=call_id, room=mask_numbers(room), job_id=job_id)
    _gdpr.set(gdpr)
    guard_livekit_records()


def unbind_call() -> None:
    structlog.contextvars.unbind_contextvars("call_id", "room", "job_id")
    _gdpr.set(False)
