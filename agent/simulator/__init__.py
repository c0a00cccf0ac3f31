"""Run a whole call with no LiveKit server and no provider account.

The call is assembled by the production composition root (``agent.call.assemble``) and run as
the job runs it; only the vendors (offline stand-ins for the STT, LLM and TTS) and the room (a
simulated caller) differ. It is what ``python -m agent simulate``, the call tests and the
benchmarks run on.

- :mod:`.live`: ``run_scenario``, one scenario to its report;
- :mod:`.scripted_caller`: the scripted caller's pacing, and what the call measured;
- :mod:`.room`: the simulated ``CallRoom``: audio, the caller party, the offline SIP gateway;
- :mod:`.timings`: what a call measured, and the latency split;
- :mod:`.script`: the caller's steps (say, barge in, stay silent, hang up);
- :mod:`.offline`: the vendor stand-ins and their configured latencies;
- :mod:`.transport`: caller audio in, agent audio and transcript out, in real time;
- :mod:`.speech`: the recorded caller speech and the speaking rate.
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the real names, for type checkers; at run time they load on first use
    from .offline import OfflineLatencies, OfflineLLM, OfflineSTT, OfflineTTS, ScriptedReply
    from .script import CallerStep, HangupStep, SayStep, SilenceStep, parse_caller_script
    from .timings import (
        LatencySplit,
        LogEntry,
        TurnTiming,
        TurnWaterfall,
        split_latency,
    )

# Loaded on first use: `python -m agent check` imports this package (for the `simulate` command's
# arguments) and must not pay for livekit-agents (~3 s) to validate a document.
_LAZY = {
    "OfflineLatencies": ".offline", "OfflineLLM": ".offline", "OfflineSTT": ".offline",
    "OfflineTTS": ".offline", "ScriptedReply": ".offline",
    "CallerStep": ".script", "HangupStep": ".script", "SayStep": ".script",
    "SilenceStep": ".script", "parse_caller_script": ".script",
    "LatencySplit": ".timings", "LogEntry": ".timings",
    "TurnTiming": ".timings", "TurnWaterfall": ".timings", "split_latency": ".timings",
}  # fmt: skip


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "CallerStep",
    "HangupStep",
    "LatencySplit",
    "LogEntry",
    "OfflineLLM",
    "OfflineLatencies",
    "OfflineSTT",
    "OfflineTTS",
    "SayStep",
    "ScriptedReply",
    "SilenceStep",
    "TurnTiming",
    "TurnWaterfall",
    "parse_caller_script",
    "split_latency",
]
