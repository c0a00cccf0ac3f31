"""What the bench reports: per concurrency level, and for the whole run (the printed JSON).

Milliseconds throughout, rounded to 0.1. ``turn_overhead_ms`` is what the worker itself adds
to a turn: its latency (caller's end of speech -> first agent audio frame) minus the configured
waits on its critical path and minus silero's detection lag, exactly
:func:`agent.simulator.timings.split_latency`'s ``worker_overhead_ms``. Configured waits with
the default turn plan (a finished sentence, transcript endpointing): max(VAD silence 200,
terminal wait 200, STT final 150) + what is left of the LLM's first token when asked
preemptively at the STT final (150 + 250 - 200 = 200) + TTS first audio 120 = 520 ms (the plan
before turn plans: max(550, 500, 150) + 0 + 120 = 670 ms).

Turn-taking (:class:`TurnTaking`): what the probes of the benchmark call
(agent/bench/scenario.py) found: the end-of-turn wait after a finished sentence and after a
phrase left mid-way, replies inside a pause, and the agent's speech not heard whole under a
backchannel or a noise.

Silero's detection lag (how much later than its silence window it ends the speech:
32 ms windows and the speech probability decaying, ~100-200 ms on an idle machine) is not
worker code, so it is reported on its own (``vad_detection_ms``). But a VAD that falls behind
its audio under load *is* the worker making callers wait, so a level only counts as carried
when that lag (its mean) has not grown by more than the budget over the lowest level's.
"""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import BaseModel, ConfigDict, Field


class Spread(BaseModel):
    """p50, p95 and mean of a set of samples (None when there were none)."""

    model_config = ConfigDict(frozen=True)

    p50: float | None
    p95: float | None
    mean: float | None
    samples: int

    @classmethod
    def of(cls, values: Iterable[float]) -> Spread:
        # here, not at the top: call_record loads the framework, which the parent process
        # (it only reads the children's figures) would load for nothing (~5 s on 2 cores)
        from agent.report.record import percentile

        values = list(values)
        return cls(
            p50=percentile(values, 50),
            p95=percentile(values, 95),
            mean=round(sum(values) / len(values), 1) if values else None,
            samples=len(values),
        )


def _none() -> Spread:
    return Spread(p50=None, p95=None, mean=None, samples=0)


class TurnTaking(BaseModel):
    """What the turn-taking probes found at one level (every call has each probe once)."""

    model_config = ConfigDict(frozen=True)

    finished_sentence_wait_ms: Spread = Field(default_factory=_none)
    """After a finished sentence: the report's ``end_of_turn_ms`` (the framework's, from the
    caller's end of speech as the VAD placed it to the turn taken)."""
    finished_sentence_commit_ms: Spread = Field(default_factory=_none)
    """The same turns on the simulator's clock: the caller's last audio frame -> turn taken
    (later than the VAD's end of speech by 40-140 ms: recordings fade before they end)."""
    mid_phrase_wait_ms: Spread = Field(default_factory=_none)
    """After a turn left mid-phrase ("And my friend is, um"): the report's ``end_of_turn_ms``;
    longer is right here (the caller may go on)."""
    mid_phrase_commit_ms: Spread = Field(default_factory=_none)
    pauses: int = 0
    """Pauses of ``PAUSE_SECONDS`` mid-phrase inside a turn, said."""
    premature_replies: int = 0
    """Of them, answered before the caller's turn was over."""
    overlaps: int = 0
    """Backchannels and noise bursts said over the agent's speech."""
    false_interruptions: int = 0
    """Of them, the agent's speech paused or cut (not heard whole)."""
    interruption_quiet_ms: Spread = Field(default_factory=_none)
    """"Wait, stop." over the agent: the caller's first frame -> the agent's audio paused or
    cut (the offline STT has the first word after 0.3 s of it)."""
    interruptions_missed: int = 0
    """Real interruptions the agent talked through."""


