"""Run a whole call with no LiveKit server and no provider account.

A real ``AgentSession`` (production VAD and turn handling) talks to a scripted caller over a
simulated room, with offline stand-ins for the STT, LLM and TTS vendors. It is what
``python -m agent simulate``, the session tests and the benchmarks run on.

- :mod:`.harness`: :class:`SimulatedCall`, the whole call with a session it builds;
- :mod:`.caller`: :class:`ScriptedCaller`, the caller's pacing and the call's timings, on
  any session wired to a :class:`~.transport.SimulatedRoom`;
- :mod:`.timings`: what a call measured, and the latency split;
- :mod:`.script`: the caller's steps (say, barge in, stay silent, hang up);
- :mod:`.offline`: the vendor stand-ins and their configured latencies;
- :mod:`.transport`: caller audio in, agent audio and transcript out, in real time;
- :mod:`.speech`: the recorded caller speech and the speaking rate.
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the real names, for type checkers; at run time they load on first use
    from .caller import ScriptedCaller, SessionHook
    from .harness import SessionFactory, SimulatedCall
    from .offline import OfflineLatencies, OfflineLLM, OfflineSTT, OfflineTTS, ScriptedReply
    from .script import CallerStep, HangupStep, SayStep, SilenceStep, parse_caller_script
    from .timings import (
        LatencySplit,
        LogEntry,
        SimulatedCallResult,
        TurnTiming,
        TurnWaterfall,
        split_latency,
    )

# Loaded on first use: `python -m agent check` imports this package (for the `simulate` command's
# arguments) and must not pay for livekit-agents (~3 s) to validate a document.
_LAZY = {
    "ScriptedCaller": ".caller", "SessionHook": ".caller",
    "SessionFactory": ".harness", "SimulatedCall": ".harness",
    "OfflineLatencies": ".offline", "OfflineLLM": ".offline", "OfflineSTT": ".offline",
    "OfflineTTS": ".offline", "ScriptedReply": ".offline",
    "CallerStep": ".script", "HangupStep": ".script", "SayStep": ".script",
    "SilenceStep": ".script", "parse_caller_script": ".script",
    "LatencySplit": ".timings", "LogEntry": ".timings", "SimulatedCallResult": ".timings",
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
    "ScriptedCaller",
    "ScriptedReply",
    "SessionFactory",
    "SessionHook",
    "SilenceStep",
    "SimulatedCall",
    "SimulatedCallResult",
    "TurnTiming",
    "TurnWaterfall",
    "parse_caller_script",
    "split_latency",
]
