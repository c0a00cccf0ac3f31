"""Simulated calls N times faster than real time, with every time stated in call time.

A simulated call spends nearly all its wall time waiting: for the caller's audio to "happen"
(20 ms frames at the wall's pace), for the configured vendor latencies, for VAD silence and
endpointing, for silence prompts. Its CPU cost is a few percent of one core. Run on a clock
that goes ``speed`` times faster than the wall, the call keeps every one of those waits and
every ratio between them, so it does what it would do at real time in ``1/speed`` of the wall
time, and its report states call time (a 15 s call still says 15 s), never wall time.

Call time is real time since an anchor, multiplied:

    call_now = anchor + (real_now - anchor) * speed       # 2 real s at speed 8 -> 16 call s

What reads it:

- :class:`CallTimeLoop`, the event loop: ``loop.time()`` is call time, and the selector's
  timeout (the loop's "sleep until the next timer", in loop seconds) is divided by ``speed``
  before it reaches epoll, so ``call_later(0.5)`` fires after 0.5 call s = 62.5 real ms at
  speed 8. Every ``asyncio.sleep``, ``wait_for`` and ``call_later`` follows it: our lifecycle's
  ``RealClock`` (silence prompts, max duration, the goodbye backstop), the framework's timers,
  aiohttp's timeouts, the webhook sink's retry waits. Sockets still work: the selector reports
  I/O the moment it happens, it only waits less.
- The call's own stamps: the simulator hands the composition root this clock as the call's
  :class:`~agent.clock.TimeBase` (``CallIO.time_base``: the record, the lifecycle's start and
  end, the tools' figures), and its own pieces (the simulated room's audio, the scripted
  caller, the offline vendors) take it as an input too.
- The framework's own clock reads, which nothing can pass in. livekit-agents stamps and
  measures with ``time.time()`` / ``time.perf_counter()`` / ``time.monotonic()`` (the
  endpointing delay left after the last speech, the transcript synchronizer's pacing,
  ``started_speaking_at`` on chat items, the metrics). While a :class:`CallTimeLoop` is open,
  every loaded ``livekit.agents.*`` / ``livekit.plugins.*`` module's ``time`` global is a
  stand-in whose clocks read call time (everything else is the real ``time`` module), and the
  pydantic models whose ``created_at`` defaults to the real ``time.time`` (chat items, session
  events) default to call time. Closing the loop restores all of it. Nothing else sees call
  time: logging, threads, aiohttp, webhook signatures and envelope timestamps keep the wall.

That swap is read off livekit-agents 1.8.9 (``VERIFIED_LIVEKIT_AGENTS``): every framework
module imports the module (``import time``), none binds ``from time import ...``, and the only
clock captured at import that decides anything is the models' ``created_at`` default. Another
version is refused until it has been read again (tests/simulator/test_speed.py checks the
installed sources for new captured clocks).

At ``speed`` 1 nothing here runs: the default loop, the real clocks.

Limits: CPU work is not sped up, so in call time it costs ``speed`` times more (0.23 ms of
VAD inference takes 1.8 call ms at speed 8; a 300 ms stall takes 2.4 call s), and so does
real I/O with a peer outside this loop. A speed the machine cannot keep up with shows up as
audio falling behind the call clock (turns merge), and silero's "inference is slower than
realtime" warning then means "lower the speed". On 2 cores, 8 is comfortable.
"""

from __future__ import annotations

import asyncio
import selectors
import sys
import time
import types
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from importlib import import_module
from typing import Any, TypeVar

import structlog

from agent.clock import REAL_TIME, TimeBase

T = TypeVar("T")
log = structlog.get_logger(__name__)

_REAL_MONOTONIC = time.monotonic
_REAL_PERF_COUNTER = time.perf_counter
_REAL_TIME = time.time

VERIFIED_LIVEKIT_AGENTS = ("1.8.9",)
"""The livekit-agents versions whose clock reads this module was checked against."""
PATCHED_PACKAGES = ("livekit.agents", "livekit.plugins")
"""Whose modules' ``time`` global reads call time while a sped-up call runs."""
_PRELOAD = (
    "livekit.agents.voice",
    "livekit.agents.voice.transcription.synchronizer",
    "livekit.agents.voice.tool_executor",
    "livekit.plugins.silero",
)
"""Imported before the swap: a module first imported during the call would keep the real
clock (logged as ``call_time_modules_missed``)."""

MAX_SPEED = 32.0
"""Above this the loop cannot keep up on any machine we run (see the module docstring)."""


class CallClock:
    """Call time: the wall's pace times ``speed``, from the moment this clock was made.

    A :class:`~agent.clock.TimeBase` (``monotonic``, ``wall``); at speed 1 it reads the real
    clocks unchanged."""

    def __init__(self, speed: float) -> None:
        if not 0 < speed <= MAX_SPEED:
            raise ValueError(f"speed must be above 0 and at most {MAX_SPEED:g}")
        self.speed = speed
        self._monotonic0 = _REAL_MONOTONIC()
        self._perf0 = _REAL_PERF_COUNTER()
        self._wall0 = _REAL_TIME()

    def monotonic(self) -> float:
        if self.speed == 1:
            return _REAL_MONOTONIC()
        return self._monotonic0 + (_REAL_MONOTONIC() - self._monotonic0) * self.speed

    def perf_counter(self) -> float:
        if self.speed == 1:
            return _REAL_PERF_COUNTER()
        return self._perf0 + (_REAL_PERF_COUNTER() - self._perf0) * self.speed

    def wall(self) -> float:
        if self.speed == 1:
            return _REAL_TIME()
        # from the monotonic clock, not the wall: an NTP step must not jump call time
        return self._wall0 + (_REAL_MONOTONIC() - self._monotonic0) * self.speed


