"""`python -m agent bench`: ramp concurrency until the worker degrades; print the figures.

The command only parses its arguments; the work is in :mod:`agent.bench.ramp`, imported when
the command runs (building the CLI's parser must not load the framework).
"""

from __future__ import annotations

import argparse
import asyncio
import sys

FULL_LEVELS = (1, 4, 8, 12, 16, 20, 24, 32, 48, 64, 96, 128)
"""Finer steps where a 2-core machine was seen to turn (16 to 24), doubling beyond."""
QUICK_LEVELS = (1, 4)
FLOOR_LEVELS = (1, 32)
"""Where the floor ratio is taken: one call, and the most calls one process carries."""
EXECUTORS = ("process", "thread")
BUDGET_MS = 50.0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `bench` command to the CLI's sub-parsers."""
    bench = sub.add_parser(
        "bench", help="simulated calls at rising concurrency: turn overhead, CPU and RSS per call"
    )
    bench.add_argument(
        "--quick", action="store_true", help="levels 1 and 4, 2 turns + probes (~2 min)"
    )
    bench.add_argument("--levels", default=None, help="comma list, e.g. 1,4,16 (default: ramp)")
    bench.add_argument("--calls", type=int, default=None, help="calls per level (default: auto)")
    bench.add_argument("--turns", type=int, default=None, help="caller turns per call (0-3)")
    bench.add_argument("--budget-ms", type=float, default=BUDGET_MS, help="p95 overhead limit")
    bench.add_argument(
        "--room-audio",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="the room audio path's CPU at each level (default: on for the full ramp)",
    )
    bench.add_argument(
        "--floor-levels",
        default=None,
        help="levels to run against a bare AgentSession, e.g. 1,32 (default: 1,32 for the "
        "full ramp; '' for none)",
    )
    bench.add_argument(
        "--production",
        default=None,
        help="executors to measure on a real AgentServer: process,thread (default: both for "
        "the full ramp; '' for none)",
    )
    bench.set_defaults(func=cmd_bench)


def cmd_bench(args: argparse.Namespace) -> int:
    from .ramp import run_bench
    from .scenario import MAX_TURNS

    mode = "quick" if args.quick else "full"
    try:
        levels = (
            [int(level) for level in args.levels.split(",")]
            if args.levels
            else list(QUICK_LEVELS if args.quick else FULL_LEVELS)
        )
    except ValueError:
        print(f"bench: --levels must be integers, not {args.levels!r}", file=sys.stderr)
        return 2
    turns = args.turns if args.turns is not None else (2 if args.quick else MAX_TURNS)
    if not levels or min(levels) < 1 or not 0 <= turns <= MAX_TURNS or (args.calls or 1) < 1:
        print(f"bench: levels >= 1, calls >= 1, turns 0..{MAX_TURNS}", file=sys.stderr)
        return 2
    ramp = not args.quick and not args.levels  # the whole ramp measures everything
    room_audio = ramp if args.room_audio is None else args.room_audio
    try:
        floor_levels = _ints(args.floor_levels, FLOOR_LEVELS if ramp else ())
    except ValueError:
        print(f"bench: --floor-levels must be integers, not {args.floor_levels!r}", file=sys.stderr)
        return 2
    production = _names(args.production, EXECUTORS if ramp else ())
    if min(floor_levels, default=1) < 1 or not set(production) <= set(EXECUTORS):
        print(f"bench: floor levels >= 1, executors among {', '.join(EXECUTORS)}", file=sys.stderr)
        return 2
    figures = asyncio.run(
        run_bench(
            levels,
            calls=args.calls,
            turns=turns,
            budget_ms=args.budget_ms,
            mode=mode,
            room_audio=room_audio,
            floor_levels=floor_levels,
            production=production,
        )
    )
    print(figures.model_dump_json(indent=2))
    return 0


def _ints(text: str | None, default: tuple[int, ...]) -> list[int]:
    if text is None:
        return list(default)
    return [int(part) for part in text.split(",") if part.strip()]


def _names(text: str | None, default: tuple[str, ...]) -> list[str]:
    if text is None:
        return list(default)
    return [part.strip() for part in text.split(",") if part.strip()]
