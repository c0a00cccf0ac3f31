"""What livekit's end-of-turn model costs: ``python -m agent.bench.turn_model_cost``.

`endpointing_mode: model` runs ``livekit.local_inference``'s EOT model in the job process. A
worker loads it only with ``VOICE_AGENT_TURN_MODEL=on`` (agent/call/turn_model.py); this
measures what that costs, in a fresh process so nothing else is loaded:

- per process: the time and resident memory ``init_eot()`` adds;
- per turn: one prediction on 1.2 s of caller speech (the model's window; the framework asks
  once per end of speech), wall time and the process CPU it takes;
- shared or not: child processes forked after the parent loaded the weights (what the
  forkserver gives job processes when ``LIVEKIT_AGENTS_PRELOAD_LOCAL_INFERENCE=1``) against
  children that load them themselves, by their USS (memory only they hold) and PSS.

Prints one JSON object. docs/benchmarks.md has the figures.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
import time
from typing import Any

import numpy as np

from agent.bench.level import rss_mb
from agent.simulator.speech import CallerLine, CallerSpeech

WINDOW_SECONDS = 1.2


def _speech_window() -> np.ndarray:
    line = CallerLine(line_id=0, text="x" * 18, seconds=WINDOW_SECONDS)
    return np.frombuffer(CallerSpeech().pcm_for(line), dtype="<i2").copy()


def _rollup(pid: int) -> dict[str, float]:
    """Pss and Private (USS) of a process, MB, from /proc/PID/smaps_rollup."""
    values: dict[str, float] = {}
    with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as rollup:
        for line in rollup:
            name, _, rest = line.partition(":")
            if name in ("Rss", "Pss", "Private_Clean", "Private_Dirty"):
                values[name] = int(rest.split()[0]) / 1024
    return {
        "rss_mb": round(values.get("Rss", 0.0), 1),
        "pss_mb": round(values.get("Pss", 0.0), 1),
        "uss_mb": round(values.get("Private_Clean", 0.0) + values.get("Private_Dirty", 0.0), 1),
    }


def _child(load: bool, predictions: int, ready: Any, done: Any) -> None:
    import livekit.local_inference as local_inference

    if load:
        local_inference.init_eot()
    model, pcm = local_inference.EOT(), _speech_window()
    for _ in range(predictions):
        model.predict(pcm)
    ready.set()
    done.wait()


def _children(ctx: Any, *, load: bool, count: int, predictions: int) -> list[dict[str, float]]:
    done = ctx.Event()
    procs = []
    for _ in range(count):
        ready = ctx.Event()
        proc = ctx.Process(target=_child, args=(load, predictions, ready, done))
        proc.start()
        procs.append((proc, ready))
    for _, ready in procs:
        ready.wait(timeout=120)
    figures = [_rollup(proc.pid) for proc, _ in procs if proc.pid is not None]
    done.set()
    for proc, _ in procs:
        proc.join(timeout=30)
    return figures


def measure(*, predictions: int, children: int) -> dict[str, Any]:
    import livekit.local_inference as local_inference

    out: dict[str, Any] = {"rss_before_mb": round(rss_mb(), 1)}
    # children that load the weights themselves, forked before the parent has them
    ctx = multiprocessing.get_context("fork")
    if children:
        out["children_loading_their_own"] = _children(
            ctx, load=True, count=children, predictions=predictions
        )
    started = time.perf_counter()
    local_inference.init_eot()
    out["init_seconds"] = round(time.perf_counter() - started, 3)
    out["rss_after_init_mb"] = round(rss_mb(), 1)
    out["rss_added_mb"] = round(out["rss_after_init_mb"] - out["rss_before_mb"], 1)
    model, pcm = local_inference.EOT(), _speech_window()
    model.predict(pcm)  # the first one warms caches
    walls, cpus = [], []
    for _ in range(predictions):
        wall, cpu = time.perf_counter(), time.process_time()
        model.predict(pcm)
        walls.append((time.perf_counter() - wall) * 1000)
        cpus.append((time.process_time() - cpu) * 1000)
    out["prediction_ms"] = {
        "p50": round(float(np.percentile(walls, 50)), 1),
        "p95": round(float(np.percentile(walls, 95)), 1),
        "samples": len(walls),
    }
    out["prediction_cpu_ms_mean"] = round(float(np.mean(cpus)), 1)
    if children:
        out["children_sharing_the_parents"] = _children(
            ctx, load=False, count=children, predictions=predictions
        )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m agent.bench.turn_model_cost")
    parser.add_argument("--predictions", type=int, default=30)
    parser.add_argument("--children", type=int, default=3)
    args = parser.parse_args(argv)
    print(json.dumps(measure(predictions=args.predictions, children=args.children)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
