"""Our cost over the framework's: ``python -m agent.bench.floor``.

The floor is the same call on a **bare livekit-agents AgentSession**: the bench scenario's
caller lines (without the level bench's turn-taking probes), LLM replies, greeting and offline
vendor waits, the same silero VAD, the same simulated room audio and scripted caller, but none
of our code (no LiveCall, lifecycle, call record, events, tools or report; the assistant's turn
plan is the same on both sides, its transcript detector included). What ours adds over it is
what we could remove; the rest is the framework's own and the floor for any agent built on it.

Both kinds run in this one process, in **interleaved rounds** (ours then floor, then floor then
ours, ...), so machine noise (the machine is shared) falls on both alike. ``floor_ratio`` is the
ratio of the pooled **mean** turn overhead (a p95 over a few dozen turns swings 0.5-2x from run
to run here) and of CPU per call-second; the per-round ratios give the spread. Prints one JSON
line (:class:`FloorFigures`); logs go to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, cast

from livekit.agents import Agent, AgentSession

from agent.call.control.channel import ControlChannel
from agent.call.lifecycle.call import CallLifecycle
from agent.call.providers import vad_for_call
from agent.call.session import MAX_TOOL_STEPS
from agent.call.telephony.phone_line import PhoneLine
from agent.call.turn_handling import turn_taking
from agent.delivery.outbox import Outbox
from agent.delivery.target_policy import TargetPolicy
from agent.delivery.webhook import WebhookSink
from agent.intake.dispatch import CallSpec, parse_dispatch
from agent.simulator.live import run_scenario
from agent.simulator.offline import OfflineLLM, OfflineSTT, OfflineTTS
from agent.simulator.room import simulated_room
from agent.simulator.scenario import Scenario
from agent.simulator.scripted_caller import CallTimings, ScriptedCaller, call_timings
from agent.simulator.scripted_caller import print_conversation as watch_conversation
from agent.simulator.speed import call_time_base
from agent.worker import warm
from agent.worker.logs import configure_logging
from agent.worker.settings import WorkerSettings

from .figures import FloorFigures, KindFigures
from .level import STAGGER_SECONDS, bench_assistant, split_turn
from .ramp import SECRET_ENV
from .scenario import bench_scenario

BARE_CALL_SECONDS = 120.0
"""Longest a floor call may take (a hung one fails the run instead of blocking it)."""


class _BareCall:
    """What the scripted caller reads of a call, for a bare session (no LiveCall)."""

    def __init__(self, spec: CallSpec, session: AgentSession[Any]) -> None:
        self._spec, self._session, self._live = spec, session, asyncio.Event()

    @property
    def live(self) -> asyncio.Event:
        return self._live

    @property
    def spec(self) -> CallSpec:
        return self._spec

    @property
    def session(self) -> AgentSession[Any]:
        return self._session


class _HangUp:
    """The room's lifecycle seam, bare: the caller leaving ends the call (nothing else)."""

    def __init__(self) -> None:
        self.ended = asyncio.Event()

    def on_participant_joined(self, party: Any) -> None:
        return None

    def on_participant_left(self, identity: str, reason: Any) -> None:
        self.ended.set()


class _NoPhone:
    def caller_joined(self, party: Any) -> None:
        return None


class _Greeter(Agent):
    """The framework's Agent with the bench's instructions and greeting, nothing more."""

    def __init__(self, greeting: str | None) -> None:
        super().__init__(instructions="You are a helpful voice assistant.")
        self._greeting = greeting

    async def on_enter(self) -> None:
        if self._greeting:
            self.session.say(self._greeting, allow_interruptions=True)


