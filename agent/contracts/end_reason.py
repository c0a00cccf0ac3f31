"""Why a call ended: exactly one value per call, decided by the lifecycle.

The framework's own close reasons (``CloseReason``) are too coarse and sometimes wrong for
this (a worker-initiated shutdown reports ``USER_INITIATED``), so the lifecycle records the
first cause it observes and never infers it afterwards.
"""

from __future__ import annotations

from enum import StrEnum


class EndReason(StrEnum):
    """The `end_reason` of the end-of-call report (design brief section 5)."""

    USER_HANGUP = "user_hangup"
    """The caller left the room or hung up."""
    AGENT_HANGUP = "agent_hangup"
    """The assistant ended the call: end_call tool, end phrase, or a control end-call."""
    MAX_DURATION = "max_duration"
    """``max_duration_seconds`` was reached."""
    SILENCE_TIMEOUT = "silence_timeout"
    """The caller stayed silent through every silence prompt."""
    TRANSFERRED = "transferred"
    """The call was handed to another destination."""
    VOICEMAIL = "voicemail"
    """An answering machine picked up an outbound call."""
    NO_ANSWER = "no_answer"
    """An outbound call was never answered."""
    ERROR = "error"
    """Anything unexpected: unrecoverable provider failure, crash, worker shutdown."""
    CONFIG_ERROR = "config_error"
    """The dispatch document or a provider config is invalid."""
