"""A call with offline vendors and the real silero VAD, for tests of how calls end.

Assembled by the composition root (``agent.call.assemble``) as the simulator assembles one, in
a simulated room nobody has joined; not started.
"""

from __future__ import annotations

from typing import Any

from agent.call.assemble import CallIO, CallProviders, assemble_call
from agent.call.live_call import LiveCall
from agent.call.providers import vad_for_call
from agent.delivery.base import EventSink
from agent.delivery.target_policy import TargetPolicy
from agent.simulator.offline.llm import OfflineLLM
from agent.simulator.offline.stt import OfflineSTT
from agent.simulator.offline.tts import OfflineTTS
from agent.simulator.room import SimulatedCallRoom
from agent.simulator.transport import SimulatedAudio
from agent.worker.settings import WorkerSettings


def offline_call(spec: Any, sink: EventSink) -> LiveCall:
    return assemble_call(
        spec,
        CallProviders(stt=OfflineSTT(), llm=OfflineLLM(), tts=OfflineTTS(), vad=vad_for_call()),
        CallIO(
            room=SimulatedCallRoom(SimulatedAudio.create(), caller=None),
            sink=sink,
            settings=WorkerSettings(),
            tool_policy=TargetPolicy.loopback_allowed(),
        ),
    )
