"""The probe server over real HTTP on 127.0.0.1: readiness follows the worker's life."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from agent.worker.health import HealthServer, WorkerHealth, WorkerState


@pytest.fixture
async def served() -> AsyncIterator[tuple[WorkerHealth, str]]:
    health = WorkerHealth()
    server = HealthServer(health, host="127.0.0.1", port=0)
    await server.start()
    try:
        yield health, f"http://127.0.0.1:{server.bound_port}"
    finally:
        await server.aclose()


async def _get(url: str) -> tuple[int, dict[str, Any]]:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        body: dict[str, Any] = await response.json()
        return response.status, body


async def test_not_ready_until_registered(served: tuple[WorkerHealth, str]) -> None:
    _, base = served
    status, body = await _get(f"{base}/readyz")
    assert status == 503
    assert body["state"] == "starting"
    assert body["ready"] is False


async def test_readiness_flips_to_503_on_drain(served: tuple[WorkerHealth, str]) -> None:
    health, base = served
    health.mark_accepting()
    health.set_active_calls(2, 8)

    status, body = await _get(f"{base}/readyz")
    assert (status, body["state"], body["active_calls"], body["max_calls"]) == (
        200,
        "accepting",
        2,
        8,
    )

    health.mark_draining()
    status, body = await _get(f"{base}/readyz")
    assert status == 503
    assert body == {"state": "draining", "ready": False, "active_calls": 2, "max_calls": 8}


async def test_liveness_stays_up_while_draining(served: tuple[WorkerHealth, str]) -> None:
    health, base = served
    health.mark_accepting()
    health.mark_draining()
    status, body = await _get(f"{base}/livez")
    assert status == 200
    assert body["state"] == "draining"


async def test_at_capacity_is_still_ready(served: tuple[WorkerHealth, str]) -> None:
    health, base = served
    health.mark_accepting()
    health.set_active_calls(8, 8)
    status, body = await _get(f"{base}/readyz")
    assert status == 200
    assert body["state"] == "at_capacity"


def test_drain_is_one_way() -> None:
    health = WorkerHealth()
    health.mark_draining()
    health.mark_accepting()
    assert health.state is WorkerState.DRAINING
    assert not health.ready


def test_no_limit_never_reports_capacity() -> None:
    health = WorkerHealth()
    health.mark_accepting()
    health.set_active_calls(50, 0)
    assert health.state is WorkerState.ACCEPTING


def test_negative_counts_are_refused() -> None:
    with pytest.raises(ValueError, match=">= 0"):
        WorkerHealth().set_active_calls(-1, 4)
