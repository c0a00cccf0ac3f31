"""Job: what a job process does with one dispatched call (the worker's entrypoint body).

Reads the dispatch document from the configured config source (by default dispatch metadata
first, room metadata second; see agent/intake/sources.py), turns it into a
CallSpec and real providers, and runs the call through LiveCall in the room. A document that does
not parse never crashes the process and never leaves the caller in a silent room: the room is
closed at once, the call ends with `config_error`, and the report names the field.

Two halves, because of how the framework ends a job: once shutdown starts (the room closes, or
the worker is told to stop) the entrypoint gets 15 s before it is cancelled, while the
`on_session_end` callback gets `session_end_timeout` (the report budget, 300 s). So the
entrypoint runs the call until the lifecycle has ended it and then closes the room (which hangs
up a web caller or the SIP leg); `report_call`, registered as `on_session_end`, analyses and
sends the report. A worker shutdown reaching a live call cancels the entrypoint: that becomes the
lifecycle's `worker_shutdown` end, and the report skips analysis to fit the exit window.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import structlog
from livekit.agents import JobContext
from livekit.agents.voice.room_io import RoomOptions, TextOutputOptions

from agent.call.control.channel import attach_control
from agent.call.endpoints import check_provider_endpoints
from agent.call.live_call import LiveCall
from agent.call.providers import Providers, build_providers, load_vad
from agent.call.session import GreetingAudio
from agent.call.telephony.dtmf import room_publisher
from agent.call.telephony.outbound import connect_outbound
from agent.call.telephony.phone_line import PhoneLine
from agent.delivery.base import EventSink
from agent.delivery.target_policy import TargetPolicy
from agent.errors import ConfigError
from agent.intake.dispatch import (
    CallSpec,
    CallType,
    ConfigOrigin,
    DirectoryAssistants,
    NoSavedAssistants,
    ParseOptions,
    SavedAssistants,
    parse_dispatch,
)
from agent.intake.secrets import SecretResolver
from agent.intake.sources import CallFacts, RawDocument, RoomFacts, load_config_source, room_facts
from agent.intake.summary import describe
from agent.report.send import build_sink, report_config_error, report_startup_error
from agent.worker import metrics
from agent.worker.ledger import CallLedger
from agent.worker.logs import bind_call
from agent.worker.settings import WorkerSettings

log = structlog.get_logger(__name__)

_GREETINGS = GreetingAudio()
"""Per job process: a repeated greeting plays from memory (see session.GreetingAudio)."""

_CALLS: dict[str, tuple[LiveCall, EventSink, CallLedger]] = {}
"""Calls of this job process whose report is still owed, by job id."""


def _options(settings: WorkerSettings) -> ParseOptions:
    saved: SavedAssistants = (
        DirectoryAssistants(settings.assistants_dir)
        if settings.assistants_dir
        else NoSavedAssistants()
    )
    return ParseOptions(
        resolver=SecretResolver.from_settings(settings),
        saved=saved,
        max_call_seconds=settings.max_call_seconds,
    )


async def run_job(ctx: JobContext) -> None:
    started_at = datetime.now(UTC)
    settings: WorkerSettings = ctx.proc.userdata.get("settings") or WorkerSettings()
    room_name = ctx.job.room.name
    bind_call(call_id=room_name, room=room_name, job_id=ctx.job.id)
    sink = build_sink(settings)
    ledger = CallLedger(settings.outbox_dir / "ledger")
    facts = CallFacts(
        job_id=ctx.job.id,
        room_name=room_name,
        dispatch_metadata=ctx.job.metadata or "",
        room=_room_facts(ctx),
    )
    raw: RawDocument = ctx.job.metadata or None
    origin: ConfigOrigin = "dispatch"
    stage = "config_source"
    try:
        # Where the document comes from is the operator's choice (VOICE_AGENT_CONFIG_SOURCE).
        raw, origin = await load_config_source(settings).load(facts)
        stage = "dispatch"
        spec = await parse_dispatch(
            raw, room_name=room_name, origin=origin, options=_options(settings)
        )
        stage = "providers"
        # Endpoints the document chose go through the same target policy as webhooks.
        policy = TargetPolicy(settings.allowed_targets)
        await check_provider_endpoints(spec.assistant, settings, policy)
        providers = build_providers(spec.assistant, settings)
        call, phone = _build_call(ctx, spec, providers, settings, sink)
        stage = "room"
        await ctx.connect()
        # Telephony (caller numbers, DTMF, transfer) and live control (voice-agent.control).
        phone.attach_room(ctx.room)
        attach_control(ctx.room, call, settings, transfer=phone.transfer)
    except ConfigError as exc:
        await report_config_error(
            raw, exc, room_name=room_name, settings=settings, sink=sink, started_at=started_at
        )
        await _give_up(ctx, sink, reason="config_error")
        return
    except Exception as exc:
        # Anything else before the call is live: the caller must not wait in a silent room,
        # and the backend still hears how the call ended.
        await report_startup_error(
            raw, exc, stage=stage, room_name=room_name, settings=settings, sink=sink,
            started_at=started_at,
        )  # fmt: skip
        await _give_up(ctx, sink, reason="start_failed")
        return
    bind_call(
        call_id=spec.call_id, room=room_name, job_id=ctx.job.id, gdpr=spec.assistant.gdpr_mode
    )
    for warning in spec.warnings:
        log.warning("dispatch_warning", warning=warning)
    log.info("call_accepted", summary=describe(spec), origin=origin)
    ledger.open(ctx.job.id, spec.call_id, room_name, started_at, dispatch_metadata=_as_text(raw))
    _CALLS[ctx.job.id] = (call, sink, ledger)

    async def go_live() -> None:
        await call.start(
            room=ctx.room,
            room_options=RoomOptions(
                text_output=TextOutputOptions(sync_transcription=True),
                close_on_disconnect=False,  # the lifecycle decides, for every disconnect reason
            ),
        )

    try:
        if spec.call.type is CallType.OUTBOUND_PHONE and phone.sip is not None:
            await connect_outbound(call, phone.sip, start=go_live)  # dial first, then go live
        else:
            await go_live()
            await call.wait_ended()
    except asyncio.CancelledError:
        # The framework cancels the entrypoint 15 s after a shutdown request (the worker's
        # drain timeout ran out): end the call cleanly; its report is still sent.
        call.end_for_worker_shutdown()
        await call.wait_ended()  # bounded by the lifecycle's goodbye backstop (<= 10 s)
    except Exception as exc:
        log.exception("call_failed")
        call.lifecycle.on_error("worker", f"{type(exc).__name__}: {exc}"[:300])
        await call.wait_ended()
    # Hang up: closing the room disconnects a web caller and drops the SIP leg. The framework
    # then closes the session and runs report_call (on_session_end).
    await _close_room(ctx)
    # The job's shutdown (session close, report_call) starts on the room's `disconnected`, and
    # `delete_room` only logs its failures (an API error, a fake job): without this the ended
    # call's session would stay up in the room, still answering, and its report never be sent.
    ctx.shutdown(reason="call_ended")


def _build_call(
    ctx: JobContext,
    spec: CallSpec,
    providers: Providers,
    settings: WorkerSettings,
    sink: EventSink,
) -> tuple[LiveCall, PhoneLine]:
    vad_engine: Any = ctx.proc.userdata.get("vad") or load_vad(spec.assistant.turn_config)
    if spec.assistant.turn_config.min_silence_seconds != 0.55:
        vad_engine = load_vad(spec.assistant.turn_config)
    _GREETINGS.bind(
        f"{spec.assistant.tts_config.provider}:{spec.assistant.tts_config.model_dump_json()}"
    )
    phone = PhoneLine.for_job(ctx, spec)
    call = LiveCall(
        spec,
        stt_engine=providers.stt,
        llm_engine=providers.llm,
        tts_engine=providers.tts,
        vad_engine=vad_engine,
        sink=sink,
        default_secret=(
            settings.webhook_secret.get_secret_value() if settings.webhook_secret else None
        ),
        greeting_audio=_GREETINGS,
        tool_policy=TargetPolicy(settings.allowed_targets),
        extra_tools=phone.tools(room_publisher(ctx.room)),
    )
    phone.bind(call)
    return call, phone


async def _give_up(ctx: JobContext, sink: EventSink, *, reason: str) -> None:
    """A call that never went live: its report is sent; close the room and end the job."""
    await sink.aclose()
    await _close_room(ctx)
    ctx.shutdown(reason=reason)


async def report_call(ctx: JobContext) -> None:
    """`on_session_end`: analysis, the end-of-call report, delivery (or the outbox)."""
    owed = _CALLS.pop(ctx.job.id, None)
    if owed is None:
        return  # config_error calls are reported in the entrypoint
    call, sink, ledger = owed
    reported = False
    try:
        await call.finish()
        reported = True
    finally:
        await sink.aclose(timeout=30.0)
        # Only a report handed to the sinks closes the entry. If finish() raised or was cut
        # off (session_end_timeout), the open entry makes the main process send the crash
        # report; had ours got out after all, the shared delivery id dedupes the two.
        if reported:
            ledger.close(ctx.job.id)
        else:
            log.error("report_not_sent", job_id=ctx.job.id)
        metrics.outbox_depth(_settings_of(ctx).outbox_dir)
    # Last, once the report is safe: synthesize this greeting for the next call in this
    # process (a TTS request; it must not delay the report or its outbox parking).
    tts = call.session.tts
    if reported and call.spec.assistant.first_message and tts is not None:
        try:
            await _GREETINGS.fill(tts, call.spec.assistant.first_message)
        except Exception as exc:  # a cache miss next time, nothing more
            log.info("greeting_cache_fill_failed", error_type=type(exc).__name__)


def _room_facts(ctx: JobContext) -> Callable[[], Awaitable[RoomFacts]]:
    """Joins the room (once) and reads its metadata and any SIP caller's numbers."""

    async def read() -> RoomFacts:
        await ctx.connect()
        participants = ctx.room.remote_participants.values()
        return room_facts(ctx.room.metadata, [p.attributes for p in participants])

    return read


def _settings_of(ctx: JobContext) -> WorkerSettings:
    settings: WorkerSettings | None = ctx.proc.userdata.get("settings")
    return settings or WorkerSettings()


async def _close_room(ctx: JobContext) -> None:
    try:
        await ctx.delete_room()
    except Exception as exc:  # the room may already be gone; the call is over either way
        log.info("room_close_failed", error_type=type(exc).__name__)


def _as_text(raw: RawDocument) -> str:
    """The document as text for the ledger (a config source may hand back a parsed object)."""
    if raw is None:
        return ""
    if isinstance(raw, bytes):
        return raw.decode("utf-8", errors="replace")
    if isinstance(raw, str):
        return raw
    return json.dumps(raw)