async def bare_call(scenario: Scenario) -> tuple[CallTimings, float]:
    """The scenario on a bare AgentSession: its timings and how long it took."""
    stamps = call_time_base()  # the wall: the bench runs in real time
    started = stamps.monotonic()
    spec = await parse_dispatch(scenario.dispatch, room_name="bench-floor")
    segment_started = asyncio.Event()
    async with simulated_room(
        scenario,
        room_name="bench-floor",
        say=lambda _line: None,
        started=started,
        time_base=stamps,
        on_segment_started=lambda _segment: segment_started.set(),
    ) as room:
        latencies = scenario.providers
        stt_engine = OfflineSTT(latencies=latencies, time_base=stamps)
        llm_engine = OfflineLLM(scenario.llm, latencies=latencies, time_base=stamps)
        tts_engine = OfflineTTS(latencies=latencies, time_base=stamps)
        turn = spec.assistant.turn_config
        # the assistant's turn plan, as production pins it (its detector included): the same
        # waits on both sides, so what differs is everything else we add
        turns = turn_taking(spec.assistant)
        session: AgentSession[Any] = AgentSession(
            stt=stt_engine,
            llm=llm_engine,
            tts=tts_engine,
            vad=vad_for_call(turn),
            turn_handling=turns.options,
            max_tool_steps=MAX_TOOL_STEPS,
            user_away_timeout=None,
            session_close_transcript_timeout=room.close_transcript_timeout,
            aec_warmup_duration=None,
        )
        turns.attach(session)
        call = _BareCall(spec, session)
        hang_up = _HangUp()
        # The simulated room's seams, bare: no lifecycle, phone line or control channel.
        await room.join(
            cast(CallLifecycle, hang_up), cast(PhoneLine, _NoPhone()), cast(ControlChannel, None)
        )
        call_started = stamps.monotonic()
        caller = ScriptedCaller(call, room, call_started, stamps, segment_started=segment_started)
        watch_conversation(call, caller, lambda _line: None, started)
        session.on("user_state_changed", caller.on_user_state)
        session.on("tool_execution_updated", caller.on_tool_update)
        await room.start_session(session, _Greeter(spec.assistant.first_message))
        call.live.set()
        script = asyncio.create_task(caller.play(scenario.caller_steps()))
        try:
            await asyncio.wait_for(hang_up.ended.wait(), BARE_CALL_SECONDS)
        finally:
            script.cancel()
            await asyncio.gather(script, return_exceptions=True)
            await session.aclose()
        await room.aclose()
    timings = call_timings(caller, call_started, stt_engine, llm_engine, tts_engine)
    return timings, stamps.monotonic() - started


