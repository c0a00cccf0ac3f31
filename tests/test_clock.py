"""The clocks the lifecycle's timers run on: ordering, chaining, cancelling."""

from __future__ import annotations

import asyncio

import pytest

from agent.clock import RealClock, VirtualClock


def test_timers_fire_in_due_order_with_ties_in_scheduling_order() -> None:
    clock = VirtualClock()
    fired: list[tuple[str, float]] = []
    clock.call_later(2.0, lambda: fired.append(("b", clock.now())))
    clock.call_later(1.0, lambda: fired.append(("a", clock.now())))
    clock.call_later(2.0, lambda: fired.append(("c", clock.now())))
    clock.advance(5.0)
    assert fired == [("a", 1.0), ("b", 2.0), ("c", 2.0)]
    assert clock.now() == 5.0


def test_advance_runs_timers_scheduled_by_callbacks_inside_the_window() -> None:
    clock = VirtualClock()
    fired: list[float] = []

    def prompt() -> None:
        fired.append(clock.now())
        if len(fired) < 3:
            clock.call_later(7.5, prompt)  # next prompt 7.5 s after this one

    clock.call_later(7.5, prompt)
    clock.advance(20.0)
    assert fired == [7.5, 15.0]
    clock.advance(2.5)
    assert fired == [7.5, 15.0, 22.5]


def test_timer_due_exactly_at_the_end_of_the_window_runs() -> None:
    clock = VirtualClock()
    fired: list[float] = []
    clock.call_later(7.5, lambda: fired.append(clock.now()))
    clock.advance(7.4999)
    assert fired == []
    clock.advance(0.0001)
    assert fired == [pytest.approx(7.5)]


def test_cancelled_timer_never_runs() -> None:
    clock = VirtualClock()
    fired: list[str] = []
    handle = clock.call_later(1.0, lambda: fired.append("x"))
    clock.call_later(2.0, lambda: fired.append("y"))
    handle.cancel()
    assert clock.pending == 1
    clock.run_until_idle()
    assert fired == ["y"]
    assert clock.now() == 2.0
    assert clock.next_due() is None


def test_a_callback_may_cancel_a_later_timer_in_the_same_window() -> None:
    clock = VirtualClock()
    fired: list[str] = []
    later = clock.call_later(3.0, lambda: fired.append("later"))
    clock.call_later(1.0, later.cancel)
    clock.advance(10.0)
    assert fired == []


def test_run_until_idle_refuses_a_timer_that_re_arms_forever() -> None:
    clock = VirtualClock()

    def again() -> None:
        clock.call_later(1.0, again)

    clock.call_later(1.0, again)
    with pytest.raises(RuntimeError, match="timer loop"):
        clock.run_until_idle(max_callbacks=50)


def test_advance_cannot_be_reentered_or_go_backwards() -> None:
    clock = VirtualClock()
    clock.call_later(1.0, lambda: clock.advance(1.0))
    with pytest.raises(RuntimeError, match="inside a timer callback"):
        clock.advance(2.0)
    with pytest.raises(ValueError, match="backwards"):
        clock.advance(-1.0)


async def test_virtual_clock_works_inside_an_async_test() -> None:
    clock = VirtualClock(start=100.0)
    done = asyncio.get_running_loop().create_future()
    clock.call_later(30.0, lambda: done.set_result(clock.now()))
    clock.advance(30.0)
    assert await done == 130.0


async def test_real_clock_runs_callbacks_on_the_running_loop() -> None:
    clock = RealClock()
    fired: list[str] = []
    last = asyncio.Event()
    before = clock.now()
    # zero delays: the loop runs them on its next turn, nothing waits on wall time
    clock.call_later(0.0, lambda: fired.append("kept"))
    clock.call_later(0.0, lambda: fired.append("cancelled")).cancel()
    clock.call_later(0.0, last.set)
    await last.wait()
    assert fired == ["kept"]
    assert clock.now() >= before


def test_real_clock_now_is_monotonic_without_a_loop() -> None:
    clock = RealClock()
    assert clock.now() <= clock.now()
    with pytest.raises(RuntimeError):
        clock.call_later(1.0, lambda: None)
