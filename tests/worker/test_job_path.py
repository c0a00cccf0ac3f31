"""The production job path, driven through the real worker: `build_server` -> a fake job.

`agent.worker.main.build_server` builds the framework's `AgentServer` with our `entrypoint`
(`agent.worker.job.run_job`) and `on_session_end` (`agent.worker.job.report_call`); the server runs
unregistered (no LiveKit server) and each call is a job the framework runs in its own job
process (forkserver, prewarm included), in the framework's mock room. The job carries the
dispatch document in its dispatch metadata, exactly as `AgentServer` launches a dispatched job
(`_proc_pool.launch_job(RunningJobInfo)`); `simulate_job` cannot set dispatch metadata, and
its `room_info` metadata never reaches `ctx.room.metadata` (the mock room's is always "").

Boundaries, and why:
- Vendors: every vendor URL (OpenAI, Deepgram, ElevenLabs) points at a 127.0.0.1 stand-in
  that accepts websockets and answers nothing. Found here: a session start connects to vendors
  even when the assistant waits for the caller and no audio flows (Deepgram opens its
  streaming websocket, ElevenLabs prewarms its websocket, the OpenAI plugin GETs `/models`),
  so without the stand-in a fake job would reach the internet. The LLM is never called.
- The room: the mock room is a `create_autospec(rtc.Room)`; its `on(...)` registers nothing,
  so no participant ever leaves or speaks and the room never disconnects. A call therefore
  ends through the lifecycle's own silence timeout (1 s, no prompts, no goodbye: the real
  timer in real time; the test waits for the report, never for the timer) or through the
  worker shutting down. `ctx.delete_room()` is a logged no-op in a fake job.
- Job processes fork from one forkserver, which keeps the environment it started with: each
  test restarts it so the job processes read this test's WorkerSettings from the environment.

Reports go to a real 127.0.0.1 receiver that checks every signature with the seed verifier.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import multiprocessing.forkserver
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from livekit.agents import AgentServer
from livekit.agents.job import JobAcceptArguments, RunningJobInfo
from livekit.protocol import agent, models

from agent.delivery.outbox import Outbox
from agent.devtools.vendors import SilentVendors
from agent.worker.ledger import CallLedger, report_delivery_id
from agent.worker.load import CallLoad
from agent.worker.main import build_server
from agent.worker.settings import WorkerSettings
from tests.support.receiver import SECRET, Received, Receiver

pytestmark = pytest.mark.realtime  # real job processes (forkserver), real time

CALL_ID = "call-job-path"
ROOM = "room-job-path"
WAIT = 90.0
"""Upper bound on any wait (a hung test fails instead of blocking); never a timing claim."""


# ---- the vendor boundary (agent/devtools/vendors.py) and the receiver -----------------------


class WatchedReceiver(Receiver):
    """The seed-verifying receiver, with a way to wait for what it has received."""

    def __init__(self) -> None:
        super().__init__()
        self._changed = asyncio.Condition()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        response = await super()._handle(request)
        async with self._changed:
            self._changed.notify_all()
        return response

    async def wait_for(self, predicate: Callable[[list[Received]], bool]) -> None:
        async with self._changed:
            await self._changed.wait_for(lambda: predicate(self.received))


def sent(received: list[Received]) -> list[tuple[str, str]]:
    """(event type, status or end reason) of every delivery, in arrival order."""
    out = []
    for r in received:
        message = json.loads(r.body)["message"]
        kind = r.headers.get("X-Webhook-Event", "")
        out.append((kind, str(message.get("status") or message.get("end_reason"))))
    return out


def reports(received: list[Received]) -> list[Received]:
    return [r for r in received if r.headers.get("X-Webhook-Event") == "end-of-call-report"]


def went_live(received: list[Received]) -> bool:
    return ("status-update", "in-progress") in sent(received)


# ---- the worker ------------------------------------------------------------------------------


def restart_forkserver() -> None:
    """Stop the forkserver: the next job process starts a new one with today's environment."""
    forkserver: Any = multiprocessing.forkserver
    forkserver._forkserver._stop()


