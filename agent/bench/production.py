"""Memory and start-up of calls as production runs them: ``python -m agent.bench.production``.

The level bench (agent/bench/level.py) runs a level's calls in one process on one loop, which
finds the loop's limit but is not how the worker holds calls. This measures the worker itself:
``build_server`` (agent/worker/main.py) with the chosen ``VOICE_AGENT_EXECUTOR``, run
unregistered, and fake jobs handed to its process pool exactly as AgentServer hands it an
accepted dispatch (``launch_job(RunningJobInfo(..., fake_job=True))``, as
tests/worker/test_job_path.py does). The vendors are the silent 127.0.0.1 stand-in
(agent/devtools/vendors.py) and the room is the framework's mock room, so no audio flows: the
memory is that of a live but quiet call. The calls wait for the caller and never end.

Phases, one server:
1. warm: the pool's idle processes (2, production's ``num_idle_processes``) ready, settled;
   the baseline.
2. burst: ``--calls`` dispatches at once (more than the idle processes: some must start).
3. warm dispatches: ``--warm-calls`` more, one at a time, each once a warm process is idle.

``dispatch_to_live_ms``: from just before ``launch_job`` to our receiver getting the call's
``status-update: in-progress`` (sent once ``LiveCall`` is live). PSS comes from
``/proc/PID/smaps_rollup``: per live job process and for the forkserver (process executor),
or the worker process's increment over the baseline (thread executor). PSS splits a shared
page among every process on the machine that maps it, so other programs using the same library
files (on this machine, other checkouts' virtualenvs hardlink the same files from uv's cache)
lower it; USS (a process's private pages) and ``pod_mb`` (every process's USS plus their shared
pages once, what the pod's cgroup would be charged) do not depend on them. Loop stalls are the
framework's own loop monitor at ``LIVEKIT_AGENTS_LOOP_BLOCK_WARN_MS=50``, read from the log
(the mock room's own stall, absent in production, is left out: task ``job_ipc_read``).

Prints one JSON line (:class:`ProductionFigures`) on the stdout it was started with; every
process's log goes to ``--log`` (file descriptor 1 is redirected there, so job processes
inherit it). Exits with ``os._exit``: job threads cannot be stopped, and the calls never end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing.forkserver
import os
import signal
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from aiohttp import web

from .figures import ProductionFigures, Spread, Stall

WARN_MS = 50
IDLE_PROCESSES = 2
SETTLE_SECONDS = 3.0
MOCK_ROOM_TASKS = frozenset({"job_ipc_read"})
"""Where the framework builds a fake job's mock room (create_autospec of rtc.Room: 50-250 ms on
the job's loop): a test harness cost, not production's."""


class _LiveReceiver:
    """The calls' webhook: when each call's ``in-progress`` status arrived (no verification:
    the bench measures time to live, the job-path tests check the signatures)."""

    def __init__(self) -> None:
        self.live_at: dict[str, float] = {}
        self.port = 0
        self._changed = asyncio.Event()
        self._runner: web.AppRunner | None = None

    async def _handle(self, request: web.Request) -> web.Response:
        now = time.monotonic()
        message = json.loads(await request.read()).get("message", {})
        if message.get("type") == "status-update" and message.get("status") == "in-progress":
            self.live_at.setdefault(str(message["call"]["id"]), now)
            self._changed.set()
        return web.json_response({"ok": True})

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.port = int(self._runner.addresses[0][1])

    async def wait_live(self, call_ids: list[str]) -> None:
        while not all(c in self.live_at for c in call_ids):
            self._changed.clear()
            await self._changed.wait()


def _smaps(pid: int) -> dict[str, int]:
    """kB figures of /proc/PID/smaps_rollup ({} once the process is gone)."""
    out: dict[str, int] = {}
    try:
        lines = Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]
    except OSError:
        return out
    for line in lines:
        key, value = line.split(":", 1)
        out[key.strip()] = int(value.split()[0])
    return out


def _memory(pid: int | None) -> dict[str, float]:
    """MB of one process: PSS, USS (its private pages) and its shared pages."""
    rollup = _smaps(pid) if pid else {}
    private = rollup.get("Private_Clean", 0) + rollup.get("Private_Dirty", 0)
    shared = rollup.get("Shared_Clean", 0) + rollup.get("Shared_Dirty", 0)
    return {"pss": rollup.get("Pss", 0) / 1024, "uss": private / 1024, "shared": shared / 1024}


def _document(call_id: str, webhook_url: str) -> str:
    return json.dumps(
        {
            "call": {"id": call_id, "type": "web_call"},
            "assistant": {
                "name": "front desk",
                "webhook_url": webhook_url,
                "stt_config": {"provider": "deepgram", "model": "nova-3", "language": "en"},
                "llm_config": {"provider": "openai", "model": "gpt-4.1-mini"},
                "tts_config": {"provider": "elevenlabs", "voice_id": "front-desk-voice"},
                # no greeting, no silence handling: a live call that stays quiet
                "first_message_mode": "assistant-waits-for-user",
                "autonomous_silence_handling": {"enabled": False},
            },
        }
    )


def _environment(outbox: Path, executor: str, vendor_env: dict[str, str]) -> dict[str, str]:
    return {
        "LIVEKIT_URL": "ws://127.0.0.1:9",  # never dialled: the server runs unregistered
        "LIVEKIT_API_KEY": "devkey",
        "LIVEKIT_API_SECRET": "secret",
        "VOICE_AGENT_MODE": "production",  # production's idle processes and settings
        "VOICE_AGENT_EXECUTOR": executor,
        "VOICE_AGENT_OUTBOX_DIR": str(outbox),
        "VOICE_AGENT_ALLOWED_TARGETS": "127.0.0.0/8",
        "VOICE_AGENT_HEALTH_PORT": "0",
        "VOICE_AGENT_PROMETHEUS_PORT": "0",
        "VOICE_AGENT_SECRETS_DIR": str(outbox / "secrets"),
        "VOICE_AGENT_LOG_FORMAT": "json",
        "VOICE_AGENT_MAX_CONCURRENT_CALLS": "16",
        "LIVEKIT_AGENTS_PRELOAD_LOCAL_INFERENCE": "0",
        "LIVEKIT_AGENTS_LOOP_BLOCK_WARN_MS": str(WARN_MS),
        **vendor_env,
    }


async def measure(executor: str, *, calls: int, warm_calls: int) -> dict[str, Any]:
    """Run the phases; the raw figures (the caller reads the log for the stalls)."""
    from livekit.agents.job import JobAcceptArguments, RunningJobInfo
    from livekit.protocol import agent as lk_agent
    from livekit.protocol import models

    from agent.devtools.vendors import SilentVendors
    from agent.worker.load import CallLoad
    from agent.worker.logs import configure_logging
    from agent.worker.main import build_server
    from agent.worker.settings import LogFormat, WorkerSettings

    vendors, receiver = SilentVendors(), _LiveReceiver()
    await vendors.start()
    await receiver.start()
    outbox = Path(tempfile.mkdtemp(prefix="voice-agent-bench-production-"))
    os.environ.update(_environment(outbox, executor, vendors.environment()))
    settings = WorkerSettings()
    configure_logging(LogFormat.JSON, "INFO")
    server = build_server(settings, CallLoad(settings.max_concurrent_calls))
    server._num_idle_processes = IDLE_PROCESSES  # as production, whatever this machine's cores
    started = asyncio.Event()
    server.on("worker_started", lambda *_: started.set())
    run = asyncio.create_task(server.run(devmode=False, unregistered=True))
    await asyncio.wait_for(started.wait(), 120)
    pool = server._proc_pool
    became_ready = asyncio.Event()
    pool.on("process_ready", lambda *_: became_ready.set())

    async def idle(count: int) -> None:
        """Until ``count`` warm processes wait for a call (the pool says when one is ready)."""
        while True:
            became_ready.clear()  # before looking: a process ready after the look sets it
            if pool._warmed_proc_queue.qsize() >= count:
                return
            await asyncio.wait_for(became_ready.wait(), 120)

    await idle(IDLE_PROCESSES)
    await asyncio.sleep(SETTLE_SECONDS)

    def forkserver_pid() -> int | None:
        forkserver: Any = multiprocessing.forkserver
        pid: int | None = getattr(forkserver._forkserver, "_forkserver_pid", None)
        return pid

    def snapshot() -> dict[str, Any]:
        jobs = []
        for proc in list(pool.processes):
            pid = getattr(proc, "pid", None)
            if pid is not None and executor == "process":
                jobs.append({"live": proc.running_job is not None, **_memory(pid)})
        return {
            "main": _memory(os.getpid()),
            "forkserver": _memory(forkserver_pid()) if executor == "process" else None,
            "jobs": jobs,
        }

    baseline = snapshot()
    url = f"http://127.0.0.1:{receiver.port}/hook"
    dispatched: dict[str, float] = {}

    async def dispatch(i: int) -> str:
        call_id = f"call-{i}"
        job = lk_agent.Job(
            id=f"AJ_bench_{i}",
            metadata=_document(call_id, url),
            room=models.Room(name=f"room-{i}"),
            type=lk_agent.JobType.JT_ROOM,
        )
        dispatched[call_id] = time.monotonic()
        await pool.launch_job(
            RunningJobInfo(
                accept_arguments=JobAcceptArguments(name="", identity=f"agent-{i}", metadata=""),
                job=job,
                url=settings.livekit_url,
                token="",
                worker_id=server.id,
                fake_job=True,
            )
        )
        return call_id

    t_burst = time.time()
    burst_ids = await asyncio.gather(*(dispatch(i) for i in range(calls)))
    await asyncio.wait_for(receiver.wait_live(list(burst_ids)), 180)
    await asyncio.sleep(SETTLE_SECONDS)
    after_burst = snapshot()
    t_warm = time.time()
    warm_ids = []
    for j in range(warm_calls):
        await idle(1)
        await asyncio.sleep(1.0)  # a freshly warmed process settles (its setup just ended)
        call_id = await dispatch(calls + j)
        await asyncio.wait_for(receiver.wait_live([call_id]), 120)
        warm_ids.append(call_id)
    await asyncio.sleep(SETTLE_SECONDS if warm_calls else 0.0)
    after_warm = snapshot()
    t_end = time.time()

    def live_ms(ids: list[str]) -> list[float]:
        return [(receiver.live_at[c] - dispatched[c]) * 1000 for c in ids]

    # no drain: the calls never end. Job processes and the forkserver are killed, threads die
    # with the process (os._exit)
    if executor == "process":
        for proc in list(pool.processes):
            pid = getattr(proc, "pid", None)
            if pid:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
        if pid := forkserver_pid():
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
    run.cancel()
    return {
        "baseline": baseline,
        "snapshots": {str(calls): after_burst, str(calls + warm_calls): after_warm},
        "burst_ms": live_ms(list(burst_ids)),
        "warm_ms": live_ms(warm_ids),
        "phases": {"burst": (t_burst, t_warm), "warm": (t_warm, t_end)},
    }


def stalls(log_path: Path, phases: dict[str, tuple[float, float]]) -> dict[str, list[Stall]]:
    """The loop monitor's `event loop blocked` lines, by the phase (epoch window) they fell in;
    the mock room's left out (:data:`MOCK_ROOM_TASKS`)."""
    found: dict[str, list[Stall]] = {name: [] for name in phases}
    for line in log_path.read_text(errors="replace").splitlines():
        if not line.startswith("{"):
            continue
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if "event loop blocked" not in str(record.get("event", "")):
            continue
        if record.get("task") in MOCK_ROOM_TASKS:
            continue
        at = datetime.fromisoformat(str(record["timestamp"]).replace("Z", "+00:00")).timestamp()
        frames = [ln.strip() for ln in str(record.get("stack") or "").splitlines()]
        where = next((ln for ln in reversed(frames) if ln.startswith("File ")), None)
        for name, (start, end) in phases.items():
            if start <= at <= end:
                found[name].append(
                    Stall(
                        ms=round(float(record.get("duration", 0)) * 1000, 1),
                        cpu_ms=round(float(record.get("cpu_time", 0)) * 1000, 1),
                        gc_ms=round(float(record.get("gc_time", 0)) * 1000, 1),
                        task=record.get("task"),
                        where=where,
                    )
                )
    return found


