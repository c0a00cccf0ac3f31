"""CPU of a call's room audio path, as RoomIO runs it, without a server: ``python -m
agent.bench.room_audio``.

The level bench's simulated room hands audio frames straight to the session; a real call's
audio also goes through livekit-rtc's native frame I/O and resamplers, which the worker pays
per call. They run without a LiveKit server: an ``rtc.AudioSource`` drains its native queue in
real time with no room, and ``rtc.AudioStream.from_track`` accepts a *local* track, so
source -> LocalAudioTrack -> AudioStream exercises the FFI's frame I/O and resampling as a
subscribed track does, minus Opus, the jitter buffer and the network (not measured here).

Per call, concurrently, in real time:

- caller -> agent: 10 ms frames at 48 kHz (what the Opus decoder hands the FFI) into an
  AudioSource, a LocalAudioTrack on it, ``AudioStream.from_track(sample_rate=24000, mono)``
  (RoomIO's input, voice/room_io/_input.py), and every 24 kHz frame through the two
  resamplers a session adds: silero's 24k->16k QUICK and the STT's 24k->16k HIGH;
- agent -> caller, ``--speak`` of the time: 22.05 kHz TTS frames (ElevenLabs' default
  output) through the generation's resampler to 24 kHz, 50 ms chunks
  (``AudioByteStream``) and ``AudioSource(24000, queue_size_ms=200).capture_frame``
  (RoomIO's output, voice/room_io/_output.py).

CPU = ``time.process_time()`` (every thread, the FFI's native ones too) over the run, minus an
idle stretch of the same process (scaled to the run's length) and minus a run of the stand-in
caller's source alone (production's decoder replaces it), per call-second. All the calls' rooms
run in this one process, which falls behind beyond ~16 of them (``kept_up`` false; the ramp
stops measuring there): production runs each call's room in its own job process. Prints one JSON
line (:class:`RoomAudioFigures`). Every handle is closed before ``os._exit``: livekit-ffi can
panic in interpreter teardown, which would read as a failed run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time

import numpy as np
from livekit import rtc
from livekit.agents import utils

from .figures import RoomAudioFigures

IDLE_SECONDS = 3.0
REAL_TIME_FRAMES = 95.0
"""Input frames a call-second must deliver to count as real time (10 ms frames: 100)."""
CYCLE_SECONDS = 2.0
"""The agent speaks ``speak`` of every such cycle and is silent for the rest."""


def _tone(rate: int, ms: int, hz: float) -> rtc.AudioFrame:
    n = rate * ms // 1000
    t = np.arange(n) / rate
    pcm = (0.2 * 32767 * np.sin(2 * np.pi * hz * t)).astype(np.int16)
    return rtc.AudioFrame(pcm.tobytes(), rate, 1, n)


async def _caller_source_only(seconds: float) -> None:
    """The stand-in caller's own part: frames into a source whose track nobody reads."""
    source = rtc.AudioSource(48000, 1, queue_size_ms=200)
    track = rtc.LocalAudioTrack.create_audio_track("caller", source)
    frame = _tone(48000, 10, 220.0)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        await source.capture_frame(frame)
    del track
    await source.aclose()


async def _caller_to_agent(seconds: float, counts: dict[str, int]) -> None:
    source = rtc.AudioSource(48000, 1, queue_size_ms=200)
    track = rtc.LocalAudioTrack.create_audio_track("caller", source)
    stream = rtc.AudioStream.from_track(track=track, sample_rate=24000, num_channels=1)
    to_vad = rtc.AudioResampler(24000, 16000, quality=rtc.AudioResamplerQuality.QUICK)
    to_stt = rtc.AudioResampler(24000, 16000, quality=rtc.AudioResamplerQuality.HIGH)
    frame = _tone(48000, 10, 220.0)

    async def read() -> None:
        async for event in stream:
            counts["in"] += 1
            to_vad.push(event.frame)
            to_stt.push(event.frame)

    reader = asyncio.create_task(read())
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        await source.capture_frame(frame)  # paced by the 200 ms queue: real time
    await asyncio.sleep(0.1)
    reader.cancel()
    await asyncio.gather(reader, return_exceptions=True)
    await stream.aclose()
    await source.aclose()


async def _agent_to_caller(seconds: float, speak: float, counts: dict[str, int]) -> None:
    source = rtc.AudioSource(24000, 1, queue_size_ms=200)
    chunks = utils.audio.AudioByteStream(24000, 1, samples_per_channel=24000 // 20)
    resampler = rtc.AudioResampler(22050, 24000, num_channels=1)
    tts_frame = _tone(22050, 20, 180.0)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        talk_until = time.monotonic() + CYCLE_SECONDS * speak
        while time.monotonic() < min(talk_until, end):
            for frame in resampler.push(tts_frame):
                for chunk in chunks.push(frame.data):
                    await source.capture_frame(chunk)  # waits while 200 ms are queued
                    counts["out"] += 1
        await asyncio.sleep(max(0.0, min(CYCLE_SECONDS * (1 - speak), end - time.monotonic())))
    await source.aclose()


async def measure(calls: int, seconds: float, speak: float) -> RoomAudioFigures:
    load_before = [round(x, 2) for x in os.getloadavg()]
    counts = {"in": 0, "out": 0}
    cpu0 = time.process_time()
    await asyncio.sleep(IDLE_SECONDS)
    idle_per_second = (time.process_time() - cpu0) / IDLE_SECONDS
    # the stand-in caller's source alone (production's Opus decoder replaces it): subtracted
    cpu0 = time.process_time()
    await asyncio.gather(*(_caller_source_only(seconds) for _ in range(calls)))
    stand_in = time.process_time() - cpu0 - idle_per_second * seconds
    cpu0 = time.process_time()
    jobs = [_caller_to_agent(seconds, counts) for _ in range(calls)]
    if speak > 0:
        jobs += [_agent_to_caller(seconds, speak, counts) for _ in range(calls)]
    await asyncio.gather(*jobs)
    net = time.process_time() - cpu0 - idle_per_second * seconds - stand_in
    call_seconds = calls * seconds
    return RoomAudioFigures(
        calls=calls,
        seconds=seconds,
        agent_speaks=speak,
        room_audio_cpu_ms_per_call_second=round(net * 1000 / call_seconds, 1),
        stand_in_source_cpu_ms_per_call_second=round(stand_in * 1000 / call_seconds, 1),
        in_frames_per_call_second=round(counts["in"] / call_seconds, 1),
        kept_up=counts["in"] / call_seconds >= REAL_TIME_FRAMES,
        out_chunks_per_call_second=round(counts["out"] / call_seconds, 1),
        loadavg_before=load_before,
        loadavg_after=[round(x, 2) for x in os.getloadavg()],
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m agent.bench.room_audio")
    parser.add_argument("--calls", type=int, required=True)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--speak", type=float, default=0.4, help="share the agent speaks")
    args = parser.parse_args(argv)
    figures = asyncio.run(measure(args.calls, args.seconds, args.speak))
    print(figures.model_dump_json(), flush=True)
    os._exit(0)  # every handle is closed; skip livekit-ffi's teardown


if __name__ == "__main__":
    raise SystemExit(main())