@dataclass
class RunningWorker:
    server: AgentServer
    settings: WorkerSettings
    closed: dict[str, int | None] = field(default_factory=dict)
    """Job id -> exit code of its job process, once the process has closed (None for a job
    thread, which has none)."""
    _seen: defaultdict[str, asyncio.Event] = field(
        default_factory=lambda: defaultdict(asyncio.Event)
    )

    async def dispatch(self, job_id: str, document: str) -> None:
        """What AgentServer does with an accepted dispatch, minus the server: a fake job."""
        job = agent.Job(
            id=job_id,
            metadata=document,
            room=models.Room(name=ROOM),
            type=agent.JobType.JT_ROOM,
        )
        await self.server._proc_pool.launch_job(
            RunningJobInfo(
                accept_arguments=JobAcceptArguments(name="", identity="agent-1", metadata=""),
                job=job,
                url=self.settings.livekit_url,
                token="",
                worker_id=self.server.id,
                fake_job=True,
            )
        )

    async def job_closed(self, job_id: str) -> int | None:
        """Waits for the job's process to close; its exit code."""
        await self._seen[job_id].wait()
        return self.closed[job_id]

    def on_process_closed(self, proc: Any) -> None:
        if proc.running_job is not None:
            job_id = proc.running_job.job.id
            self.closed[job_id] = getattr(proc, "exitcode", None)
            self._seen[job_id].set()


@pytest.fixture
async def receiver() -> AsyncIterator[WatchedReceiver]:
    r = WatchedReceiver()
    await r.start()
    yield r
    await r.stop()


@pytest.fixture
async def vendors() -> AsyncIterator[SilentVendors]:
    v = SilentVendors()
    await v.start()
    yield v
    await v.stop()


@pytest.fixture
def executor() -> str:
    """VOICE_AGENT_EXECUTOR; the tests run by both executors parametrize it."""
    return "process"


