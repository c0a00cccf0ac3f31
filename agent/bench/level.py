"""One concurrency level, measured in a fresh process: ``python -m agent.bench.level``.

A fresh process per level, because CPython keeps memory it has freed: a level run after a
bigger one would start from the bigger one's high-water mark and show its calls as free. It
is also what production does with its job processes (one loaded process, its calls inside).

All the level's calls run in this one process on one event loop (``asyncio.gather``), at most
``concurrency`` at a time; the first wave's starts are spread over ``STAGGER_SECONDS`` so the
calls do not speak in lockstep (real calls arrive at random). Before measuring, one warm-up
call (greeting, hang-up) loads what a first call loads lazily, and the loaded process is
frozen out of the garbage collector's way as production's are (agent/worker/warm.py); the
baseline RSS is taken after it. CPU is ``time.process_time()`` (user + system of every thread:
silero's ONNX runs in threads) over the level; RSS is ``VmRSS`` from /proc/self/status, sampled
every 50 ms.

Prints one JSON line (:class:`~agent.bench.figures.LevelFigures`) on stdout; logs go to
stderr. The webhook secret comes in ``VOICE_AGENT_BENCH_SECRET`` (not on the command line).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from agent.contracts.assistant import AssistantConfig
from agent.contracts.turn_plan import EndpointingMode
from agent.delivery.outbox import Outbox
from agent.delivery.target_policy import TargetPolicy
from agent.delivery.webhook import WebhookSink
from agent.simulator.live import ScenarioResult, run_scenario
from agent.simulator.offline import OfflineLatencies
from agent.simulator.timings import LatencySplit, TurnTiming, split_latency
from agent.worker import warm
from agent.worker.logs import configure_logging
from agent.worker.settings import WorkerSettings

from .figures import LevelFigures, Spread, TurnTaking
from .ramp import SECRET_ENV
from .scenario import CALLER_LINES, INTERRUPTION, TRAILING, bench_scenario

STAGGER_SECONDS = 3.0
"""First-wave starts spread evenly over this: about one turn's cycle (line, answer, pause)."""
SAMPLE_SECONDS = 0.05


def rss_mb() -> float:
    """Resident set size now (VmRSS), in MB; 0.0 where /proc is missing."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024  # "VmRSS:  123456 kB"
    except OSError:
        pass
    return 0.0


@dataclass
class _Sampler:
    """Peak RSS and event-loop lag through the level, every ``SAMPLE_SECONDS``."""

    peak_rss_mb: float = 0.0
    lags_ms: list[float] = field(default_factory=list)

    async def run(self) -> None:
        while True:
            asked = time.monotonic()
            await asyncio.sleep(SAMPLE_SECONDS)
            # woke at asked + 50 ms + lag: lag is how long ready callbacks kept the loop busy
            self.lags_ms.append((time.monotonic() - asked - SAMPLE_SECONDS) * 1000)
            self.peak_rss_mb = max(self.peak_rss_mb, rss_mb())


def configured_endpointing_ms(assistant: AssistantConfig) -> float:
    """The plan's wait after a finished sentence, counted from the end of speech: the terminal
    wait (transcript), the fixed delay (vad; model when likely over), none (stt)."""
    turn = assistant.turn_config
    mode = assistant.endpointing_mode
    if mode is EndpointingMode.TRANSCRIPT:
        return turn.transcript_endpointing.terminal_seconds * 1000
    if mode is EndpointingMode.STT:
        return 0.0
    return turn.min_endpointing_delay * 1000


def configured_turn_ms(assistant: AssistantConfig, latencies: OfflineLatencies) -> float:
    """Configured waits on an ordinary turn's critical path, the LLM asked preemptively at the
    STT final (see :func:`agent.simulator.timings.split_latency`)."""
    silence = assistant.turn_config.min_silence_seconds * 1000
    commit = max(silence, configured_endpointing_ms(assistant), latencies.stt_final_ms)
    llm_left = max(0.0, latencies.stt_final_ms + latencies.llm_ttft_ms - commit)
    return round(commit + llm_left + latencies.tts_ttfb_ms, 1)


def _report_waits(result: ScenarioResult) -> dict[str, list[float]]:
    """The report's measured end-of-turn wait of each caller turn, by what the caller said."""
    metrics = json.loads(result.report_body)["message"].get("metrics") or {}
    turns = {t["turn_index"]: t for t in metrics.get("turns", [])}
    waits: dict[str, list[float]] = {}
    for row in metrics.get("callmissed_turns", []):
        wait = turns.get(row["turn_index"], {}).get("end_of_turn_ms")
        if wait is not None:
            waits.setdefault(row["user_transcript"].strip(), []).append(wait)
    return waits


