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
