"""Worker: the long-running process a platform dispatches calls to.

Builds the framework's `AgentServer` from WorkerSettings, runs it with our own signal handling
(so readiness flips to 503 *before* the drain starts and Kubernetes stops routing new work),
serves `/livez` and `/readyz`, replays the webhook outbox at start-up, and keeps watch over job
processes so that a call whose process dies still gets its end-of-call report (see
`agent/worker/recovery.py` and `ledger.py`).

The per-call work happens in the job process: `entrypoint` (agent/worker/job.py) reads the
dispatch document and hands the call to the composition root (agent/call/assemble.py), the same
one the simulator uses.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import threading

import structlog
from livekit.agents import AgentServer, JobContext, JobExecutorType, JobProcess

from agent.worker import warm
from agent.worker.health import HealthServer, WorkerHealth
from agent.worker.ledger import CallLedger
from agent.worker.load import CallLoad
from agent.worker.logs import configure_logging
from agent.worker.settings import Executor, WorkerMode, WorkerSettings

log = structlog.get_logger(__name__)


def prewarm(proc: JobProcess) -> None:
    """Runs before a job process (or, thread-executed, a job thread) takes its call: what the
    warm image (agent/worker/warm.py) cannot hold.

    A job process configures its logging and starts the livekit-rtc runtime; the image itself
    is inherited from the forkserver (warm_image is then a no-op; it runs here only where the
    image could not be preloaded). A job thread shares the worker's process, whose logging
    and image the main thread set up before the server started: reconfiguring logging here
    would replace the worker's handlers once per call. livekit's end-of-turn model too, where
    the operator enabled it (VOICE_AGENT_TURN_MODEL): preloaded in the forkserver, so this only
    marks it loaded; a call asking for it anywhere else is refused (agent/call/turn_model.py)."""
    settings = WorkerSettings()
    if proc.executor_type is JobExecutorType.PROCESS:
        configure_logging(settings.log_format, settings.log_level)
    steps = warm.warm_image()
    warm.warm_process()
    for step, error in warm.failures.items():
        log.warning("warm_image_step_failed", step=step, error=error)
    log.debug("process_warm", steps_ms=steps)
    proc.userdata["settings"] = settings
    if settings.turn_model:
        from agent.call.turn_model import load_turn_model

        load_turn_model()  # inherited from the forkserver: only marked loaded here


async def entrypoint(ctx: JobContext) -> None:
    from agent.worker.job import run_job

    await run_job(ctx)


async def session_end(ctx: JobContext) -> None:
    from agent.worker.job import report_call

    await report_call(ctx)


IDLE_PROCESSES = {WorkerMode.PRODUCTION: 2, WorkerMode.DEV: 1}
"""Warm idle job processes (or threads) the pool keeps (k8s/ sizes memory for them)."""
EXECUTORS = {Executor.PROCESS: JobExecutorType.PROCESS, Executor.THREAD: JobExecutorType.THREAD}


def build_server(settings: WorkerSettings, load: CallLoad) -> AgentServer:
    """The framework's server for these settings. Call it on the main thread: with calls in
    threads, the warm image (vendor plugins included, which register only on the main thread)
    is built here, before the server runs; with job processes the forkserver builds it."""
    threads = settings.executor is Executor.THREAD
    if threads:
        warm.warm_image()
        warm.freeze_image()
    server = AgentServer(
        job_executor_type=EXECUTORS[settings.executor],
        # Job processes fork from a forkserver that imported this first: the call path, the
        # plugins, the VAD session (agent/worker/warm.py). Nothing to preload for threads.
        preload_modules=[] if threads else ["agent.worker.warm_preload"],
        ws_url=settings.livekit_url,
        api_key=settings.livekit_api_key,
        api_secret=settings.livekit_api_secret.get_secret_value(),
        port=settings.health_port,
        prometheus_port=settings.prometheus_port or None,
        drain_timeout=settings.drain_timeout_seconds,
        load_threshold=settings.load_threshold,
        load_fnc=load,
        setup_fnc=prewarm,
        # The report is sent after the session closes; give it the whole report budget.
        session_end_timeout=float(settings.report_budget_seconds),
        # At the drain timeout the framework asks each job process to shut down and waits for
        # it (this timeout bounds only the acknowledgement and the final exit). A live call then
        # takes: 15 s until the framework cancels its entrypoint (that is how it learns) + at
        # most 10 s for the goodbye backstop + at most 10 s to close the session + at most 20 s
        # to flush its report without analysis (the rest goes to the outbox volume)
        # = 55 s, inside terminationGracePeriodSeconds - drain timeout = 60 s.
        shutdown_process_timeout=10.0,
        # Warm idle job processes: a call dispatched to one goes live in ~0.1 s (one forked
        # on demand pays its start-up); 1 in dev. Threads: warm job threads, likewise.
        num_idle_processes=IDLE_PROCESSES[settings.mode],
        job_memory_warn_mb=700,
        # livekit names it WARN and refuses WARNING, which Python's logging (and so
        # VOICE_AGENT_LOG_LEVEL) calls it
        log_level={"WARNING": "WARN"}.get(settings.log_level.upper(), settings.log_level.upper()),
    )
    server.rtc_session(entrypoint, agent_name=settings.name, on_session_end=session_end)
    return server


async def serve(settings: WorkerSettings, *, dev: bool) -> int:
    from agent.intake.sources import load_config_source
    from agent.report.send import build_sink

    # An unknown or incomplete config source or sink stops the worker here (ConfigError),
    # not on every call.
    load_config_source(settings)
    await build_sink(settings).aclose(timeout=0)
    from agent.call import transcript_pacing

    transcript_pacing.tell_if_not_applied()  # once per worker, not once per job process
    from agent.call.turn_model import preload_in_forkserver

    # Before the server starts its process pool: the end-of-turn weights (~240 MB) load once in
    # the forkserver and are shared by every job process, or nowhere.
    preload_in_forkserver(settings.turn_model)
    health = WorkerHealth()
    health.set_active_calls(0, settings.max_concurrent_calls)
    ledger = CallLedger(settings.outbox_dir / "ledger")
    load = CallLoad(settings.max_concurrent_calls, health=health)
    server = build_server(settings, load)
    load.attach(server)
    from agent.worker import metrics

    metrics.watch_process_exits(server)  # a dead job process stops counting as active calls
    if settings.prometheus_port and not metrics.multiprocess_active():
        log.warning("metrics_main_process_only", hint="set PROMETHEUS_MULTIPROC_DIR before start")
    health_server = HealthServer(health, port=settings.ready_port)
    await health_server.start()

    server.on("worker_registered", lambda *_: health.mark_accepting())
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    from agent.worker.recovery import (
        replay_at_startup,
        report_stale_calls,
        stale_entries,
        watch_job_processes,
    )

    # Calls a previous run of this worker left open: listed before this run takes any call.
    stale = stale_entries(ledger)

    async def recover() -> None:
        await report_stale_calls(stale, ledger, settings=settings)
        await replay_at_startup(settings)

    replay_task = asyncio.create_task(recover(), name="start-up-recovery")
    watcher = watch_job_processes(server, ledger, settings)
    run_task = asyncio.create_task(server.run(devmode=dev), name="agent-server")
    log.info(
        "worker_starting",
        livekit_url=settings.livekit_url,
        agent_name=settings.name,
        mode=settings.mode.value,
        ready_port=health_server.bound_port,
        max_concurrent_calls=settings.max_concurrent_calls,
    )
    stop_wait = asyncio.create_task(stop.wait())
    await asyncio.wait({run_task, stop_wait}, return_when=asyncio.FIRST_COMPLETED)
    exit_code = 0
    if run_task.done():
        exc = run_task.exception()
        if exc is not None:
            log.error("worker_failed", error=str(exc))
            exit_code = 1
    else:
        # Readiness first, then drain: Kubernetes stops sending work before we stop taking it.
        health.mark_draining()
        drain_task: asyncio.Task[None] | None = (
            None
            if dev
            else asyncio.create_task(server.drain(timeout=settings.drain_timeout_seconds))
        )

        def exit_now() -> None:
            # A second signal exits at once, as operators expect: stop waiting for calls.
            log.warning("second_signal_exiting_now")
            if drain_task is not None:
                drain_task.cancel()

        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
            loop.add_signal_handler(sig, exit_now)
        log.info("worker_draining", drain_timeout_seconds=settings.drain_timeout_seconds)
        if drain_task is not None:
            try:
                await drain_task
            except TimeoutError:
                log.warning("drain_timed_out")
            except asyncio.CancelledError:
                log.warning("drain_cut_short")
        await _close_server(server, settings)
        with contextlib.suppress(asyncio.CancelledError):
            await run_task
    stop_wait.cancel()
    # Calls this worker held that are still open (a job thread that never ended): reported now,
    # within the exit window, each once.
    await watcher.sweep_at_exit(EXIT_SWEEP_SECONDS)
    await watcher.aclose()  # crash reports already started get their flush
    replay_task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await replay_task
    await health_server.aclose()
    log.info("worker_stopped", exit_code=exit_code)
    return exit_code


THREAD_CLOSE_SECONDS = 45.0
"""How long the server's close may wait for job threads (thread executor). A job process
that does not exit is killed by the framework, which lets the guard report its call; a job
thread cannot be killed and the framework would wait for it forever, holding the pod until the
kubelet's SIGKILL. 45 s covers a cut call's notice, goodbye, session close and most of its
report flush (15 + 10 + 10 + 20 s at most, usually far less); then the exit sweep reports what
is still open in EXIT_SWEEP_SECONDS, inside the 60 s the grace period keeps after the drain."""
EXIT_SWEEP_SECONDS = 10.0


async def _close_server(server: AgentServer, settings: WorkerSettings) -> None:
    if settings.executor is not Executor.THREAD:
        await server.aclose()
        return
    closing = asyncio.ensure_future(server.aclose())
    done, _ = await asyncio.wait({closing}, timeout=THREAD_CLOSE_SECONDS)
    if not done:
        log.error("job_threads_did_not_end", waited_seconds=THREAD_CLOSE_SECONDS)


def run_worker(settings: WorkerSettings, *, dev: bool) -> int:
    configure_logging(settings.log_format, settings.log_level)
    if dev:
        _warn_if_no_server(settings)
    code = asyncio.run(serve(settings, dev=dev))
    stuck = [t for t in threading.enumerate() if t is not threading.main_thread() and not t.daemon]
    if settings.executor is Executor.THREAD and stuck:
        # A job thread that never ended would keep the interpreter from exiting: its call has
        # been reported by the exit sweep, so exit now.
        log.error("exiting_with_job_threads_running", threads=len(stuck))
        logging.shutdown()
        os._exit(code)
    return code


def _warn_if_no_server(settings: WorkerSettings) -> None:
    """`make dev` with nothing listening: say how to start a server instead of retrying quietly."""
    import socket
    from urllib.parse import urlparse

    url = urlparse(settings.livekit_url)
    host, port = url.hostname or "localhost", url.port or (443 if url.scheme == "wss" else 80)
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return
    except OSError:
        log.warning(
            "livekit_server_unreachable",
            livekit_url=settings.livekit_url,
            hint=(
                "start a local server with `livekit-server --dev` (install: "
                "https://docs.livekit.io/home/self-hosting/local/ or `brew install livekit`), "
                "or `docker compose up livekit`; the worker keeps retrying"
            ),
        )
