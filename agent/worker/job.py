"""Job: what a job process does with one dispatched call (the worker's entrypoint body).

Reads the dispatch document from the configured config source (by default dispatch metadata
first, room metadata second; see agent/intake/sources.py), turns it into a CallSpec and real
providers, and hands them with the job's room to the composition root
(agent/call/assemble.py), the same one the simulator uses. A document that does not parse never
crashes the process and never leaves the caller in a silent room: the room is closed at once,
the call ends with `config_error`, and the report names the field.

Two halves, because of how the framework ends a job: once shutdown starts (the room closes, or
the worker is told to stop) the entrypoint gets 15 s before it is cancelled, while the
`on_session_end` callback gets `session_end_timeout` (the report budget, 300 s). So the
entrypoint runs the call until the lifecycle has ended it (``LiveCall.converse``) and the room
is closed (which hangs up a web caller or the SIP leg); `report_call`, registered as
`on_session_end`, analyses and sends the report. A worker shutdown reaching a live call cancels
the entrypoint: `converse` makes that the lifecycle's `worker_shutdown` end, and the report
skips analysis to fit the exit window.

`converse` waits for the caller first (agent/call/lifecycle/join.py): the session starts once
the caller's participant is in the room and the call goes live once their audio is up both
ways; a caller who never comes ends the call `no_answer` at the join timeout, before any
vendor was contacted.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import structlog
from livekit.agents import JobContext

from agent.call.assemble import CallIO, CallProviders, assemble_call
from agent.call.endpoints import check_provider_endpoints
from agent.call.live_call import LiveCall
from agent.call.providers import Providers, build_providers, vad_for_call
from agent.call.room import LiveKitRoom
from agent.call.session import GreetingAudio, GreetingCache
from agent.call.turn_model import check_turn_model, turn_model_loaded
from agent.delivery.base import EventSink
from agent.delivery.target_policy import TargetPolicy
from agent.errors import ConfigError
from agent.intake.dispatch import CallSpec, ConfigOrigin, parse_dispatch
from agent.intake.options import parse_options
from agent.intake.saved import SavedAssistantUnavailable
from agent.intake.sources import CallFacts, RawDocument, RoomFacts, load_config_source, room_facts
from agent.intake.summary import describe
from agent.report.send import build_sink, report_config_error, report_startup_error
from agent.worker import metrics
from agent.worker.ledger import CallLedger
from agent.worker.logs import bind_call
from agent.worker.settings import Executor, WorkerSettings

log = structlog.get_logger(__name__)

_GREETINGS = GreetingCache()
"""Per process: a repeated greeting plays from memory (see session.GreetingCache). Only a
thread-executed worker fills it: a job process takes one call and exits, so a greeting it
synthesized after its report would never be played (and cost a TTS request per call)."""

_CALLS: dict[str, tuple[LiveCall, EventSink, CallLedger]] = {}
"""Calls of this job process whose report is still owed, by job id."""


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
    room = LiveKitRoom(ctx)
    raw: RawDocument = ctx.job.metadata or None
    origin: ConfigOrigin = "dispatch"
    stage = "config_source"
    try:
        # Where the document comes from is the operator's choice (VOICE_AGENT_CONFIG_SOURCE).
        raw, origin = await load_config_source(settings).load(facts)
        stage = "dispatch"
        spec = await parse_dispatch(
            raw, room_name=room_name, origin=origin, options=parse_options(settings)
        )
        stage = "providers"
        # Endpoints the document chose go through the same target policy as webhooks.
        policy = TargetPolicy(settings.allowed_targets)
        await check_provider_endpoints(spec.assistant, settings, policy)
        # `endpointing_mode: model` only where prewarm loaded the model: refused here, not
        # failed mid-call.
        check_turn_model(spec.assistant, loaded=turn_model_loaded())
        providers = build_providers(spec.assistant, settings)
        stage = "room"
        # In the room before the call is assembled: its variables ({{customer.number}}) are
        # filled from what the room tells (the SIP caller), at call start.
        caller_number = (await facts.room()).caller_number
        call = _assemble(ctx, room, spec, providers, settings, sink, caller_number)
        spec = call.spec  # with its variables filled and the vendors' warnings
        # Connected, the room's events reach the call: the caller and their numbers, key
        # presses, live control (voice-agent.control), the caller leaving.
        await call.join()
    except ConfigError as exc:
        await report_config_error(
            raw, exc, room_name=room_name, settings=settings, sink=sink, taken_at=started_at
        )
        await _give_up(ctx, room, sink, reason="config_error")
        return
    except Exception as exc:
        # Anything else before the call is live: the caller must not wait in a silent room,
        # and the backend still hears how the call ended (a saved-assistant store that could
        # not answer names itself as the stage).
        if isinstance(exc, SavedAssistantUnavailable):
            stage = exc.stage
        await report_startup_error(
            raw, exc, stage=stage, room_name=room_name, settings=settings, sink=sink,
            taken_at=started_at,
        )  # fmt: skip
        await _give_up(ctx, room, sink, reason="start_failed")
        return
    bind_call(
        call_id=spec.call_id, room=room_name, job_id=ctx.job.id, gdpr=spec.assistant.gdpr_mode
    )
    for warning in spec.warnings:
        log.warning("dispatch_warning", warning=warning)
    log.info("call_accepted", summary=describe(spec), origin=origin)
    ledger.open(ctx.job.id, spec.call_id, room_name, started_at, dispatch_metadata=_as_text(raw))
    _CALLS[ctx.job.id] = (call, sink, ledger)

    # Dial first when outbound, go live, hold until the lifecycle ends the call. The framework
    # cancels the entrypoint 15 s after a shutdown request (the worker's drain timeout ran
    # out): converse ends the call cleanly then, and its report is still sent.
    marking = asyncio.create_task(_mark_live(call, ledger, ctx.job.id))
    try:
        await call.converse()
    finally:
        marking.cancel()
    # Hung up: the lifecycle's hang-up deleted the room (a web caller disconnected, the SIP leg
    # dropped). The framework then closes the session and runs report_call (on_session_end).
    await room.aclose()
    # The job's shutdown (session close, report_call) starts on the room's `disconnected`, and
    # `delete_room` only logs its failures (an API error, a fake job): without this the ended
    # call's session would stay up in the room, still answering, and its report never be sent.
    ctx.shutdown(reason="call_ended")


async def _mark_live(call: LiveCall, ledger: CallLedger, job_id: str) -> None:
    """Note in the ledger when the call goes live: a crash from then on is reported as an
    `ended` call, before it as a `failed` one (agent/worker/recovery.py)."""
    await call.live.wait()
    ledger.mark_live(job_id)


def _assemble(
    ctx: JobContext,
    room: LiveKitRoom,
    spec: CallSpec,
    providers: Providers,
    settings: WorkerSettings,
    sink: EventSink,
    caller_number: str | None,
) -> LiveCall:
    """The job's vendors and room, into the one composition root."""
    return assemble_call(
        spec,
        CallProviders(
            stt=providers.stt,
            llm=providers.llm,
            tts=providers.tts,
            # the process's one silero session (loaded in the warm image), a VAD of its own
            vad=vad_for_call(spec.assistant.turn_config),
            analysis_llm=providers.llm,
        ),
        CallIO(
            room=room,
            sink=sink,
            settings=settings,
            sip=room.sip_gateway(),
            greeting_audio=_greeting_audio(spec),
            caller_number=caller_number,
        ),
    )