@pytest.fixture
def worker_env(
    tmp_path: Path, vendors: SilentVendors, executor: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    """The worker's settings, as an operator sets them: environment variables."""
    env = {
        "VOICE_AGENT_EXECUTOR": executor,
        # Never dialled (the server runs unregistered); AgentServer.run() writes these three
        # into os.environ, so they are set here to be restored after the test.
        "LIVEKIT_URL": "ws://127.0.0.1:9",
        "LIVEKIT_API_KEY": "devkey",
        "LIVEKIT_API_SECRET": "secret",
        "VOICE_AGENT_OUTBOX_DIR": str(tmp_path / "outbox"),
        "VOICE_AGENT_ALLOWED_TARGETS": "127.0.0.0/8",
        "VOICE_AGENT_HEALTH_PORT": "0",
        "VOICE_AGENT_PROMETHEUS_PORT": "0",
        "VOICE_AGENT_SECRETS_DIR": str(tmp_path / "secrets"),
        "VOICE_AGENT_MAX_CALL_SECONDS": "600",
        "VOICE_AGENT_DRAIN_TIMEOUT_SECONDS": "960",
        **vendors.environment(),
        "LIVEKIT_AGENTS_PRELOAD_LOCAL_INFERENCE": "0",  # no 244 MB end-of-turn weights
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    restart_forkserver()
    yield
    restart_forkserver()  # later tests' job processes get their own environment


@pytest.fixture
async def worker(worker_env: None) -> AsyncIterator[RunningWorker]:
    settings = WorkerSettings()
    server = build_server(settings, CallLoad(settings.max_concurrent_calls))
    running = RunningWorker(server, settings)
    started = asyncio.Event()
    server.on("worker_started", lambda *_: started.set())
    run = asyncio.create_task(server.run(devmode=True, unregistered=True))
    try:
        async with asyncio.timeout(WAIT):
            await started.wait()
        server._proc_pool.on("process_closed", running.on_process_closed)
        yield running
    finally:
        try:
            async with asyncio.timeout(WAIT):
                await server.aclose()
        except TimeoutError:
            # A failing job path can leave a job process that never exits (an entrypoint
            # stuck after its cancellation): kill it rather than hang the test run.
            job_processes: list[Any] = list(server._proc_pool.processes)
            for proc in job_processes:
                await proc.kill()
        run.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await run


def document(webhook_url: str, **assistant: Any) -> str:
    return json.dumps(
        {
            "call": {"id": CALL_ID, "type": "web_call"},
            "assistant": {
                "name": "front desk",
                "webhook_url": webhook_url,
                "webhook_secret": SECRET,
                "stt_config": {"provider": "deepgram", "model": "nova-3", "language": "en"},
                "llm_config": {"provider": "openai", "model": "gpt-4.1-mini"},
                "tts_config": {"provider": "elevenlabs", "voice_id": "front-desk-voice"},
                # A greeting would be synthesised at once; waiting for the caller keeps the
                # TTS (and the LLM) idle.
                "first_message_mode": "assistant-waits-for-user",
                **assistant,
            },
        }
    )


# ---- 1. a document that does not parse --------------------------------------------------------


async def test_a_document_that_does_not_parse_is_reported_as_config_error(
    worker: RunningWorker, receiver: WatchedReceiver
) -> None:
    url = receiver.url("/hooks")
    # An invalid value of a known field (an unknown field is only a warning in a live call).
    await worker.dispatch("AJ_config", document(url, max_duration_seconds=5))
    async with asyncio.timeout(WAIT):
        exit_code = await worker.job_closed("AJ_config")

    assert exit_code == 0
    # The call never went live: `failed` (seed 002), in the status-update and the report.
    assert sent(receiver.received) == [
        ("status-update", "failed"),
        ("end-of-call-report", "config_error"),
    ]
    assert all(r.signature_ok is True for r in receiver.received)
    (report,) = reports(receiver.received)
    assert report.path == "/hooks"
    assert report.headers["X-Webhook-Id"] == report_delivery_id(CALL_ID)
    message = json.loads(report.body)["message"]
    assert message["call"]["status"] == "failed"
    assert message["end_detail"] == (
        "assistant.max_duration_seconds: Input should be greater than or equal to 10"
    )
    assert message["call"]["id"] == CALL_ID
    assert message["assistant"]["name"] == "front desk"
    assert CallLedger(worker.settings.outbox_dir / "ledger").open_entries() == []


async def test_model_endpointing_is_refused_where_the_worker_does_not_load_the_model(
    worker: RunningWorker, receiver: WatchedReceiver
) -> None:
    # VOICE_AGENT_TURN_MODEL is off: prewarm loaded no end-of-turn model, so the job refuses
    # the document before the call goes live, naming the field
    url = receiver.url("/hooks")
    await worker.dispatch("AJ_model", document(url, turn_config={"endpointing_mode": "model"}))
    async with asyncio.timeout(WAIT):
        exit_code = await worker.job_closed("AJ_model")

    assert exit_code == 0
    assert sent(receiver.received) == [
        ("status-update", "failed"),
        ("end-of-call-report", "config_error"),
    ]
    assert all(r.signature_ok is True for r in receiver.received)
    (report,) = reports(receiver.received)
    detail = json.loads(report.body)["message"]["end_detail"]
    assert detail.startswith("assistant.turn_config.endpointing_mode: ")
    assert "VOICE_AGENT_TURN_MODEL" in detail


# ---- 2. a valid document: live, ended, one report ----------------------------------------------

EXIT_CODES = {"process": 0, "thread": None}
"""What a job that ended well leaves: its process's exit code 0, or (a thread) no exit code."""


@pytest.mark.parametrize("executor", ["process", "thread"])
async def test_a_valid_call_goes_live_ends_and_sends_exactly_one_report(
    worker: RunningWorker,
    receiver: WatchedReceiver,
    vendors: SilentVendors,
    executor: str,
) -> None:
    """Live -> the lifecycle's silence timeout ends it -> report_call reports it once.

    The end goes run_job -> `ctx.delete_room()` (a no-op here) -> `ctx.shutdown()` -> the
    framework closes the session and runs `report_call` (on_session_end). A job that relied on
    the room's `disconnected` alone never got there in a fake job (nor in production when the
    room deletion fails): the session stayed up and no report was sent until the worker stopped.
    """
    url = receiver.url("/hooks")
    silent_caller = {"timeout_seconds": 1.0, "max_prompts": 0, "final_message": ""}
    await worker.dispatch("AJ_live", document(url, autonomous_silence_handling=silent_caller))
    async with asyncio.timeout(WAIT):
        await receiver.wait_for(went_live)
        exit_code = await worker.job_closed("AJ_live")

    assert exit_code == EXIT_CODES[executor]
    assert sent(receiver.received) == [
        ("status-update", "in-progress"),
        ("status-update", "ended"),
        ("end-of-call-report", "silence_timeout"),
    ]
    assert all(r.signature_ok is True for r in receiver.received)
    (report,) = reports(receiver.received)
    assert report.headers["X-Webhook-Id"] == report_delivery_id(CALL_ID)
    message = json.loads(report.body)["message"]
    assert message["call"]["id"] == CALL_ID
    assert message["call"]["type"] == "web_call"
    assert message["assistant"]["name"] == "front desk"
    # The mock room's participant is the caller (the first standard participant): answered
    # at once (a fake job's room carries no media), the call timed from there.
    assert [(p["identity"], p["role"]) for p in message["participants"]] == [
        ("mock_user", "caller")
    ]
    assert message["started_at"] is not None
    assert message["caller_join_seconds"] >= 0
    # Nobody spoke: no LLM request left the job (no greeting, no turn, no analysis).
    assert not [r for r in vendors.requests if r.endswith("/chat/completions")]
    # The report got out: the ledger entry is closed and nothing waits in the outbox.
    assert CallLedger(worker.settings.outbox_dir / "ledger").open_entries() == []
    assert Outbox(worker.settings.outbox_dir).pending() == []


# ---- 3. the worker stops under a live call -----------------------------------------------------


@pytest.mark.parametrize("executor", ["process", "thread"])
async def test_a_call_cut_by_the_worker_shutdown_is_reported_as_worker_shutdown(
    worker: RunningWorker, receiver: WatchedReceiver, executor: str
) -> None:
    """SIGTERM's sequence (agent.worker.main.serve): drain until the drain timeout, then aclose.

    aclose asks the job process to shut down; the framework gives the entrypoint 15 s and
    then cancels it: run_job turns the cancellation into the lifecycle's `worker_shutdown` end,
    and report_call reports it without analysis.
    """
    url = receiver.url("/hooks")
    await worker.dispatch("AJ_drain", document(url, autonomous_silence_handling={"enabled": False}))
    async with asyncio.timeout(WAIT):
        await receiver.wait_for(went_live)
        with pytest.raises(TimeoutError):
            await worker.server.drain(timeout=1)  # the call is still going
        await worker.server.aclose()
        exit_code = await worker.job_closed("AJ_drain")

    assert exit_code == EXIT_CODES[executor]
    assert sent(receiver.received) == [
        ("status-update", "in-progress"),
        ("status-update", "ended"),
        ("end-of-call-report", "error"),
    ]
    assert all(r.signature_ok is True for r in receiver.received)
    (report,) = reports(receiver.received)
    message = json.loads(report.body)["message"]
    assert message["end_detail"] == "worker_shutdown"
    assert message["analysis"]["parts"]["summary"] == {
        "status": "skipped",
        "error": "worker_shutdown",
    }
    assert CallLedger(worker.settings.outbox_dir / "ledger").open_entries() == []


# ---- 4. the caller never comes -----------------------------------------------------------------


async def test_a_caller_who_never_joins_ends_no_answer_without_a_vendor_request(
    worker: RunningWorker, receiver: WatchedReceiver, vendors: SilentVendors
) -> None:
    """The mock room's one participant (`mock_user`) is not the caller the dispatch names, so
    the caller never joins: the join timeout (the call's own 5 s) ends the call `no_answer`.

    The session only starts once the caller is in the room, so neither STT nor TTS was ever
    contacted: no Deepgram or ElevenLabs websocket, no greeting synthesised (and none for the
    greeting cache afterwards). What remains is the framework's own LLM prewarm, made when the
    AgentSession is built (`GET /v1/models`, token-free, errors ignored)."""
    url = receiver.url("/hooks")
    doc = json.loads(
        document(url, first_message="Hello!", first_message_mode="assistant-speaks-first")
    )
    doc["call"] |= {"caller_identity": "user-42", "join_timeout_seconds": 5}
    await worker.dispatch("AJ_nobody", json.dumps(doc))
    async with asyncio.timeout(WAIT):
        exit_code = await worker.job_closed("AJ_nobody")

    assert exit_code == 0
    assert sent(receiver.received) == [
        ("status-update", "ended"),
        ("end-of-call-report", "no_answer"),
    ]
    assert all(r.signature_ok is True for r in receiver.received)
    (report,) = reports(receiver.received)
    message = json.loads(report.body)["message"]
    assert message["end_detail"] == "caller_did_not_join"
    assert (message["started_at"], message["duration_ms"]) == (None, 0)
    assert [(p["identity"], p["role"]) for p in message["participants"]] == [
        ("mock_user", "observer")
    ]
    assert [r for r in vendors.requests if r != "GET /v1/models"] == []
    assert CallLedger(worker.settings.outbox_dir / "ledger").open_entries() == []
