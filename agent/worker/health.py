"""Readiness and liveness for Kubernetes, which the framework's health port cannot express.

livekit-agents serves ``GET /`` on its health port (8081): it answers OK until the LiveKit
connection has finally failed, and it keeps answering OK while the worker drains. That is a
good liveness signal and a bad readiness signal: during a rollout or a node drain, a pod that
has been told to stop must stop counting as ready at once, while its calls run on for up to
``VOICE_AGENT_DRAIN_TIMEOUT_SECONDS``.

So the worker's main process also runs this small aiohttp server (``VOICE_AGENT_READY_PORT``,
8082) backed by a ``WorkerHealth`` state object that the worker updates:

- ``/livez``: 200 whenever the handler runs. The handler runs on the worker's event loop, so
  an answer proves the loop is responsive; a blocked loop times the probe out.
- ``/readyz``: 200 while the worker accepts calls, 503 before it has registered with LiveKit
  and from the moment it starts draining (SIGTERM). A worker that is merely at capacity stays
  ready (state ``at_capacity``): LiveKit already routes jobs away from a full worker through
  ``load_fnc``/``load_threshold``, and flipping readiness with the call count would churn the
  PodDisruptionBudget's count of healthy pods and stall rollouts for no gain.

Both answer with a JSON body (``HealthReport``) so an operator can read the state by hand.
"""

from __future__ import annotations

from enum import StrEnum

import structlog
from aiohttp import web
from pydantic import BaseModel

log = structlog.get_logger(__name__)


class WorkerState(StrEnum):
    """Where the worker is in its life, as readiness sees it."""

    STARTING = "starting"  # process up, not yet registered with LiveKit
    ACCEPTING = "accepting"  # registered, taking calls, below capacity
    AT_CAPACITY = "at_capacity"  # registered, every call slot busy (still ready, see module doc)
    DRAINING = "draining"  # told to stop: finishing calls, taking no new ones


class HealthReport(BaseModel):
    """The JSON body of ``/livez`` and ``/readyz``."""

    state: WorkerState
    ready: bool
    active_calls: int
    max_calls: int


class WorkerHealth:
    """What the worker tells the probes: registered, calls in progress, draining.

    Draining is one-way: once ``mark_draining()`` ran, nothing makes the worker ready again
    (``mark_accepting()`` after a drain started is ignored), because a pod that got SIGTERM
    never comes back into service. ``max_calls`` of 0 means "no per-pod limit configured",
    so the worker is never reported at capacity.
    """

    def __init__(self) -> None:
        self._registered = False
        self._draining = False
        self._active_calls = 0
        self._max_calls = 0

    def mark_accepting(self) -> None:
        """The worker registered with LiveKit and can be dispatched calls."""
        if self._draining:
            return
        self._registered = True

    def mark_draining(self) -> None:
        """The worker was told to stop: readiness fails from now on."""
        if not self._draining:
            log.info("health_draining", active_calls=self._active_calls)
        self._draining = True

    def set_active_calls(self, active: int, max_calls: int) -> None:
        """Record how many calls run now and how many this pod may run (0: no limit)."""
        if active < 0 or max_calls < 0:
            raise ValueError(f"call counts must be >= 0, got {active}/{max_calls}")
        self._active_calls = active
        self._max_calls = max_calls

    @property
    def draining(self) -> bool:
        return self._draining

    @property
    def state(self) -> WorkerState:
        if self._draining:
            return WorkerState.DRAINING
        if not self._registered:
            return WorkerState.STARTING
        if self._max_calls and self._active_calls >= self._max_calls:
            return WorkerState.AT_CAPACITY
        return WorkerState.ACCEPTING

    @property
    def ready(self) -> bool:
        return self.state in (WorkerState.ACCEPTING, WorkerState.AT_CAPACITY)

    def report(self) -> HealthReport:
        return HealthReport(
            state=self.state,
            ready=self.ready,
            active_calls=self._active_calls,
            max_calls=self._max_calls,
        )


class HealthServer:
    """The ``/livez`` + ``/readyz`` HTTP server on the worker's own event loop.

    ``port=0`` binds an ephemeral port (tests); ``bound_port`` tells which one.
    """

    def __init__(self, health: WorkerHealth, *, host: str = "0.0.0.0", port: int = 8082) -> None:  # noqa: S104 - kubelet probes come from outside the pod
        self._health = health
        self._host = host
        self._port = port
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None

    def _app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/livez", self._livez)
        app.router.add_get("/readyz", self._readyz)
        return app

    async def _livez(self, _: web.Request) -> web.Response:
        return self._json(self._health.report(), status=200)

    async def _readyz(self, _: web.Request) -> web.Response:
        report = self._health.report()
        return self._json(report, status=200 if report.ready else 503)

    @staticmethod
    def _json(report: HealthReport, *, status: int) -> web.Response:
        return web.Response(
            text=report.model_dump_json(), status=status, content_type="application/json"
        )

    async def start(self) -> None:
        if self._runner is not None:
            raise RuntimeError("health server already started")
        runner = web.AppRunner(self._app(), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, self._host, self._port)
        await site.start()
        self._runner, self._site = runner, site
        log.info("health_server_started", host=self._host, port=self.bound_port)

    @property
    def bound_port(self) -> int:
        """The port actually listened on (differs from the requested one when that was 0)."""
        if self._runner is None:
            raise RuntimeError("health server not started")
        for address in self._runner.addresses:
            return int(address[1])
        raise RuntimeError("health server has no listening socket")

    async def aclose(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        self._runner, self._site = None, None
