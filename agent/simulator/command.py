"""`python -m agent simulate SCENARIO`: one whole call on this machine, no account needed.

The call is assembled and run exactly as in production (see :mod:`agent.simulator.live`);
its webhooks go for real to the assistant's `webhook_url`, signed, with loopback receivers
allowed (a local receiver is the usual target here). The conversation is printed as it
happens, then what the caller heard of turn-taking (a reply in a pause of theirs, what each
barge-in did to the agent's speech), the end reason and duration.

``--speed N`` runs the call N times faster than real time (agent/simulator/speed.py): the
report, the printed conversation and the duration state call time, as the same call at real
time would; only the "wall" figure is the wall's. Without it the call runs in real time.

Exit codes: 0 the call ran to an end (any end reason, `config_error` included), 2 the scenario
cannot be read or is invalid (every problem printed with its path).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import ValidationError

from agent.worker.logs import configure_logging
from agent.worker.settings import WorkerSettings, settings_errors

if TYPE_CHECKING:
    from .live import ScenarioResult
    from .scenario import Scenario


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `simulate` command to the CLI's sub-parsers."""
    simulate = sub.add_parser("simulate", help="run a scenario file as a whole simulated call")
    simulate.add_argument("scenario", type=Path, help="scenario YAML (see config/scenarios/)")
    simulate.add_argument(
        "--report", type=Path, default=None, help="write the end-of-call report JSON here"
    )
    simulate.add_argument(
        "--llm",
        choices=("offline", "real"),
        default="offline",
        help="real: the assistant's llm_config (needs its API key) instead of the scripted LLM",
    )
    simulate.add_argument(
        "--outbox", type=Path, default=None, help="outbox directory (default: a temporary one)"
    )
    simulate.add_argument(
        "--speed",
        type=_speed,
        default=1.0,
        metavar="N",
        help="run the call N times faster than real time (the report stays in call time; "
        "8 is comfortable on 2 cores)",
    )
    simulate.set_defaults(func=cmd_simulate)


def _speed(text: str) -> float:
    from .speed import MAX_SPEED

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 < value <= MAX_SPEED:
        raise argparse.ArgumentTypeError(f"speed must be above 0 and at most {MAX_SPEED:g}")
    return value


def cmd_simulate(args: argparse.Namespace) -> int:
    # Imported here: registering the command must not load the framework for `check`/`schema`.
    from .scenario import ScenarioError, load_scenario

    try:
        scenario = load_scenario(args.scenario)
    except ScenarioError as exc:
        print(
            f"invalid scenario: {len(exc.problems)} problem(s) in {args.scenario}", file=sys.stderr
        )
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return 2
    try:
        settings = WorkerSettings()
    except ValidationError as exc:
        for line in settings_errors(exc):
            print(line, file=sys.stderr)
        return 2
    # stdout carries the conversation; logs go to stderr so the two never interleave.
    configure_logging(settings.log_format, settings.log_level, stream=sys.stderr)
    from .speed import run_at_speed

    if args.outbox is not None:
        return run_at_speed(lambda: _simulate(args, scenario, settings, args.outbox), args.speed)
    with tempfile.TemporaryDirectory(prefix="voice-agent-sim-outbox-") as outbox:
        return run_at_speed(lambda: _simulate(args, scenario, settings, Path(outbox)), args.speed)


async def _simulate(
    args: argparse.Namespace, scenario: Scenario, settings: WorkerSettings, outbox: Path
) -> int:
    from agent.delivery.outbox import Outbox
    from agent.delivery.target_policy import TargetPolicy
    from agent.delivery.webhook import WebhookSink

    from .live import run_scenario

    sink = WebhookSink(TargetPolicy.loopback_allowed(), Outbox(outbox))
    try:
        result = await run_scenario(
            scenario, sink=sink, settings=settings, real_llm=args.llm == "real"
        )
    finally:
        await sink.aclose(timeout=30.0)
    parked = len(sink.outbox.pending())
    if parked:
        kept = "kept" if args.outbox is not None else "discarded with the temporary outbox"
        print(f"undelivered: {parked} webhook(s) parked in {outbox} ({kept})", file=sys.stderr)
    duration = f"{result.duration_seconds:.2f} s" if result.duration_seconds is not None else "-"
    for line in _turn_taking_lines(result):
        print(line)
    print(f"end_reason: {result.end_reason}")
    at_speed = f", speed {args.speed:g}x" if args.speed != 1 else ""
    print(f"duration: {duration} (wall {result.wall_seconds:.2f} s{at_speed})")
    if args.report is not None:
        args.report.write_bytes(result.report_body)
        print(f"report: {args.report}")
    elif result.report_url is None:  # nobody received it: show it here
        print(json.dumps(json.loads(result.report_body), indent=2))
    return 0


def _turn_taking_lines(result: ScenarioResult) -> list[str]:
    """What the caller heard of turn-taking: premature replies, and each barge-in's effect."""
    timings = result.timings
    if timings is None:
        return []
    lines = [
        f"premature reply: the agent answered in a pause after {t.caller_text!r}"
        for t in timings.turns
        if t.continues and t.latency_ms is not None
    ]
    for o in timings.overlaps:
        what = f"{o.kind} {o.caller_text!r}" if o.caller_text else o.kind
        if not o.agent_speaking:
            heard = "the agent was not speaking"
        elif o.agent_heard_whole:
            heard = "the agent's speech was heard whole"
        elif o.agent_resumed:
            heard = f"the agent paused after {o.agent_quiet_ms} ms, then went on"
        else:
            heard = f"the agent went quiet after {o.agent_quiet_ms} ms"
        lines.append(f"over the agent at {o.caller_started_at_ms / 1000:.2f}s: {what}: {heard}")
    return lines
