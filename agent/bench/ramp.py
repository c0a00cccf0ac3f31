"""The ramp behind `python -m agent bench`: one fresh child process per level, in order.

Each level runs in a fresh child process (:mod:`agent.bench.level`: why there); this parent
runs the loopback webhook receiver, so the children's CPU is the worker's alone, and checks
every level's end-of-call reports arrived signed. Levels go up until one is not carried
(:func:`agent.bench.figures.carried`); the last line on stdout is one JSON object
(:class:`~agent.bench.figures.BenchFigures`), progress goes to stderr.

``--quick`` (levels 1 and 4, two turns a call and the turn-taking probes) takes about two
minutes on an idle 2-core machine; the full ramp several more.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import sys
import tempfile
from collections import Counter
from pathlib import Path

from aiohttp import web

from agent.delivery.signing import sign

from .figures import (
    BenchFigures,
    FloorFigures,
    LevelFigures,
    ProductionFigures,
    RoomAudioFigures,
    carried,
)

SECRET_ENV = "VOICE_AGENT_BENCH_SECRET"  # noqa: S105 (the variable's name, not a secret)
"""How the child gets the run's webhook secret (not on its command line, which ps shows)."""
MIN_CALLS_PER_LEVEL = 3
"""Full run: a level with fewer slots still runs this many calls (in turn), for samples."""
ROOM_SECONDS = 10.0
"""How long the room audio path runs at each level (twice: the stand-in source alone, then
the whole path)."""
FLOOR_ROUNDS = 2
"""Interleaved pairs of phases (ours, floor; floor, ours)."""
FLOOR_CALLS_AT_ONE = 3
"""Calls per phase at level 1 (one after the other): 9 turns per phase."""


class _Receiver:
    """Counts the signed end-of-call reports each call id sent to the loopback receiver."""

    def __init__(self, secret: str) -> None:
        self.secret = secret
        self.reports: Counter[str] = Counter()
        self.bad_signatures = 0

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        timestamp = request.headers.get("X-Webhook-Timestamp", "")
        expected = sign(body, self.secret, int(timestamp)) if timestamp.isdigit() else None
        if expected is None or request.headers.get("X-Webhook-Signature") != expected:
            self.bad_signatures += 1
            return web.Response(status=401)
        message = json.loads(body).get("message", {})
        if message.get("type") == "end-of-call-report":
            self.reports[str(message.get("call", {}).get("id"))] += 1
        return web.json_response({"ok": True})

    def received_for(self, concurrency: int) -> int:
        prefix = f"bench-c{concurrency}-"
        return sum(
            1 for call_id in self.reports if call_id.startswith(prefix) and "warmup" not in call_id
        )


async def _run_level(
    *, concurrency: int, calls: int, turns: int, url: str, secret: str, log_dir: Path
) -> LevelFigures:
    line = await _child(
        "agent.bench.level",
        "--concurrency", str(concurrency), "--calls", str(calls), "--turns", str(turns),
        "--webhook-url", url,
        log_path=log_dir / f"level-{concurrency}.log", env=_env(secret),
    )  # fmt: skip
    return LevelFigures.model_validate_json(line)


async def _child(module: str, *args: str, log_path: Path, env: dict[str, str]) -> str:
    """Run ``python -m module args``; its last stdout line (logs go to ``log_path``)."""
    with log_path.open("wb") as log_file:
        child = await asyncio.create_subprocess_exec(
            sys.executable, "-m", module, *args,
            stdout=asyncio.subprocess.PIPE, stderr=log_file, env=env,
        )  # fmt: skip
        stdout, _ = await child.communicate()
    lines = stdout.decode().strip().splitlines()
    if child.returncode != 0 or not lines:
        tail = (await asyncio.to_thread(log_path.read_text, errors="replace"))[-2000:]
        raise RuntimeError(f"{module} {' '.join(args)} failed (exit {child.returncode}):\n{tail}")
    return lines[-1]


def _env(secret: str) -> dict[str, str]:
    env = dict(os.environ)
    env[SECRET_ENV] = secret
    env.setdefault("LIVEKIT_AGENTS_PRELOAD_LOCAL_INFERENCE", "0")  # silero only, as production
    return env


async def _room_audio(concurrency: int, *, log_dir: Path) -> RoomAudioFigures:
    line = await _child(
        "agent.bench.room_audio", "--calls", str(concurrency), "--seconds", str(ROOM_SECONDS),
        log_path=log_dir / f"room-{concurrency}.log", env=dict(os.environ),
    )  # fmt: skip
    return RoomAudioFigures.model_validate_json(line)


async def _floor(concurrency: int, *, url: str, secret: str, log_dir: Path) -> FloorFigures:
    # a few sequential calls at level 1 (3 turns each), the level's own number above it
    calls = FLOOR_CALLS_AT_ONE if concurrency == 1 else concurrency
    line = await _child(
        "agent.bench.floor", "--concurrency", str(concurrency), "--calls", str(calls),
        "--rounds", str(FLOOR_ROUNDS), "--webhook-url", url,
        log_path=log_dir / f"floor-{concurrency}.log", env=_env(secret),
    )  # fmt: skip
    return FloorFigures.model_validate_json(line)


async def _production(executor: str, *, log_dir: Path) -> ProductionFigures:
    log_path = log_dir / f"production-{executor}.log"
    env = dict(os.environ)
    env.pop("VOICE_AGENT_EXECUTOR", None)  # the child sets its own
    # 8 live calls for job processes (prod's calls per pod), 16 for threads (their limit)
    calls = "4" if executor == "process" else "8"
    line = await _child(
        "agent.bench.production", "--executor", executor, "--calls", calls, "--warm-calls", calls,
        "--log", str(log_path), log_path=log_dir / f"production-{executor}.err", env=env,
    )  # fmt: skip
    return ProductionFigures.model_validate_json(line)


