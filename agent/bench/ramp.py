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

from .figures import BenchFigures, LevelFigures, carried

SECRET_ENV = "VOICE_AGENT_BENCH_SECRET"  # noqa: S105 (the variable's name, not a secret)
"""How the child gets the run's webhook secret (not on its command line, which ps shows)."""
MIN_CALLS_PER_LEVEL = 3
"""Full run: a level with fewer slots still runs this many calls (in turn), for samples."""


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
    env = dict(os.environ)
    env[SECRET_ENV] = secret
    env.setdefault("LIVEKIT_AGENTS_PRELOAD_LOCAL_INFERENCE", "0")  # silero only, as production
    log_path = log_dir / f"level-{concurrency}.log"
    with log_path.open("wb") as log_file:
        child = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "agent.bench.level",
            "--concurrency", str(concurrency), "--calls", str(calls), "--turns", str(turns),
            "--webhook-url", url,
            stdout=asyncio.subprocess.PIPE, stderr=log_file, env=env,
        )  # fmt: skip
        stdout, _ = await child.communicate()
    lines = stdout.decode().strip().splitlines()
    if child.returncode != 0 or not lines:
        tail = log_path.read_text(errors="replace")[-2000:]
        raise RuntimeError(f"level {concurrency} failed (exit {child.returncode}):\n{tail}")
    return LevelFigures.model_validate_json(lines[-1])


async def run_bench(
    levels: list[int], *, calls: int | None, turns: int, budget_ms: float, mode: str
) -> BenchFigures:
    """Run the levels in order, stopping after the first one not carried."""
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
                idle_vad = done[0].vad_detection_ms.mean
                if not carried(figures, budget_ms, idle_vad_mean_ms=idle_vad):
                    degraded_at = concurrency
                    break
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
