"""The simulated room's agent audio plays as long as it is, however late its task wakes.

Run on a sped-up loop (speed 8: a 20 ms frame is a 2.5 ms real wait, which epoll rounds up to
3 ms, so every frame woke 4 call ms late): a player that added each late wake-up to the audio
played these 2 s for 2.6 s (and a real-time call's agent ~5% long); the fix plays 2.00-2.02 s.
"""

from __future__ import annotations

import asyncio

from livekit import rtc

from agent.simulator.speed import call_time_base, run_at_speed
from agent.simulator.transport import PlayedSegment, PlayoutRecorder

SPEED = 8.0
FRAMES = 100  # 20 ms each: 2 s of audio


def _frame() -> rtc.AudioFrame:
    return rtc.AudioFrame(b"\0\0" * 480, 24_000, 1, 480)


async def _play_one_segment(pause_at_frame: int | None = None) -> tuple[PlayedSegment, float]:
    playout = PlayoutRecorder(time_base=call_time_base())
    finished = asyncio.Event()
    started_at: list[float] = []
    playout.on("playback_started", lambda ev: started_at.append(ev.created_at))
    playout.on("playback_finished", lambda _ev: finished.set())
    for _ in range(FRAMES):
        await playout.capture_frame(_frame())
    playout.flush()
    if pause_at_frame is not None:
        await asyncio.sleep(pause_at_frame * 0.02)
        playout.pause()
        await asyncio.sleep(0.5)  # half a second of pause, not counted as audio
        playout.resume()
    await asyncio.wait_for(finished.wait(), timeout=30)
    await playout.aclose()
    [segment] = playout.segments
    assert segment.first_frame_at is not None
    # playback_started is stamped when the first frame began, on the framework's clock
    clock = call_time_base()
    wall_minus_monotonic = clock.wall() - clock.monotonic()
    assert abs(started_at[0] - (segment.first_frame_at + wall_minus_monotonic)) < 0.05
    return segment, segment.first_frame_at


def test_queued_agent_audio_plays_for_its_own_length() -> None:
    async def main() -> float:
        segment, first = await _play_one_segment()
        assert segment.finished_at is not None
        assert segment.played_seconds == segment.captured_seconds
        return segment.finished_at - first

    played = run_at_speed(main, SPEED)
    captured = FRAMES * 0.02
    assert played >= captured - 1e-6  # never faster than the audio
    # at most one late wake-up on top (a few real ms x 8), never one per frame (+0.6 s)
    assert played < captured + 0.2, played


def test_a_pause_stops_the_clock_and_playback_picks_up_at_the_resume() -> None:
    async def main() -> float:
        segment, first = await _play_one_segment(pause_at_frame=40)
        assert segment.finished_at is not None
        return segment.finished_at - first

    played = run_at_speed(main, SPEED)
    captured = FRAMES * 0.02
    assert played >= captured + 0.5 - 0.05  # the pause is in the span...
    assert played < captured + 0.5 + 0.2, played  # ...and nothing else accumulated
