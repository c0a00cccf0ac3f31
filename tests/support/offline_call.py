"""A LiveCall with offline vendors and the real silero VAD, for tests of how calls end."""

from __future__ import annotations

from typing import Any

from agent.call.live_call import LiveCall
from agent.call.providers import load_vad
from agent.delivery.base import EventSink
from agent.delivery.target_policy import TargetPolicy
from agent.simulator.offline.llm import OfflineLLM
from agent.simulator.offline.stt import OfflineSTT
from agent.simulator.offline.tts import OfflineTTS


def offline_call(spec: Any, sink: EventSink) -> LiveCall:
    return LiveCall(
        spec,
        stt_engine=OfflineSTT(),
        llm_engine=OfflineLLM(),
        tts_engine=OfflineTTS(),
        vad_engine=load_vad(),
        sink=sink,
        analyse=False,
        tool_policy=TargetPolicy.loopback_allowed(),
    )