class LevelFigures(BaseModel):
    """One concurrency level: ``calls`` calls, at most ``concurrency`` at once, one process."""

    model_config = ConfigDict(frozen=True)

    concurrency: int
    calls: int
    wall_seconds: float
    call_seconds: float
    """Sum of the calls' own durations (start of the call to its report sent)."""
    end_reasons: dict[str, int]
    turns: int
    unanswered_turns: int
    """Caller lines the agent never answered (before the next line or the hang-up)."""
    turn_latency_ms: Spread
    turn_overhead_ms: Spread
    vad_detection_ms: Spread
    """Not in the overhead: how much later than its silence window silero ended speech."""
    greeting_ms: Spread
    """Call start -> first frame of the first message (includes the TTS's configured 120 ms)."""
    cpu_ms_per_call_second: float
    """Process CPU time (user + system, all threads) over the level / ``call_seconds``."""
    cpu_cores_busy: float
    """Process CPU time / wall time: 1.0 is one core saturated."""
    rss_baseline_mb: float
    """RSS once everything is loaded and one warm-up call has run, before the level."""
    rss_peak_mb: float
    rss_mb_per_call: float
    """(peak RSS during the level - baseline) / concurrency: what each live call holds."""
    loop_lag_ms: Spread
    """How late a 50 ms asyncio sleep woke up, sampled through the level."""
    reports_received: int = 0
    """End-of-call reports the loopback receiver got with a valid signature (filled by the
    parent process, which runs the receiver)."""
    configured_turn_ms: float = 0.0
    """Configured waits on an ordinary turn's critical path, for this worker's turn plan."""
    turn_taking: TurnTaking = Field(default_factory=TurnTaking)
    loadavg: list[float] = Field(default_factory=list)
    """The machine's 1/5/15-minute load averages as the level ended (the bench included)."""


class Stall(BaseModel):
    """One `event loop blocked` report of the framework's loop monitor."""

    model_config = ConfigDict(frozen=True)

    ms: float
    cpu_ms: float
    gc_ms: float
    task: str | None
    where: str | None
    """The innermost frame of the loop thread's stack sample, when there was one."""


class ProductionFigures(BaseModel):
    """One executor's figures (a field of the bench's JSON: ``production``)."""

    model_config = ConfigDict(frozen=True)

    executor: str
    idle_processes: int
    pss_mb_per_call: dict[str, float]
    """By live calls. process: mean PSS of a live job process; thread: the worker process's
    PSS increment over its idle baseline, per call."""
    pss_mb_per_call_with_shared: dict[str, float]
    """By live calls: everything the calls need divided by them. process: live + idle job
    processes + the forkserver; thread: the worker process's whole PSS."""
    uss_mb_per_call: dict[str, float] = Field(default_factory=dict)
    """By live calls: as ``pss_mb_per_call``, private pages only (USS): machine-independent."""
    pod_mb: dict[str, float] = Field(default_factory=dict)
    """By live calls: the whole worker's memory, every process's USS plus the pages they share
    counted once (what the pod's cgroup is charged, approximately)."""
    main_pss_mb: float
    """The worker's main process (with the calls in it, for the thread executor)."""
    forkserver_pss_mb: float | None
    dispatch_to_live_ms: dict[str, Spread]
    """``warm``: a warm process was idle; ``burst``: every call of the burst at once."""
    call_start_stalls: dict[str, list[Stall]]
    """Loop stalls of 50 ms or more while calls started (the mock room's left out), by phase
    (``warm``, ``burst``). Wall time includes time the loop's thread was not running (other
    processes on the cores); ``cpu_ms`` is what the loop's thread itself ran."""
    loadavg: list[float]


class KindFigures(BaseModel):
    """One kind of call (ours or the floor), pooled over the rounds."""

    model_config = ConfigDict(frozen=True)

    turns: int
    overhead_mean_ms: float | None
    overhead_p95_ms: float | None
    cpu_ms_per_call_second: float


class FloorFigures(BaseModel):
    """Ours and the floor, pooled over the rounds, and their ratios (ours / floor)."""

    model_config = ConfigDict(frozen=True)

    concurrency: int
    calls_per_phase: int
    rounds: int
    ours: KindFigures
    floor: KindFigures
    overhead_mean_ratio: float | None
    """Our pooled mean turn overhead / the floor's."""
    cpu_ratio: float
    """Our CPU per call-second / the floor's."""
    overhead_mean_ratio_by_round: list[float | None]
    cpu_ratio_by_round: list[float]
    overhead_mean_ms_by_round: list[dict[str, float | None]]
    """Each round's mean overhead of each kind (in the order they ran)."""
    loadavg_before: list[float]
    loadavg_after: list[float]