class _CallTimeSelector(selectors.DefaultSelector):
    """The loop's selector, waiting ``1/speed`` of what the loop asks (loop seconds are call
    seconds). epoll rounds the wait up to the millisecond, so a timer is never early and at
    most 1 real ms (``speed`` call ms) late."""

    def __init__(self, speed: float) -> None:
        super().__init__()
        self._speed = speed

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        if timeout is not None and timeout > 0:
            timeout /= self._speed
        result: list[tuple[selectors.SelectorKey, int]] = super().select(timeout)
        return result


class CallTimeLoop(asyncio.SelectorEventLoop):
    """An event loop on a :class:`CallClock`: its timers, and the framework's clock reads
    while it is open (see the module docstring). One per process at a time."""

    def __init__(self, speed: float) -> None:
        self.call_clock = CallClock(speed)
        self._restore: Callable[[], None] | None = None
        super().__init__(_CallTimeSelector(speed))
        try:
            self._restore = _swap_framework_clocks(self.call_clock)
        except BaseException:
            super().close()
            raise

    def time(self) -> float:
        return self.call_clock.monotonic()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._unswap()

    def _unswap(self) -> None:
        restore, self._restore = self._restore, None
        if restore is not None:
            restore()


def call_time_base(loop: asyncio.AbstractEventLoop | None = None) -> TimeBase:
    """The time base of calls on ``loop`` (default: the running one): its call clock when it
    is a :class:`CallTimeLoop`, else the real clocks."""
    if loop is None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return REAL_TIME
    return loop.call_clock if isinstance(loop, CallTimeLoop) else REAL_TIME


def run_at_speed(main: Callable[[], Coroutine[Any, Any, T]], speed: float) -> T:
    """``asyncio.run(main())``, on call time ``speed`` times faster than real time."""
    if speed == 1:
        return asyncio.run(main())
    with asyncio.Runner(loop_factory=lambda: CallTimeLoop(speed)) as runner:
        return runner.run(main())


# -- the framework's clock reads ----------------------------------------------------------------


class _CallTimeModule(types.ModuleType):
    """Stands in for ``time`` in a module's globals: call time for the clocks the framework
    reads, the real module for everything else (``sleep``, ``strftime``...)."""

    def __init__(self, clock: CallClock) -> None:
        super().__init__("time")
        self.monotonic = clock.monotonic
        self.perf_counter = clock.perf_counter
        self.time = clock.wall
        self.monotonic_ns = lambda: int(clock.monotonic() * 1e9)
        self.perf_counter_ns = lambda: int(clock.perf_counter() * 1e9)
        self.time_ns = lambda: int(clock.wall() * 1e9)

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


_active: CallClock | None = None


def _framework_modules() -> list[types.ModuleType]:
    """Loaded framework modules whose ``time`` global is the real module."""
    prefixes = tuple(f"{package}." for package in PATCHED_PACKAGES)
    return [
        module
        for name, module in list(sys.modules.items())
        if module is not None
        and (name in PATCHED_PACKAGES or name.startswith(prefixes))
        and getattr(module, "time", None) is time
    ]


def _models_stamped_at_import(modules: list[types.ModuleType]) -> list[Any]:
    """The framework's pydantic models with a field defaulting to the real ``time.time``,
    captured when the class was made (``Field(default_factory=time.time)``)."""
    from pydantic import BaseModel

    found: dict[int, Any] = {}
    for module in modules:
        for value in list(vars(module).values()):
            if (
                isinstance(value, type)
                and issubclass(value, BaseModel)
                and value.__module__ == module.__name__
                and any(f.default_factory is _REAL_TIME for f in value.model_fields.values())
            ):
                found[id(value)] = value
    return list(found.values())


def _set_stamp_default(
    models: list[Any], old: Callable[[], float], new: Callable[[], float]
) -> None:
    for model in models:
        for info in model.model_fields.values():
            if info.default_factory is old:
                info.default_factory = new
        model.model_rebuild(force=True)  # the compiled validator holds the factory


def _check_version() -> None:
    from livekit.agents import __version__

    if __version__ not in VERIFIED_LIVEKIT_AGENTS:
        raise RuntimeError(
            f"sped-up calls are verified against livekit-agents {VERIFIED_LIVEKIT_AGENTS}, "
            f"not {__version__}: re-read its clock reads (agent/simulator/speed.py) first"
        )


def _swap_framework_clocks(clock: CallClock) -> Callable[[], None]:
    """Point the framework's clock reads at ``clock``; returns the undo."""
    global _active
    if _active is not None:
        raise RuntimeError("a sped-up call clock is already open in this process")
    _check_version()
    for name in _PRELOAD:
        import_module(name)
    stand_in = _CallTimeModule(clock)
    patched = _framework_modules()
    models = _models_stamped_at_import(patched)
    stamp = clock.wall  # one bound method: restore() finds the defaults by identity
    _active = clock
    for module in patched:
        module.time = stand_in  # type: ignore[attr-defined]
    _set_stamp_default(models, _REAL_TIME, stamp)

    def restore() -> None:
        global _active
        late = [m.__name__ for m in _framework_modules() if m not in patched]
        if late:  # imported during the call: they read the real clock (add them to _PRELOAD)
            log.warning("call_time_modules_missed", modules=late)
        for module in patched:
            module.time = time  # type: ignore[attr-defined]
        _set_stamp_default(models, stamp, _REAL_TIME)
        _active = None

    return restore


@contextmanager
def framework_on(clock: CallClock) -> Iterator[None]:
    """The framework's clock reads on ``clock`` for the block (what a :class:`CallTimeLoop`
    holds while open); for tests of the swap itself."""
    restore = _swap_framework_clocks(clock)
    try:
        yield
    finally:
        restore()
