"""CallMissed's webhook wire format, as shared/seeds/004_7263bb0198f1bc3b.txt documents it.

A backend of the CallMissed dialect (or any document that chooses ``webhook_format:
callmissed``) gets that API's own events, not HMS's envelope:

    the call goes live          -> voice_session.started   status active
    the call ends               -> voice_session.ended     status completed | timeout
    the call fails (error,      -> voice_session.failed    status failed
      config_error, crash)

Each body is the session object of the API ("Get Session": the create response without
``ws_url`` and ``token``) plus the per-turn ``transcript`` in the transcript endpoint's field
names, and our ``error`` / ``warnings``. Nothing else of a call is sent in this format: HMS's
``status-update`` moments other than going live, and ``transcript`` events, have no CallMissed
counterpart. Tool calls stay HMS's request/response exchange with the tool server (CallMissed
documents no tools). The headers and signature are agent/delivery/signing.py's.

The seed documents one ``end_reason`` value (``api_delete``, a session ended by DELETE); the
others are ours, in the same snake_case (``_SESSION_ENDS`` and the README table).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from agent.contracts.end_reason import EndReason
from agent.contracts.wire import Timestamp, WireModel, utc_now

if TYPE_CHECKING:
    from agent.contracts.assistant import AssistantConfig
    from agent.contracts.events import EndOfCallReport

CallMissedEvent = Literal["voice_session.started", "voice_session.ended", "voice_session.failed"]
STARTED: CallMissedEvent = "voice_session.started"
ENDED: CallMissedEvent = "voice_session.ended"
FAILED: CallMissedEvent = "voice_session.failed"
EVENTS: tuple[CallMissedEvent, ...] = (STARTED, ENDED, FAILED)

SessionStatus = Literal["created", "active", "completed", "failed", "timeout"]
"""Seed 004 "List Sessions": the statuses a session has. ``created`` is the backend's (before
any worker joins); the worker sends the other four."""

SessionEndReason = Literal[
    "user_hangup",
    "agent_hangup",
    "api_delete",
    "max_duration",
    "silence_timeout",
    "transferred",
    "voicemail",
    "no_answer",
    "error",
    "config_error",
]

CONTROL_END_CALL = "control_end_call"
"""The end detail of the backend's own end-call command: CallMissed's DELETE."""


@dataclass(frozen=True, slots=True)
class SessionEnd:
    event: CallMissedEvent
    status: SessionStatus
    end_reason: SessionEndReason


_SESSION_ENDS: dict[EndReason, tuple[SessionEndReason, SessionStatus]] = {
    EndReason.USER_HANGUP: ("user_hangup", "completed"),
    EndReason.AGENT_HANGUP: ("agent_hangup", "completed"),
    EndReason.MAX_DURATION: ("max_duration", "timeout"),
    EndReason.SILENCE_TIMEOUT: ("silence_timeout", "completed"),
    EndReason.TRANSFERRED: ("transferred", "completed"),
    EndReason.VOICEMAIL: ("voicemail", "completed"),
    EndReason.NO_ANSWER: ("no_answer", "completed"),
    EndReason.ERROR: ("error", "failed"),
    EndReason.CONFIG_ERROR: ("config_error", "failed"),
}
"""Our end reason -> CallMissed's ``end_reason`` and session ``status``. The names stay ours
(the seed's style, as ``api_delete``); ``max_duration`` is the seed's ``timeout`` status (the
session "auto-ends" at its limit); ``no_answer`` (an outbound call nobody picked up) is a
completed session, not a failure."""


def session_end(reason: EndReason, detail: str | None) -> SessionEnd:
    """Our end reason in CallMissed's terms; the backend's end-call command (detail
    ``control_end_call``) is its DELETE, so it ends ``api_delete``. ``failed`` sessions are
    ``voice_session.failed``, every other end ``voice_session.ended``."""
    name, status = _SESSION_ENDS[reason]
    if reason is EndReason.AGENT_HANGUP and detail == CONTROL_END_CALL:
        name = "api_delete"
    return SessionEnd(event=FAILED if status == "failed" else ENDED, status=status, end_reason=name)


def our_end_reason(end_reason: str) -> EndReason:
    """The way back (``api_delete`` is our control end-call): for readers of our own bodies."""
    return EndReason.AGENT_HANGUP if end_reason == "api_delete" else EndReason(end_reason)


# --- the body ----------------------------------------------------------------------------------


class CallMissedTurn(WireModel):
    """A turn under the CallMissed transcript API's names (seed 004 "Get Transcript"), in its
    order. ``first_token_ms`` = LLM time to first token, ``first_audio_ms`` = caller stopped
    speaking -> first agent audio, ``total_ms`` = caller stopped speaking -> agent finished
    speaking. Turn 0 is the greeting when the agent spoke first (empty ``user_transcript``)."""

    turn_index: int
    user_transcript: str
    agent_response: str
    interrupted: bool
    stt_ms: float | None = None
    first_token_ms: float | None = None
    first_audio_ms: float | None = None
    total_ms: float | None = None
    llm_model: str | None = None
    created_at: Timestamp | None = None
    """When the turn ended (the agent's reply finished, else the caller's speech)."""


class SessionConfig(WireModel):
    """The session's config as applied (seed 004 ``config``), after defaults."""

    system_prompt: str | None = None
    voice: str | None = None
    language: str | None = None
    llm_model: str | None = None
    tts_provider: str | None = None
    max_duration_seconds: int | None = None
    livekit_room: str | None = None


class VoiceSession(WireModel):
    """Every CallMissed webhook body: ``VoiceSessionOut`` (seed 004 "Get Session", fields in
    its order) plus ``transcript``, ``error`` and ``warnings`` (ours)."""

    id: str
    """The call id (``call.id`` of the document, else the room name)."""
    tenant_id: str | None = None
    """Unknown to the worker: always null."""
    bot_id: str | None = None
    """The saved assistant the session was built from, when there was one."""
    status: SessionStatus
    config: SessionConfig | None = None
    """Null when the document could not be read (config_error) or in a crash report."""
    started_at: Timestamp | None = None
    """When the call went live; null for a session that never did."""
    ended_at: Timestamp | None = None
    duration_seconds: float | None = None
    """Seconds from going live to the end (3 decimals); null until then, or never live."""
    turn_count: int = 0
    """``len(transcript)``."""
    total_audio_seconds: float = 0.0
    """Caller audio the STT transcribed, in seconds."""
    end_reason: SessionEndReason | None = None
    metadata: dict[str, Any] | None = None
    """Exactly as the backend sent it; null when it sent none."""
    created_at: Timestamp
    """When the worker accepted the call."""
    transcript: list[CallMissedTurn] = Field(default_factory=list)
    error: str | None = None
    """What went wrong, on ``voice_session.failed``."""
    warnings: list[str] = Field(default_factory=list)
    """What the worker accepted but could not honour (paths and names, never values)."""


@dataclass(frozen=True)
class SessionFacts:
    """What a session body says that no event carries: fixed once per call."""

    bot_id: str | None = None
    config: SessionConfig | None = None
    metadata: dict[str, Any] | None = None
    created_at: datetime = field(default_factory=utc_now)
    warnings: tuple[str, ...] = ()


def session_config(assistant: AssistantConfig, room_name: str) -> SessionConfig:
    """The flat view of an assistant: what a CallMissed backend would have sent for it."""
    tts: Any = assistant.tts_config
    stt: Any = assistant.stt_config
    return SessionConfig(
        system_prompt=assistant.instructions or None,
        voice=getattr(tts, "voice", None) or getattr(tts, "voice_id", None),
        language=getattr(stt, "language", None) or getattr(tts, "language", None),
        llm_model=assistant.llm_config.model,
        tts_provider=assistant.tts_config.provider,
        max_duration_seconds=assistant.max_duration_seconds,
        livekit_room=room_name,
    )


def session_started(call_id: str, facts: SessionFacts, *, started_at: datetime) -> VoiceSession:
    return VoiceSession(
        id=call_id,
        bot_id=facts.bot_id,
        status="active",
        config=facts.config,
        started_at=started_at,
        metadata=facts.metadata,
        created_at=facts.created_at,
        warnings=list(facts.warnings),
    )


def session_from_report(
    report: EndOfCallReport, facts: SessionFacts
) -> tuple[CallMissedEvent, VoiceSession]:
    """The final event of a call and its body, from the end-of-call report (already redacted
    under ``gdpr_mode``). A call that never went live (``call.status`` failed) has no start."""
    end = session_end(report.end_reason, report.end_detail)
    live = report.call.status != "failed"
    turns = report.metrics.callmissed_turns
    audio = sum(u.audio_seconds for u in report.usage if u.kind == "stt")
    return end.event, VoiceSession(
        id=report.call.id,
        bot_id=facts.bot_id,
        status=end.status,
        config=facts.config,
        started_at=report.started_at if live else None,
        ended_at=report.ended_at,
        duration_seconds=round(report.duration_ms / 1000, 3) if live else None,
        turn_count=len(turns),
        total_audio_seconds=round(audio, 3),
        end_reason=end.end_reason,
        metadata=facts.metadata,
        created_at=facts.created_at,
        transcript=list(turns),
        error=report.error if end.status == "failed" else None,
        warnings=list(report.warnings),
    )


def turn_created_at(ended_at: float | None) -> datetime | None:
    """A turn's ``created_at`` from the record's unix time."""
    return None if ended_at is None else datetime.fromtimestamp(ended_at, UTC)