async def run_bench(
    levels: list[int],
    *,
    calls: int | None,
    turns: int,
    budget_ms: float,
    mode: str,
    room_audio: bool = False,
    floor_levels: list[int] | None = None,
    production: list[str] | None = None,
) -> BenchFigures:
    """Run the levels in order, stopping after the first one not carried; then, as asked, the
    room audio path at each level run, the floor at ``floor_levels`` and the production
    figures of each executor in ``production``."""
    secret = secrets.token_urlsafe(24)
    receiver = _Receiver(secret)
    app = web.Application()
    app.router.add_post("/hook", receiver.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
    done: list[LevelFigures] = []
    room: dict[str, RoomAudioFigures] = {}
    floors: dict[str, FloorFigures] = {}
    produced: dict[str, ProductionFigures] = {}
    degraded_at: int | None = None
    try:
        with tempfile.TemporaryDirectory(prefix="voice-agent-bench-logs-") as log_dir:
            for concurrency in levels:
                level_calls = calls or (
                    concurrency if mode == "quick" else max(concurrency, MIN_CALLS_PER_LEVEL)
                )
                print(f"bench: {concurrency} at once, {level_calls} calls...", file=sys.stderr)
                figures = await _run_level(
                    concurrency=concurrency, calls=level_calls, turns=turns,
                    url=url, secret=secret, log_dir=Path(log_dir),
                )  # fmt: skip
                figures = figures.model_copy(
                    update={"reports_received": receiver.received_for(concurrency)}
                )
                done.append(figures)
                print(f"bench: {_summary(figures)}", file=sys.stderr)
                if room_audio and all(r.kept_up for r in room.values()):
                    room[str(concurrency)] = await _room_audio(concurrency, log_dir=Path(log_dir))
                    print(f"bench: room audio {room[str(concurrency)]}", file=sys.stderr)
                idle_vad = done[0].vad_detection_ms.mean
                if not carried(figures, budget_ms, idle_vad_mean_ms=idle_vad):
                    degraded_at = concurrency
                    break
            for concurrency in floor_levels or []:
                print(f"bench: floor at {concurrency} calls...", file=sys.stderr)
                floors[str(concurrency)] = await _floor(
                    concurrency, url=url, secret=secret, log_dir=Path(log_dir)
                )
                print(f"bench: floor {floors[str(concurrency)]}", file=sys.stderr)
            for executor in production or []:
                print(f"bench: production, {executor} executor...", file=sys.stderr)
                produced[executor] = await _production(executor, log_dir=Path(log_dir))
                print(f"bench: production {produced[executor]}", file=sys.stderr)
    finally:
        await runner.cleanup()
    if receiver.bad_signatures:
        print(f"bench: {receiver.bad_signatures} badly signed webhook(s)", file=sys.stderr)
    idle_vad = done[0].vad_detection_ms.mean
    kept = [f.concurrency for f in done if carried(f, budget_ms, idle_vad_mean_ms=idle_vad)]
    return BenchFigures(
        mode=mode,
        cpus=len(os.sched_getaffinity(0)),
        turns_per_call=turns,
        budget_ms=budget_ms,
        configured_turn_ms=done[0].configured_turn_ms,
        turn_overhead_ms=done[0].turn_overhead_ms,
        greeting_ms=done[0].greeting_ms,
        turn_taking=done[0].turn_taking,
        premature_replies=sum(f.turn_taking.premature_replies for f in done),
        false_interruptions=sum(f.turn_taking.false_interruptions for f in done),
        cpu_ms_per_call_second={str(f.concurrency): f.cpu_ms_per_call_second for f in done},
        rss_mb_per_call={str(f.concurrency): f.rss_mb_per_call for f in done},
        process_baseline_rss_mb=done[0].rss_baseline_mb,
        max_concurrent_calls=max(kept, default=0),
        degraded_at=degraded_at,
        levels=done,
        room_audio=room,
        cpu_ms_per_call_second_with_room_path={
            str(f.concurrency): round(
                f.cpu_ms_per_call_second
                + room[str(f.concurrency)].room_audio_cpu_ms_per_call_second,
                1,
            )
            for f in done
            if str(f.concurrency) in room and room[str(f.concurrency)].kept_up
        },
        floor_ratio=floors,
        production=produced,
        pss_mb_per_call_production={k: p.pss_mb_per_call for k, p in produced.items()},
        dispatch_to_live_ms={k: p.dispatch_to_live_ms for k, p in produced.items()},
    )


def _summary(f: LevelFigures) -> str:
    return (
        f"{f.concurrency} at once: overhead p50/p95 {f.turn_overhead_ms.p50}/"
        f"{f.turn_overhead_ms.p95} ms, vad lag mean {f.vad_detection_ms.mean} ms, "
        f"{f.cpu_ms_per_call_second} cpu ms/call-s, {f.rss_mb_per_call} MB/call, "
        f"unanswered {f.unanswered_turns}, reports {f.reports_received}/{f.calls}; "
        f"finished-sentence wait p50 {f.turn_taking.finished_sentence_wait_ms.p50} ms, "
        f"premature replies {f.turn_taking.premature_replies}/{f.turn_taking.pauses}, "
        f"false interruptions {f.turn_taking.false_interruptions}/{f.turn_taking.overlaps}"
    )
