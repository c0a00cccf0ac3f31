"""What the whole suite shares: its tiers, the clock simulated calls run on, and fixtures.

Tiers (markers, registered in pyproject.toml):

- ``simulated_call``: the test runs whole simulated calls (the production call path, real
  silero VAD, webhooks over 127.0.0.1). Its event loop is a
  :class:`~agent.simulator.speed.CallTimeLoop`: the call runs ``VOICE_AGENT_TEST_SPEED`` times
  faster than real time (default 8; 1 runs it at real time) and states its times in call
  time, so the assertions are the ones a real-time call must pass.
- ``realtime``: the test measures or waits on real time (the bench, real job processes, a
  SIGKILLed process, sped-up calls checked against real-time ones). ``make test`` leaves
  these out; ``make test-realtime`` runs them (CI runs both).

The first sped-up loop of a process first runs one warm-up call
(:func:`tests.support.warm_up.warm_up`): a process's first call pays first-use imports and
client set-up, which a sped-up call would see ``speed`` times longer.

A test that configures logging (the CLI commands do, in-process) leaves it as it found it
(``_logging_as_it_was``): otherwise the module loggers it cached would keep writing to its
captured, closed stream and escape every later ``capture_logs``, in whichever process and
order the tests run.

Every test starts from the same environment (``_known_environment``): no job-process model
preloading, no operator webhook secret from the developer's shell, and an outbox of its own
(``VOICE_AGENT_OUTBOX_DIR``), so tests in parallel processes (``make test`` runs two) never
share one. Everything else a test needs it sets with ``monkeypatch`` and ``tmp_path``, servers
listen on port 0, and a subprocess gets its own copy of the environment.

Fixtures: real servers on 127.0.0.1 (webhook receiver, tool server, the offline LiveKit
server API). A test module that needs a differently scripted one defines its own fixture of
the same name, which takes precedence.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections.abc import Callable, Iterator, Mapping

import pytest
import structlog

from tests.support.receiver import receiver
from tests.support.telephony import livekit_server
from tests.support.tool_server import server

__all__ = ["livekit_server", "receiver", "server"]

SPEED_ENV = "VOICE_AGENT_TEST_SPEED"
DEFAULT_SPEED = 8.0
SIMULATED_CALL_MARKERS = ("simulated_call",)


@pytest.fixture(autouse=True)
def _known_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    monkeypatch.setenv("LIVEKIT_AGENTS_PRELOAD_LOCAL_INFERENCE", "0")
    monkeypatch.delenv("VOICE_AGENT_WEBHOOK_SECRET", raising=False)
    monkeypatch.setenv("VOICE_AGENT_OUTBOX_DIR", str(tmp_path_factory.mktemp("outbox")))


_LAZY_LOGGER = type(structlog.get_logger("tests"))


@pytest.fixture(autouse=True)
def _logging_as_it_was() -> Iterator[None]:
    saved = structlog.get_config()
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    if structlog.get_config()["processors"] is saved["processors"]:
        return  # not reconfigured
    structlog.configure(**saved)
    root.handlers[:] = handlers
    root.setLevel(level)
    # Loggers first used under the test's configuration cached it: make them lazy again.
    for module in list(sys.modules.values()):
        if module is None or not module.__name__.startswith(("agent.", "tests.")):
            continue
        for value in list(vars(module).values()):
            if isinstance(value, _LAZY_LOGGER):
                vars(value).pop("bind", None)


def suite_speed() -> float:
    """How much faster than real time ``simulated_call`` tests run (1: real time)."""
    return float(os.environ.get(SPEED_ENV) or DEFAULT_SPEED)


_warmed_up = False


def _call_time_loop(speed: float) -> asyncio.AbstractEventLoop:
    global _warmed_up
    from agent.simulator.speed import CallTimeLoop

    if not _warmed_up:
        from tests.support.warm_up import warm_up

        _warmed_up = True
        warm_up(speed)
    return CallTimeLoop(speed)


def pytest_asyncio_loop_factories(
    config: pytest.Config, item: pytest.Item
) -> Mapping[str, Callable[[], asyncio.AbstractEventLoop]]:
    speed = suite_speed()
    simulated = any(item.get_closest_marker(name) for name in SIMULATED_CALL_MARKERS)
    if simulated and speed != 1 and not item.get_closest_marker("realtime"):
        return {"call_time": lambda: _call_time_loop(speed)}
    return {"asyncio": asyncio.new_event_loop}


def pytest_report_header(config: pytest.Config) -> str:
    speed = suite_speed()
    return f"simulated calls: {'real time' if speed == 1 else f'{speed:g}x real time'}"