async def _give_up(ctx: JobContext, room: LiveKitRoom, sink: EventSink, *, reason: str) -> None:
    """A call that never went live: its report is sent; close the room and end the job."""
    await sink.aclose()
    await room.aclose()
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
    # A personalised greeting ({{customer.number}}, ...) is this caller's: never kept. Not for
    # a call nobody answered either: a caller who never comes costs no TTS at all.
    tts = call.session.tts
    spec = call.spec
    personal = spec.greeting_personalised
    shared = _settings_of(ctx).executor is Executor.THREAD  # a later call can play it
    wanted = shared and call.answered and not personal
    if reported and spec.assistant.first_message and tts is not None and wanted:
        try:
            await _greeting_audio(spec).fill(tts, spec.assistant.first_message)
        except Exception as exc:  # a cache miss next time, nothing more
            log.info("greeting_cache_fill_failed", error_type=type(exc).__name__)


def _greeting_audio(spec: CallSpec) -> GreetingAudio:
    """The greeting cache in this call's voice (its TTS provider and every TTS option)."""
    tts_config = spec.assistant.tts_config
    return _GREETINGS.for_voice(f"{tts_config.provider}:{tts_config.model_dump_json()}")


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


def _as_text(raw: RawDocument) -> str:
    """The document as text for the ledger (a config source may hand back a parsed object)."""
    if raw is None:
        return ""
    if isinstance(raw, bytes):
        return raw.decode("utf-8", errors="replace")
    if isinstance(raw, str):
        return raw
    return json.dumps(raw)