def _turn_taking(results: list[ScenarioResult]) -> TurnTaking:
    finished, finished_commit, mid, mid_commit, quiet = [], [], [], [], []
    pauses = premature = overlaps = false_interruptions = missed = 0
    finished_lines = {*CALLER_LINES, "Is there parking nearby?", "Do you take cards?"}
    for result in results:
        timings = result.timings
        if timings is None:
            continue
        waits = _report_waits(result)
        for line in finished_lines:
            finished += waits.get(line, [])
        mid += waits.get(TRAILING, [])
        for timing in timings.turns:
            committed = timing.waterfall.turn_committed_ms
            if timing.caller_text in finished_lines and committed is not None:
                finished_commit.append(committed)
            elif timing.caller_text == TRAILING and committed is not None:
                mid_commit.append(committed)
            if timing.continues:
                pauses += 1
                premature += timing.latency_ms is not None
        for overlap in timings.overlaps:
            if overlap.caller_text == INTERRUPTION:
                if overlap.agent_quiet_ms is None:
                    missed += 1
                else:
                    quiet.append(overlap.agent_quiet_ms)
            elif overlap.agent_speaking:
                overlaps += 1
                false_interruptions += not overlap.agent_heard_whole
    return TurnTaking(
        finished_sentence_wait_ms=Spread.of(finished),
        finished_sentence_commit_ms=Spread.of(finished_commit),
        mid_phrase_wait_ms=Spread.of(mid),
        mid_phrase_commit_ms=Spread.of(mid_commit),
        pauses=pauses,
        premature_replies=premature,
        overlaps=overlaps,
        false_interruptions=false_interruptions,
        interruption_quiet_ms=Spread.of(quiet),
        interruptions_missed=missed,
    )


BENCH_LATENCIES = OfflineLatencies(stt_final_ms=150, llm_ttft_ms=250, tts_ttfb_ms=120)
"""The bench scenario's configured vendor waits (agent/bench/scenario.py)."""


def bench_assistant() -> AssistantConfig:
    """The bench call's assistant (its turn plan decides the configured waits)."""
    scenario = bench_scenario(call_id="plan", turns=0, webhook_url=None, webhook_secret=None)
    return AssistantConfig.model_validate(scenario.dispatch["assistant"])


def split_turn(timing: TurnTiming, assistant: AssistantConfig) -> LatencySplit | None:
    """A bench line's turn split into the configured waits, silero's lag and the worker's
    overhead (None: a probe, measured by the turn-taking figures; or never answered)."""
    if timing.caller_text not in CALLER_LINES:
        return None
    return split_latency(
        timing,
        stt_final_ms=BENCH_LATENCIES.stt_final_ms,
        llm_ttft_ms=BENCH_LATENCIES.llm_ttft_ms,
        tts_ttfb_ms=BENCH_LATENCIES.tts_ttfb_ms,
        min_silence_ms=assistant.turn_config.min_silence_seconds * 1000,
        min_endpointing_ms=configured_endpointing_ms(assistant),
    )


