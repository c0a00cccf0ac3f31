"""Job: what a job process does with one dispatched call (the worker's entrypoint body).

Reads the dispatch document (dispatch metadata first, room metadata second), turns it into a
CallSpec and real providers, and runs the call through LiveCall in the room. A document that does
not parse never crashes the process and never leaves the caller in a silent room: the call ends at
once with `config_error`, and the report names the field.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import structlog
from livekit.agents import JobContext
from livekit.agents.voice.room_io import RoomOptions, TextOutputOptions

from agent.call_ledger import CallLedger
from agent.config.dispatch import (
    ConfigOrigin,
    DirectoryAssistants,
    NoSavedAssistants,
    ParseOptions,
    SavedAssistants,
    parse_dispatch,
)
from agent.config.summary import describe
from agent.errors import ConfigError
from agent.live_call import LiveCall
from agent.logs import bind_call
from agent.providers import build_providers, load_vad
from agent.reporting import build_sink, report_config_error
from agent.secret_refs import SecretResolver
from agent.session import GreetingAudio
from agent.settings import WorkerSettings

log = structlog.get_logger(__name__)

_GREETINGS = GreetingAudio()
"""Per job process: a repeated greeting plays from memory (see session.GreetingAudio)."""


def _options(settings: WorkerSettings) -> ParseOptions:
    saved: SavedAssistants = (
        DirectoryAssistants(settings.assistants_dir)
        if settings.assistants_dir
        else NoSavedAssistants()
    )
    return ParseOptions(
        resolver=SecretResolver(secrets_dir=settings.secrets_dir),
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
    raw: str | None = ctx.job.metadata or None
    origin: ConfigOrigin = "dispatch"
    if not raw:
        await ctx.connect()
        raw, origin = ctx.room.metadata or None, "room"
    try:
        spec = await parse_dispatch(
            raw, room_name=room_name, origin=origin, options=_options(settings)
        )
        providers = build_providers(spec.assistant, settings)
    except ConfigError as exc:
        await report_config_error(
            raw, exc, room_name=room_name, settings=settings, sink=sink, started_at=started_at
        )
        await sink.aclose()
        ctx.shutdown(reason="config_error")
        return
    bind_call(call_id=spec.call_id, room=room_name, job_id=ctx.job.id)
    for warning in spec.warnings:
        log.warning("dispatch_warning", warning=warning)
    log.info("call_accepted", summary=describe(spec), origin=origin)
    ledger.open(ctx.job.id, spec.call_id, room_name, started_at)
    vad_engine: Any = ctx.proc.userdata.get("vad") or load_vad(spec.assistant.turn_config)
    if spec.assistant.turn_config.min_silence_seconds != 0.55:
        vad_engine = load_vad(spec.assistant.turn_config)
    _GREETINGS.bind(
        f"{spec.assistant.tts_config.provider}:{spec.assistant.tts_config.model_dump_json()}"
    )
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
        hang_up=lambda: ctx.shutdown(reason="call_ended"),
    )
    ctx.add_shutdown_callback(_on_shutdown(call))
    await ctx.connect()
    try:
        await call.run(
            room=ctx.room,
            room_options=RoomOptions(
                text_output=TextOutputOptions(sync_transcription=True),
                close_on_disconnect=False,  # the lifecycle decides, for every disconnect reason
            ),
        )
        if spec.assistant.first_message:
            await _GREETINGS.fill(providers.tts, spec.assistant.first_message)
    finally:
        await sink.aclose(timeout=30.0)
        ledger.close(ctx.job.id)


def _on_shutdown(call: LiveCall) -> Any:
    async def on_shutdown(reason: str) -> None:
        # Drain timeout or a shutdown we did not ask for: end the call cleanly, report still sent.
        if not call.lifecycle.is_ending:
            call.lifecycle.on_worker_shutdown()

    return on_shutdown