class RoomAudioFigures(BaseModel):
    model_config = ConfigDict(frozen=True)

    calls: int
    seconds: float
    agent_speaks: float
    """Share of the time the agent speaks (its audio goes out)."""
    room_audio_cpu_ms_per_call_second: float
    """RoomIO's input stream and resamplers, and its output path, minus the stand-in source."""
    stand_in_source_cpu_ms_per_call_second: float
    """The stand-in caller feeding 48 kHz frames in (not production's: its decoder does it)."""
    in_frames_per_call_second: float
    """24 kHz frames RoomIO's input stream delivered (100 per second when it keeps up)."""
    kept_up: bool = True
    """The streams ran in real time (at least 95 of their 100 frames a second): else the one
    process measuring every call's room fell behind (production runs a call's room in its own
    job process) and the CPU figure is not a per-call cost."""
    out_chunks_per_call_second: float
    loadavg_before: list[float]
    loadavg_after: list[float]


class BenchFigures(BaseModel):
    """The whole run: the JSON object `python -m agent bench` prints last."""

    model_config = ConfigDict(frozen=True)

    mode: str
    cpus: int
    turns_per_call: int
    budget_ms: float
    """The p95 turn overhead a level must stay under to count as carried."""
    configured_turn_ms: float
    """Configured waits on a turn's critical path (subtracted to get the overhead)."""
    turn_overhead_ms: Spread
    """At the lowest concurrency level: what one call on an idle worker pays."""
    greeting_ms: Spread
    """At the lowest concurrency level."""
    turn_taking: TurnTaking
    """At the lowest concurrency level."""
    premature_replies: int
    """Over every level: replies inside a caller's pause."""
    false_interruptions: int
    """Over every level: backchannels and noise that paused or cut the agent."""
    cpu_ms_per_call_second: dict[str, float]
    """By concurrency level."""
    rss_mb_per_call: dict[str, float]
    """By concurrency level."""
    process_baseline_rss_mb: float
    """A loaded worker process before its first measured call (lowest level's baseline)."""
    max_concurrent_calls: int
    """Highest level carried (:func:`carried`): p95 turn overhead under ``budget_ms``, the VAD
    keeping up, every turn answered, every report received (0: not even one call)."""
    degraded_at: int | None
    """The first level that missed it (None: none of the levels tried did)."""
    levels: list[LevelFigures]
    room_audio: dict[str, RoomAudioFigures] = Field(default_factory=dict)
    """By level: the room's audio path at that many calls (agent/bench/room_audio.py)."""
    cpu_ms_per_call_second_with_room_path: dict[str, float] = Field(default_factory=dict)
    """By level: the level's CPU per call-second plus the room audio path's."""
    floor_ratio: dict[str, FloorFigures] = Field(default_factory=dict)
    """By level: ours against a bare AgentSession running the same call, interleaved."""
    production: dict[str, ProductionFigures] = Field(default_factory=dict)
    """By executor: a real AgentServer's job processes or threads with fake jobs."""
    pss_mb_per_call_production: dict[str, dict[str, float]] = Field(default_factory=dict)
    """By executor, then live calls: ``production``'s PSS per live call (process: a live job
    process; thread: the worker's increment per call)."""
    dispatch_to_live_ms: dict[str, dict[str, Spread]] = Field(default_factory=dict)
    """By executor: ``production``'s job request -> call live (``warm``, ``burst``)."""


def carried(level: LevelFigures, budget_ms: float, *, idle_vad_mean_ms: float | None) -> bool:
    """The level kept every call whole, the worker's p95 turn overhead under budget, and its
    mean VAD lag within budget of the idle one (``idle_vad_mean_ms``: the lowest level's).

    The mean, because the lag depends on how each line ends (~160 ms after the first bench
    line, 50-110 ms after the others: a 32 ms window either still hears the tail or not), so
    percentiles over a few dozen lines jump between phrases; every level says the same lines
    in the same proportion, so their mean moves only when the VAD itself falls behind."""
    p95 = level.turn_overhead_ms.p95
    vad_mean = level.vad_detection_ms.mean
    vad_kept_up = (
        vad_mean is None or idle_vad_mean_ms is None or vad_mean - idle_vad_mean_ms < budget_ms
    )
    return (
        p95 is not None
        and p95 < budget_ms
        and vad_kept_up
        and level.unanswered_turns == 0
        and level.reports_received == level.calls
    )