def _figures(
    concurrency: int,
    results: list[ScenarioResult],
    *,
    wall: float,
    cpu: float,
    baseline_mb: float,
    sampler: _Sampler,
) -> LevelFigures:
    latencies = BENCH_LATENCIES
    assistant = bench_assistant()
    latency, overhead, vad_lag, greetings = [], [], [], []
    unanswered = 0
    for result in results:
        timings = result.timings
        if timings is None:
            continue
        if timings.greeting_ms is not None:
            greetings.append(timings.greeting_ms)
        for timing in timings.turns:
            if timing.caller_text not in CALLER_LINES:
                continue  # a probe: measured by _turn_taking
            split = split_turn(timing, assistant)
            if split is None:
                unanswered += 1
                continue
            latency.append(split.latency_ms)
            overhead.append(split.worker_overhead_ms)
            if split.vad_detection_ms is not None:
                vad_lag.append(split.vad_detection_ms)
    call_seconds = sum(r.wall_seconds for r in results)
    return LevelFigures(
        concurrency=concurrency,
        calls=len(results),
        wall_seconds=round(wall, 2),
        call_seconds=round(call_seconds, 2),
        end_reasons=dict(Counter(r.end_reason for r in results)),
        turns=len(latency) + unanswered,
        unanswered_turns=unanswered,
        turn_latency_ms=Spread.of(latency),
        turn_overhead_ms=Spread.of(overhead),
        vad_detection_ms=Spread.of(vad_lag),
        greeting_ms=Spread.of(greetings),
        cpu_ms_per_call_second=round(cpu * 1000 / call_seconds, 1) if call_seconds else 0.0,
        cpu_cores_busy=round(cpu / wall, 2) if wall else 0.0,
        rss_baseline_mb=round(baseline_mb, 1),
        rss_peak_mb=round(sampler.peak_rss_mb, 1),
        rss_mb_per_call=round(max(sampler.peak_rss_mb - baseline_mb, 0.0) / concurrency, 1),
        loop_lag_ms=Spread.of(sampler.lags_ms),
        configured_turn_ms=configured_turn_ms(assistant, latencies),
        turn_taking=_turn_taking(results),
        loadavg=[round(x, 2) for x in os.getloadavg()],
    )


async def measure_level(
    *, concurrency: int, calls: int, turns: int, webhook_url: str | None, secret: str | None
) -> LevelFigures:
    """Run ``calls`` benchmark calls, ``concurrency`` at a time, in this process."""
    settings = WorkerSettings()
    with tempfile.TemporaryDirectory(prefix="voice-agent-bench-") as outbox:
        sink = WebhookSink(TargetPolicy.loopback_allowed(), Outbox(Path(outbox)))

        def call(call_id: str, call_turns: int) -> asyncio.Future[ScenarioResult]:
            scenario = bench_scenario(
                call_id=call_id, turns=call_turns, webhook_url=webhook_url, webhook_secret=secret
            )
            return asyncio.ensure_future(
                run_scenario(scenario, sink=sink, settings=settings, say=lambda _line: None)
            )

        try:
            await call(f"bench-c{concurrency}-warmup", 0)
            # As production's processes are: the loaded image frozen out of the garbage
            # collector's way (the forkserver's _preload_freeze for job processes, the thread
            # executor's freeze_image); a full collection of the whole image is a 100-300 ms
            # stall that lands on some call's turn.
            warm.freeze_image()
            baseline = rss_mb()
            sampler = _Sampler(peak_rss_mb=baseline)
            gate = asyncio.Semaphore(concurrency)

            async def one(index: int) -> ScenarioResult:
                async with gate:
                    if index < concurrency:  # call 3 of 4: starts at 3/4 x 3 s = 2.25 s
                        await asyncio.sleep(STAGGER_SECONDS * index / concurrency)
                    return await call(f"bench-c{concurrency}-{index}", turns)

            sampling = asyncio.create_task(sampler.run())
            cpu_before, wall_before = time.process_time(), time.monotonic()
            try:
                results = await asyncio.gather(*(one(i) for i in range(calls)))
            finally:
                cpu = time.process_time() - cpu_before
                wall = time.monotonic() - wall_before
                sampling.cancel()
        finally:
            await sink.aclose(timeout=30.0)
    return _figures(
        concurrency, list(results), wall=wall, cpu=cpu, baseline_mb=baseline, sampler=sampler
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m agent.bench.level")
    parser.add_argument("--concurrency", type=int, required=True)
    parser.add_argument("--calls", type=int, required=True)
    parser.add_argument("--turns", type=int, required=True)
    parser.add_argument("--webhook-url", default=None)
    args = parser.parse_args(argv)
    configure_logging(level=os.environ.get("VOICE_AGENT_LOG_LEVEL", "INFO"), stream=sys.stderr)
    figures = asyncio.run(
        measure_level(
            concurrency=args.concurrency,
            calls=args.calls,
            turns=args.turns,
            webhook_url=args.webhook_url,
            secret=os.environ.get(SECRET_ENV),
        )
    )
    print(figures.model_dump_json())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
