"""Call time (agent/simulator/speed.py): the sped-up loop's timers, the framework's clock reads
while it is open, real sockets on it, and the framework sources it was read off.

These measure the clock itself, so they sleep a little real time (tens of ms) and allow for a
busy machine in one direction only: a timer may be late, never early. They make their own
loops, so they run on the default test loop (never inside another call clock).
"""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path
from typing import Any

import livekit.agents
import pytest
from aiohttp import web

from agent.simulator import speed
from agent.simulator.speed import (
    CallClock,
    CallTimeLoop,
    call_time_base,
    framework_on,
    run_at_speed,
)

SPEED = 20.0


def test_call_time_runs_speed_times_faster_than_the_wall() -> None:
    clock = CallClock(SPEED)
    real0, call0, wall0 = time.monotonic(), clock.monotonic(), clock.wall()
    time.sleep(0.05)
    real = time.monotonic() - real0
    # 50 ms real at speed 20 -> 1 s of call time, on the monotonic and the epoch clock alike
    assert clock.monotonic() - call0 >= 0.05 * SPEED
    assert abs((clock.monotonic() - call0) - real * SPEED) < 0.05 * SPEED
    assert abs((clock.wall() - wall0) - (clock.monotonic() - call0)) < 0.01


def test_speed_one_reads_the_real_clocks() -> None:
    clock = CallClock(1)
    assert abs(clock.monotonic() - time.monotonic()) < 0.01
    assert abs(clock.wall() - time.time()) < 0.01


@pytest.mark.parametrize("bad", [0, -1, 1000])
def test_a_speed_out_of_range_is_refused(bad: float) -> None:
    with pytest.raises(ValueError, match="speed must be"):
        CallClock(bad)


def test_loop_timers_fire_at_call_time_in_a_fraction_of_the_wall() -> None:
    async def main() -> tuple[float, float, float]:
        loop = asyncio.get_running_loop()
        real0, call0 = time.monotonic(), loop.time()
        await asyncio.sleep(1.0)  # one call second = 50 real ms
        return loop.time() - call0, time.monotonic() - real0, call_time_base().monotonic()

    call, real, base_now = run_at_speed(main, SPEED)
    assert call >= 1.0  # never early
    assert real < 0.5  # well under the second it would take at real time
    assert base_now - time.monotonic() > 0.5  # the loop's time base is its call clock


def test_the_framework_reads_call_time_only_while_the_loop_is_open() -> None:
    from livekit.agents import llm
    from livekit.agents.voice import audio_recognition, events

    loop = CallTimeLoop(SPEED)
    try:
        time.sleep(0.05)  # call time is now ~1 s ahead of the wall
        framework_time: Any = vars(audio_recognition)["time"]  # the module's own `time`
        assert framework_time.time() - time.time() > 0.5
        assert framework_time.perf_counter() - time.perf_counter() > 0.5
        assert llm.ChatMessage(role="user", content=["hi"]).created_at - time.time() > 0.5
        state = events.AgentStateChangedEvent(old_state="idle", new_state="listening")
        assert state.created_at - time.time() > 0.5
        assert framework_time.sleep is time.sleep  # the rest is the real module
        assert call_time_base(loop) is loop.call_clock
    finally:
        loop.close()
    assert vars(audio_recognition)["time"] is time
    assert abs(llm.ChatMessage(role="user", content=["hi"]).created_at - time.time()) < 0.5


def test_one_call_clock_at_a_time() -> None:
    with framework_on(CallClock(SPEED)), pytest.raises(RuntimeError, match="already open"):
        CallTimeLoop(SPEED)
    CallTimeLoop(SPEED).close()  # the refused one left nothing behind


def test_another_framework_version_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(livekit.agents, "__version__", "9.9.9")
    with pytest.raises(RuntimeError, match=r"verified against livekit-agents"):
        CallTimeLoop(SPEED)
    monkeypatch.undo()
    CallTimeLoop(SPEED).close()


def test_real_sockets_work_on_the_sped_up_loop() -> None:
    async def main() -> tuple[int, str]:
        import aiohttp

        async def hello(request: web.Request) -> web.Response:
            await asyncio.sleep(0.5)  # a handler's own wait runs on call time too
            return web.Response(text="hi")

        app = web.Application()
        app.router.add_get("/", hello)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        try:
            async with (
                aiohttp.ClientSession() as session,
                session.get(
                    f"http://127.0.0.1:{port}/", timeout=aiohttp.ClientTimeout(total=5)
                ) as response,
            ):
                return response.status, await response.text()
        finally:
            await runner.cleanup()

    assert run_at_speed(main, SPEED) == (200, "hi")


def test_speed_one_is_the_default_loop() -> None:
    async def main() -> type:
        return type(asyncio.get_running_loop())

    assert not issubclass(run_at_speed(main, 1), CallTimeLoop)


# -- the framework sources the swap was read off --------------------------------------------------

_CAPTURED = re.compile(
    r"from time import|import time as|"
    r"(?:default_factory|=)\s*time\.(?:time|monotonic|perf_counter)(?:_ns)?\b(?!\()"
)
"""A clock bound at import: the module-global swap cannot reach it."""

KNOWN_CAPTURED = {
    # the chat items' and session events' created_at: swapped as model defaults
    "agents/llm/chat_context.py",
    "agents/voice/events.py",
    # not on a simulated call's path (adaptive interruption, realtime models, the CLI's
    # legacy console, translation, observability) or metrics only (voice/report.py)
    "agents/inference/interruption.py",
    "agents/llm/_realtime/gpt_live.py",
    "agents/llm/duplex_adapter.py",
    "agents/cli/_legacy.py",
    "agents/beta/translation/translation_session.py",
    "agents/observability.py",
    "agents/voice/report.py",
}


def test_every_clock_the_framework_binds_at_import_is_known() -> None:
    """livekit upgrades: a new captured clock must be read (and handled or listed) first."""
    agents = Path(livekit.agents.__file__).parent
    roots = [agents, agents.parent / "plugins"]
    found = set()
    for root in roots:
        for path in root.rglob("*.py"):
            if _CAPTURED.search(path.read_text(encoding="utf-8")):
                found.add(path.relative_to(agents.parent).as_posix())
    assert found <= KNOWN_CAPTURED, sorted(found - KNOWN_CAPTURED)
    assert livekit.agents.__version__ in speed.VERIFIED_LIVEKIT_AGENTS
