"""Shared pieces for the telephony and control tests.

- ``FakeLiveKit``: the simulator's offline LiveKit server API, a real aiohttp server on
  127.0.0.1 speaking Twirp (protobuf bodies), so the real ``livekit.api.LiveKitAPI`` client runs
  against it. It keeps every request (path, decoded body, auth header) and answers each method
  with a configured protobuf message or a Twirp error. This is the only fake: the vendor boundary.
- ``SimCall``: a call assembled by the composition root (``agent.call.assemble``) with the
  simulator's room and offline STT/LLM/TTS, exactly as ``agent.simulator.live`` assembles one,
  joined to its room; the caller speaks through the simulated microphone.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest

from agent.call.assemble import CallIO, CallProviders, assemble_call
from agent.call.live_call import LiveCall
from agent.call.providers import vad_for_call
from agent.call.telephony.caller import CallerParty
from agent.call.telephony.outbound import MachineDetector
from agent.call.telephony.phone_line import PhoneLine
from agent.call.telephony.sip import SipGateway
from agent.clock import Clock, RealClock
from agent.contracts.events import parse_envelope
from agent.delivery.base import Delivery
from agent.intake.dispatch import ParseOptions, parse_dispatch
from agent.simulator.offline import OfflineLLM, OfflineSTT, OfflineTTS
from agent.simulator.offline.sip import API_KEY, API_SECRET, OfflineLiveKitServer
from agent.simulator.room import WEB_IDENTITY, SimulatedCallRoom
from agent.simulator.speech import CallerLine, seconds_to_say
from agent.simulator.transport import SimulatedAudio
from agent.worker.settings import WorkerSettings

WEB_CALLER = CallerParty(WEB_IDENTITY, is_sip=False)
"""The caller unless a test says otherwise: a browser."""

FakeLiveKit = OfflineLiveKitServer
"""The simulator's offline LiveKit server API (agent/simulator/offline/sip.py), used as is."""

__all__ = ["API_KEY", "API_SECRET", "FakeLiveKit", "livekit_server"]


@pytest.fixture
async def livekit_server() -> AsyncIterator[FakeLiveKit]:
    fake = FakeLiveKit()
    await fake.start()
    yield fake
    await fake.aclose()


class CollectingSink:
    """An event sink (the pluggable sink protocol) that keeps every delivery."""

    def __init__(self) -> None:
        self.deliveries: list[Delivery] = []

    async def submit(self, delivery: Delivery) -> None:
        self.deliveries.append(delivery)

    async def flush(self, call_id: str | None = None, timeout: float = 30.0) -> None:  # noqa: ASYNC109
        return None

    async def aclose(self, timeout: float = 30.0) -> None:  # noqa: ASYNC109
        return None

    def messages(self, event_type: str) -> list[dict[str, Any]]:
        found = []
        for delivery in self.deliveries:
            if delivery.event_type == event_type:
                found.append(json.loads(parse_envelope(delivery.body).model_dump_json())["message"])
        return found


def assistant(**overrides: Any) -> dict[str, Any]:
    return {
        "name": "Telephony test",
        "stt_config": {"provider": "deepgram"},
        "llm_config": {"model": "gpt-4.1-mini"},
        "tts_config": {"provider": "elevenlabs", "voice_id": "sim-voice"},
        "autonomous_silence_handling": {"enabled": False},
        "max_duration_seconds": 120,
    } | overrides


@dataclass
class SimCall:
    call: LiveCall
    room: SimulatedCallRoom
    sink: CollectingSink
    phone: PhoneLine
    llm: OfflineLLM
    _lines: int = 0

    async def caller_says(self, text: str) -> None:
        line = CallerLine(line_id=self._lines, text=text, seconds=seconds_to_say(text))
        self._lines += 1
        await self.room.audio.caller.say(line)

    async def ended(self, timeout: float = 20.0) -> None:  # noqa: ASYNC109
        await asyncio.wait_for(self.call.wait_ended(), timeout)

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.call.finish()
        await self.room.aclose()


async def wait_for(predicate: Any, timeout: float = 15.0) -> None:  # noqa: ASYNC109
    """Until ``predicate()`` holds: the call record has no events to wait on, so poll it."""
    async with asyncio.timeout(timeout):
        while not predicate():  # noqa: ASYNC110 - polling plain data, there is no event
            await asyncio.sleep(0.05)


async def start_sim_call(
    dispatch: dict[str, Any],
    *,
    llm_replies: list[dict[str, Any]] | None = None,
    sip: SipGateway | None = None,
    clock: Clock | None = None,
    answering_machine: MachineDetector | None = None,
    start: bool = True,
    options: ParseOptions | None = None,
    caller: CallerParty | None = WEB_CALLER,
) -> SimCall:
    """A call in the simulated room with ``caller`` in it, audio up, from the start (the room
    reports them to the lifecycle, which binds them, as a LiveKit room would); live unless
    ``start`` is False."""
    spec = await parse_dispatch(
        dispatch, room_name="telephony-room", options=options or ParseOptions()
    )
    sink = CollectingSink()
    room = SimulatedCallRoom(SimulatedAudio.create(), caller=caller)
    offline_llm = OfflineLLM(llm_replies or [])
    call = assemble_call(
        spec,
        CallProviders(
            stt=OfflineSTT(),
            llm=offline_llm,
            tts=OfflineTTS(),
            vad=vad_for_call(spec.assistant.turn_config),
            answering_machine=answering_machine,
        ),
        CallIO(
            room=room, sink=sink, settings=WorkerSettings(), sip=sip, clock=clock or RealClock()
        ),
    )
    await call.join()
    if start:
        await call.start()
    return SimCall(call=call, room=room, sink=sink, phone=call.phone, llm=offline_llm)
