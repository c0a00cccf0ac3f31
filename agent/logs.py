"""Logging: structlog for our code and the standard library's logging (which livekit uses),
rendered by one pipeline. JSON lines when stdout is not a terminal (Kubernetes), a console
renderer when it is. Call context (`call_id`, `room`, `job_id`) is bound once per call with
`bind_call()` and rides on every line, framework lines included.

Personal data rules (enforced by callers, checked by tests): transcript text, phone numbers and
tool arguments are logged at debug level only, and never under `gdpr_mode`; secrets never.
"""

from __future__ import annotations

import logging
import sys
from typing import Any, TextIO

import structlog
from structlog.types import EventDict, Processor

from agent.settings import LogFormat

_configured = False


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
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    _configured = True


def _identity(_: Any, __: str, event: EventDict) -> EventDict:
    return event


def bind_call(*, call_id: str, room: str, job_id: str | None = None) -> None:
    """Bind the call's identity to every log line emitted in this context (task/process)."""
    structlog.contextvars.bind_contextvars(call_id=call_id, room=room, job_id=job_id)


def unbind_call() -> None:
    structlog.contextvars.unbind_contextvars("call_id", "room", "job_id")