def figures(executor: str, raw: dict[str, Any], found: dict[str, list[Stall]]) -> ProductionFigures:
    per_call: dict[str, float] = {}
    with_shared: dict[str, float] = {}
    uss_per_call: dict[str, float] = {}
    pod: dict[str, float] = {}
    base = raw["baseline"]
    for live, snap in raw["snapshots"].items():
        n = int(live)
        processes = [snap["main"], *snap["jobs"]] + (
            [snap["forkserver"]] if snap["forkserver"] else []
        )
        # the pod's memory: every process's private pages, and the pages they share once (the
        # largest process's shared set stands for their union: job processes share the
        # forkserver's image and the libraries; the libraries' pages mapped by processes
        # outside the pod are counted here in full, as the pod's cgroup would)
        pod[live] = round(sum(p["uss"] for p in processes) + max(p["shared"] for p in processes), 1)
        if executor == "process":
            live_jobs = [j for j in snap["jobs"] if j["live"]]
            everything = sum(j["pss"] for j in snap["jobs"]) + snap["forkserver"]["pss"]
            per_call[live] = round(statistics.mean(j["pss"] for j in live_jobs), 1)
            uss_per_call[live] = round(statistics.mean(j["uss"] for j in live_jobs), 1)
            with_shared[live] = round(everything / n, 1)
        else:
            per_call[live] = round((snap["main"]["pss"] - base["main"]["pss"]) / n, 1)
            uss_per_call[live] = round((snap["main"]["uss"] - base["main"]["uss"]) / n, 1)
            with_shared[live] = round(snap["main"]["pss"] / n, 1)
    last = raw["snapshots"][max(raw["snapshots"], key=int)]
    return ProductionFigures(
        executor=executor,
        idle_processes=IDLE_PROCESSES,
        pss_mb_per_call=per_call,
        pss_mb_per_call_with_shared=with_shared,
        uss_mb_per_call=uss_per_call,
        pod_mb=pod,
        main_pss_mb=round(last["main"]["pss"], 1),
        forkserver_pss_mb=round(last["forkserver"]["pss"], 1) if last["forkserver"] else None,
        dispatch_to_live_ms={
            "warm": Spread.of(round(x, 1) for x in raw["warm_ms"]),
            "burst": Spread.of(round(x, 1) for x in raw["burst_ms"]),
        },
        call_start_stalls=found,
        loadavg=[round(x, 2) for x in os.getloadavg()],
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m agent.bench.production")
    parser.add_argument("--executor", choices=["process", "thread"], required=True)
    parser.add_argument("--calls", type=int, default=4, help="the burst")
    parser.add_argument("--warm-calls", type=int, default=4, help="one at a time, after it")
    parser.add_argument("--log", type=Path, required=True, help="every process's log")
    args = parser.parse_args(argv)
    # The figures go to the stdout this was started with; fd 1 (and so every job process's
    # logging, inherited) goes to the log file.
    out = os.fdopen(os.dup(1), "w")
    log_fd = os.open(args.log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    sys.stdout = os.fdopen(1, "w", buffering=1)
    sys.stderr = os.fdopen(2, "w", buffering=1)
    try:
        raw = asyncio.run(measure(args.executor, calls=args.calls, warm_calls=args.warm_calls))
        sys.stdout.flush()
        time.sleep(0.5)  # the job processes' last lines
        result = figures(args.executor, raw, stalls(args.log, raw["phases"]))
        out.write(result.model_dump_json() + "\n")
        out.flush()
        code = 0
    except Exception as exc:
        print(f"production bench failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    raise SystemExit(main())