async def measure_floor(
    *, concurrency: int, calls: int, rounds: int, webhook_url: str | None, secret: str | None
) -> FloorFigures:
    settings = WorkerSettings()
    load_before = [round(x, 2) for x in os.getloadavg()]
    with tempfile.TemporaryDirectory(prefix="voice-agent-bench-floor-") as outbox:
        sink = WebhookSink(TargetPolicy.loopback_allowed(), Outbox(Path(outbox)))

        def scenario(call_id: str, turns: int) -> Scenario:
            # the ordinary turns only: the turn-taking probes are the level bench's, and they
            # triple a call's length
            return bench_scenario(
                call_id=call_id,
                turns=turns,
                webhook_url=webhook_url,
                webhook_secret=secret,
                probes=False,
            )

        async def ours(call_id: str, turns: int) -> tuple[CallTimings | None, float]:
            result = await run_scenario(
                scenario(call_id, turns), sink=sink, settings=settings, say=lambda _line: None
            )
            return result.timings, result.wall_seconds

        async def floor(call_id: str, turns: int) -> tuple[CallTimings | None, float]:
            return await bare_call(scenario(call_id, turns))

        kinds: dict[str, Callable[[str, int], Awaitable[tuple[CallTimings | None, float]]]] = {
            "ours": ours,
            "floor": floor,
        }
        for name, run in kinds.items():
            await run(f"bench-floor-{name}-warmup", 0)  # what a first call loads lazily
        warm.freeze_image()  # as the level bench and production's processes (level.py)
        pooled: dict[str, dict[str, Any]] = {k: {"ov": [], "cpu": 0.0, "s": 0.0} for k in kinds}
        by_round: list[dict[str, tuple[float | None, float]]] = []

        async def phase(name: str, r: int) -> tuple[float | None, float]:
            gate = asyncio.Semaphore(concurrency)

            async def one(i: int) -> tuple[CallTimings | None, float]:
                async with gate:
                    if i < concurrency:
                        await asyncio.sleep(STAGGER_SECONDS * i / concurrency)
                    return await kinds[name](f"bench-floor-{name}-r{r}-{i}", 3)

            assistant = bench_assistant()
            cpu0 = time.process_time()
            got = await asyncio.gather(*(one(i) for i in range(calls)))
            cpu = time.process_time() - cpu0
            overheads = [
                split.worker_overhead_ms
                for timings, _ in got
                if timings is not None
                for split in (split_turn(turn, assistant) for turn in timings.turns)
                if split is not None
            ]
            seconds = sum(wall for _, wall in got)
            pooled[name]["ov"] += overheads
            pooled[name]["cpu"] += cpu
            pooled[name]["s"] += seconds
            mean = statistics.mean(overheads) if overheads else None
            return mean, cpu * 1000 / seconds if seconds else 0.0

        try:
            for r in range(rounds):
                order = ["ours", "floor"] if r % 2 == 0 else ["floor", "ours"]
                by_round.append({name: await phase(name, r) for name in order})
                gc.collect()
        finally:
            await sink.aclose(timeout=30.0)

    def kind(name: str) -> KindFigures:
        ov = pooled[name]["ov"]
        ordered = sorted(ov)
        return KindFigures(
            turns=len(ov),
            overhead_mean_ms=round(statistics.mean(ov), 2) if ov else None,
            overhead_p95_ms=round(ordered[int(0.95 * (len(ordered) - 1))], 1) if ov else None,
            cpu_ms_per_call_second=round(pooled[name]["cpu"] * 1000 / pooled[name]["s"], 1),
        )

    def ratio(a: float | None, b: float | None) -> float | None:
        return round(a / b, 2) if a is not None and b else None

    ours_figures, floor_figures = kind("ours"), kind("floor")
    return FloorFigures(
        concurrency=concurrency,
        calls_per_phase=calls,
        rounds=rounds,
        ours=ours_figures,
        floor=floor_figures,
        overhead_mean_ratio=ratio(ours_figures.overhead_mean_ms, floor_figures.overhead_mean_ms),
        cpu_ratio=ratio(ours_figures.cpu_ms_per_call_second, floor_figures.cpu_ms_per_call_second)
        or 0.0,
        overhead_mean_ratio_by_round=[ratio(r["ours"][0], r["floor"][0]) for r in by_round],
        cpu_ratio_by_round=[ratio(r["ours"][1], r["floor"][1]) or 0.0 for r in by_round],
        overhead_mean_ms_by_round=[
            {k: None if v[0] is None else round(v[0], 2) for k, v in r.items()} for r in by_round
        ],
        loadavg_before=load_before,
        loadavg_after=[round(x, 2) for x in os.getloadavg()],
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m agent.bench.floor")
    parser.add_argument("--concurrency", type=int, required=True)
    parser.add_argument("--calls", type=int, required=True, help="per phase")
    parser.add_argument("--rounds", type=int, default=2, help="pairs of phases, interleaved")
    parser.add_argument("--webhook-url", default=None)
    args = parser.parse_args(argv)
    configure_logging(level=os.environ.get("VOICE_AGENT_LOG_LEVEL", "INFO"), stream=sys.stderr)
    figures = asyncio.run(
        measure_floor(
            concurrency=args.concurrency,
            calls=args.calls,
            rounds=args.rounds,
            webhook_url=args.webhook_url,
            secret=os.environ.get(SECRET_ENV),
        )
    )
    print(figures.model_dump_json())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
