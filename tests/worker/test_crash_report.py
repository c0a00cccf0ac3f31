"""A killed job process still gets exactly one end-of-call report.

The job processes here are real child processes (multiprocessing, spawn, as the framework
starts them) that open a ledger entry and are killed with SIGKILL, so none of their code runs
again. The framework's process pool is the boundary: a stand-in pool emits the same
`process_job_launched` / `process_closed` events with a stand-in process carrying the framework's
own `RunningJobInfo` (job id, dispatch metadata, room metadata) and the real child's exit code.
Reports go to a real 127.0.0.1 receiver that checks every signature with the seed verifier.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import multiprocessing
import os
import signal
import socket
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from livekit.agents import AgentServer, JobContext, JobProcess
from livekit.agents.job import JobAcceptArguments, RunningJobInfo
from livekit.protocol import agent, models

from agent.contracts.end_reason import EndReason
from agent.contracts.events import AssistantRef, CallRef
from agent.delivery.call_events import CallEvents
from agent.delivery.outbox import Outbox
from agent.delivery.target_policy import TargetPolicy
from agent.delivery.webhook import WebhookSink
from agent.intake.document import CallType
from agent.intake.report_target import ReportTarget
from agent.report.build import crash_report
from agent.report.send import build_sink
from agent.worker.ledger import CallLedger, OrphanedCall, report_delivery_id
from agent.worker.recovery import JobProcessGuard, replay_at_startup, report_crash
from tests.support.job_guard import StandInServer, guard_settings
from tests.support.receiver import SECRET, Received, Receiver

SPAWN = multiprocessing.get_context("spawn")
CALL_ID = "call-42"
ROOM = "room-42"


# ---- what runs in the job process (module level: spawn imports it) ---------------------------


def job_opens_call_then_hangs(ledger_dir: str, job_id: str, ready: Any) -> None:
    """A job that took a call and is stuck in it (until SIGKILL)."""
    CallLedger(Path(ledger_dir)).open(job_id, CALL_ID, ROOM)
    ready.set()
    threading.Event().wait()


def job_reports_normally(ledger_dir: str, job_id: str, ready: Any) -> None:
    """A job whose call ended and was reported: the entry is closed, the process exits 0."""
    ledger = CallLedger(Path(ledger_dir))
    ledger.open(job_id, CALL_ID, ROOM)
    ledger.close(job_id)
    ready.set()


def job_reports_then_hangs(
    ledger_dir: str, job_id: str, ready: Any, url: str, outbox_dir: str
) -> None:
    """A job that got its own report out and died before it could close its ledger entry."""
    ledger = CallLedger(Path(ledger_dir))
    ledger.open(job_id, CALL_ID, ROOM)
    asyncio.run(_send_own_report(url, outbox_dir))
    ready.set()
    threading.Event().wait()


def job_opens_two_calls_then_hangs(ledger_dir: str, job_id: str, ready: Any, url: str) -> None:
    """A process holding two calls (the pool knows it by one of them) and stuck in both."""
    ledger = CallLedger(Path(ledger_dir))
    ledger.open(job_id, CALL_ID, ROOM, dispatch_metadata=dispatch_document(url))
    ledger.open(
        "AJ_second", "call-43", "room-43", dispatch_metadata=dispatch_document(url, "call-43")
    )
    ready.set()
    threading.Event().wait()


async def _send_own_report(url: str, outbox_dir: str) -> None:
    sink = WebhookSink(TargetPolicy.loopback_allowed(), Outbox(outbox_dir))
    events = CallEvents(
        sink,
        call=CallRef(id=CALL_ID, type=CallType.WEB),
        assistant=AssistantRef(name="front desk", metadata={}),
        url=url,
        secret=SECRET,
    )
    target = ReportTarget(CALL_ID, "web_call", url, SECRET, "front desk", {})
    report = crash_report(target, started_at=datetime.now(UTC), detail="").model_copy(
        update={"end_reason": EndReason.USER_HANGUP, "end_detail": None}
    )
    events.emit_report(report)
    await events.drain()
    await sink.aclose(timeout=30.0)


# ---- the framework boundary ---------------------------------------------------------------------


class StandInProc:
    """What the process pool hands its listeners: `.running_job`, `.pid` and `.exitcode`."""

    def __init__(self, running_job: RunningJobInfo, process: Any) -> None:
        self.running_job = running_job
        self._process = process

    @property
    def pid(self) -> int:
        return int(self._process.pid)

    @property
    def exitcode(self) -> int | None:
        return int(self._process.exitcode) if self._process.exitcode is not None else None


def running_job(job_id: str, metadata: str, room_metadata: str = "") -> RunningJobInfo:
    return RunningJobInfo(
        accept_arguments=JobAcceptArguments(name="", identity="agent-1", metadata=""),
        job=agent.Job(
            id=job_id,
            metadata=metadata,
            room=models.Room(name=ROOM, metadata=room_metadata),
            type=agent.JobType.JT_ROOM,
        ),
        url="ws://127.0.0.1:7880",
        token="",
        worker_id="W_1",
        fake_job=True,
    )


def dispatch_document(url: str, call_id: str = CALL_ID) -> str:
    return json.dumps(
        {
            "call": {"id": call_id},
            "assistant": {"name": "front desk", "webhook_url": url, "webhook_secret": SECRET},
        }
    )


async def start_job_process(target: Any, *args: Any) -> Any:
    """Start a real job process and wait until it has done its part (``ready``)."""
    ready = SPAWN.Event()
    process = SPAWN.Process(target=target, args=(*args[:2], ready, *args[2:]), daemon=True)
    process.start()
    assert await asyncio.to_thread(ready.wait, 120), "the job process never got going"
    return process


async def kill(process: Any) -> None:
    os.kill(process.pid, signal.SIGKILL)
    await asyncio.to_thread(process.join, 120)


def reports(received: list[Received]) -> list[Received]:
    return [r for r in received if r.headers.get("X-Webhook-Event") == "end-of-call-report"]


# ---- (a) killed -> exactly one report; (b) reported -> none --------------------------------------


@pytest.mark.realtime  # a real child process, SIGKILLed
async def test_killed_job_process_gets_exactly_one_crash_report(
    tmp_path: Path, receiver: Receiver
) -> None:
    settings = guard_settings(tmp_path)
    ledger = CallLedger(settings.outbox_dir / "ledger")
    server = StandInServer()
    guard = JobProcessGuard(server, ledger, settings)
    server.emit("worker_started")

    url = receiver.url("/hooks")
    child = await start_job_process(job_opens_call_then_hangs, str(ledger.directory), "AJ_killed")
    proc = StandInProc(running_job("AJ_killed", dispatch_document(url)), child)
    server._proc_pool.emit("process_job_launched", proc)
    await kill(child)
    assert child.exitcode == -signal.SIGKILL
    server._proc_pool.emit("process_closed", proc)
    await guard.aclose()

    (report,) = reports(receiver.received)
    assert report.signature_ok is True
    assert report.headers["X-Webhook-Id"] == report_delivery_id(CALL_ID)
    message = json.loads(report.body)["message"]
    assert message["end_reason"] == "error"
    assert f"exit code {-signal.SIGKILL}" in message["end_detail"]
    assert message["call"]["id"] == CALL_ID
    assert message["assistant"]["name"] == "front desk"
    assert ledger.open_entries() == []
    assert Outbox(settings.outbox_dir).pending() == []


@pytest.mark.realtime  # a real child process, SIGKILLed
async def test_a_killed_process_holding_two_calls_gets_one_report_for_each(
    tmp_path: Path, receiver: Receiver
) -> None:
    """The pool knows the process by one job; the ledger knows every call the process held."""
    settings = guard_settings(tmp_path)
    ledger = CallLedger(settings.outbox_dir / "ledger")
    server = StandInServer()
    guard = JobProcessGuard(server, ledger, settings)
    server.emit("worker_started")

    url = receiver.url("/hooks")
    child = await start_job_process(
        job_opens_two_calls_then_hangs, str(ledger.directory), "AJ_first", url
    )
    proc = StandInProc(running_job("AJ_first", dispatch_document(url)), child)
    server._proc_pool.emit("process_job_launched", proc)
    assert {e.pid for e in ledger.open_entries()} == {child.pid}
    await kill(child)
    server._proc_pool.emit("process_closed", proc)
    server._proc_pool.emit("process_closed", proc)  # told twice: still one report a call
    await guard.aclose()

    sent = reports(receiver.received)
    by_call = {json.loads(r.body)["message"]["call"]["id"]: r for r in sent}
    assert len(sent) == 2
    assert set(by_call) == {CALL_ID, "call-43"}
    for call_id, report in by_call.items():
        assert report.signature_ok is True
        assert report.headers["X-Webhook-Id"] == report_delivery_id(call_id)
        message = json.loads(report.body)["message"]
        assert message["end_reason"] == "error"
        assert f"exit code {-signal.SIGKILL}" in message["end_detail"]
    assert ledger.open_entries() == []


@pytest.mark.realtime  # a real child process, SIGKILLed
async def test_a_job_that_reported_gets_no_crash_report(tmp_path: Path, receiver: Receiver) -> None:
    settings = guard_settings(tmp_path)
    ledger = CallLedger(settings.outbox_dir / "ledger")
    server = StandInServer()
    guard = JobProcessGuard(server, ledger, settings)
    server.emit("worker_started")

    child = await start_job_process(job_reports_normally, str(ledger.directory), "AJ_fine")
    proc = StandInProc(running_job("AJ_fine", dispatch_document(receiver.url("/h"))), child)
    server._proc_pool.emit("process_job_launched", proc)
    await asyncio.to_thread(child.join, 120)
    assert child.exitcode == 0
    server._proc_pool.emit("process_closed", proc)
    await guard.aclose()

    assert receiver.received == []
    assert ledger.open_entries() == []


# ---- (c) reported by the job and by the guard: one X-Webhook-Id, deduped -------------------------


class DedupingReceiver(Receiver):
    """A receiver doing what docs/delivery.md asks: process each X-Webhook-Id once."""

    def __init__(self) -> None:
        super().__init__()
        self.processed: dict[str, dict[str, Any]] = {}

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        response = await super()._handle(request)
        last = self.received[-1]
        if last.signature_ok:
            self.processed.setdefault(last.headers["X-Webhook-Id"], json.loads(last.body))
        return response


@pytest.mark.realtime  # a real child process, SIGKILLed
async def test_job_and_guard_both_reporting_carry_one_webhook_id(tmp_path: Path) -> None:
    receiver = DedupingReceiver()
    await receiver.start()
    try:
        settings = guard_settings(tmp_path)
        ledger = CallLedger(settings.outbox_dir / "ledger")
        server = StandInServer()
        guard = JobProcessGuard(server, ledger, settings)
        server.emit("worker_started")
        url = receiver.url("/hooks")

        child = await start_job_process(
            job_reports_then_hangs,
            str(ledger.directory),
            "AJ_both",
            url,
            str(tmp_path / "job-outbox"),
        )
        proc = StandInProc(running_job("AJ_both", dispatch_document(url)), child)
        server._proc_pool.emit("process_job_launched", proc)
        await kill(child)
        server._proc_pool.emit("process_closed", proc)
        await guard.aclose()
    finally:
        await receiver.stop()

    sent = reports(receiver.received)
    assert len(sent) == 2  # the job's own, then the guard's
    assert all(r.signature_ok for r in sent)
    assert {r.headers["X-Webhook-Id"] for r in sent} == {report_delivery_id(CALL_ID)}
    (kept,) = receiver.processed.values()
    assert kept["message"]["end_reason"] == "user_hangup"  # the first one wins


# ---- outbox replay at start-up -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("metadata", "expected"),
    [
        # lone surrogates (a cut emoji) in keys and values: replaced, the report still goes out
        ('{"UserID": "u-\\ud83d", "k\\udc00": ["\\ud83d\\ude00"]}',
         {"UserID": "u-\ufffd", "k\ufffd": ["😀"]}),
        # over the metadata bound: the crash report carries none rather than failing
        ('{"deep": ' + "[" * 60 + "]" * 60 + "}", {}),
        # a key given twice is left out, never guessed
        ('{"UserID": "a", "UserID": "b", "Plan": "gold"}', {"Plan": "gold"}),
    ],
)  # fmt: skip
async def test_a_crash_report_rebuilt_from_a_hostile_document_still_goes_out_signed(
    tmp_path: Path, receiver: Receiver, metadata: str, expected: dict[str, Any]
) -> None:
    settings = guard_settings(tmp_path)
    document = (
        '{"call": {"id": "' + CALL_ID + '"}, "assistant": {"name": "front \\ud83d desk", '
        f'"webhook_url": "{receiver.url("/hooks")}", "webhook_secret": "{SECRET}", '
        f'"metadata": {metadata}}}}}'
    )
    ledger = CallLedger(settings.outbox_dir / "ledger")
    ledger.open("AJ_hostile", CALL_ID, ROOM, dispatch_metadata=document)  # as the job keeps it
    (entry,) = ledger.open_entries()
    sink = build_sink(settings)
    await report_crash(OrphanedCall(entry, -9, "", ""), settings=settings, sink=sink)
    await sink.aclose()

    (report,) = reports(receiver.received)
    assert report.signature_ok is True
    message = json.loads(report.body)["message"]
    assert (message["end_reason"], message["call"]["id"]) == ("error", CALL_ID)
    assert message["assistant"] == {"name": "front \ufffd desk", "metadata": expected}
    assert Outbox(settings.outbox_dir).pending() == []


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class ReceiverOnPort(Receiver):
    """A receiver that comes up on a given port: the one that was down earlier."""

    def __init__(self, port: int) -> None:
        super().__init__()
        self.port = port

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("POST", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()


async def test_a_crash_report_parked_while_the_receiver_was_down_is_replayed_at_startup(
    tmp_path: Path,
) -> None:
    settings = guard_settings(tmp_path)
    port = free_port()
    url = f"http://127.0.0.1:{port}/hooks"
    ledger = CallLedger(settings.outbox_dir / "ledger")
    ledger.open("AJ_down", CALL_ID, ROOM)
    (entry,) = ledger.open_entries()

    # Receiver down: one attempt (connection refused), then the report is parked.

    sink = WebhookSink(
        TargetPolicy(settings.allowed_targets), Outbox(settings.outbox_dir), max_attempts=1
    )
    orphan = OrphanedCall(entry, -9, dispatch_document(url), "")
    await report_crash(orphan, settings=settings, sink=sink)
    await sink.aclose()
    (parked,) = Outbox(settings.outbox_dir).pending()
    assert parked.entry.delivery_id == report_delivery_id(CALL_ID)

    # "Restart": the receiver is up and the worker replays at start-up.
    receiver = ReceiverOnPort(port)
    await receiver.start()
    try:
        await replay_at_startup(settings)
    finally:
        await receiver.stop()
    (report,) = reports(receiver.received)
    assert report.signature_ok is True
    assert report.headers["X-Webhook-Id"] == report_delivery_id(CALL_ID)
    assert json.loads(report.body)["message"]["end_reason"] == "error"
    assert Outbox(settings.outbox_dir).pending() == []


async def test_startup_replay_with_an_empty_outbox_sends_nothing(
    tmp_path: Path, receiver: Receiver
) -> None:
    await replay_at_startup(guard_settings(tmp_path))
    assert receiver.received == []


# ---- (d) the real framework: AgentServer, unregistered, a simulated job killed -----------------

LEDGER_ENV = "CRASH_TEST_LEDGER_DIR"
TAKEN_ENV = "CRASH_TEST_TAKEN_FIFO"


def idle_setup(proc: JobProcess) -> None:
    """The job process's prewarm: nothing to load for this test."""


async def entrypoint_that_hangs(ctx: JobContext) -> None:
    """Runs in the framework's own job process: takes the call, then never finishes it."""
    CallLedger(Path(os.environ[LEDGER_ENV])).open(ctx.job.id, CALL_ID, ctx.job.room.name)
    # Tells the test the call is taken (the test blocks reading this FIFO).
    await asyncio.to_thread(Path(os.environ[TAKEN_ENV]).write_text, str(os.getpid()))
    await asyncio.Event().wait()


@pytest.mark.realtime  # a real child process, SIGKILLed
async def test_real_agent_server_job_process_killed_gets_one_report(
    tmp_path: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = guard_settings(tmp_path)
    ledger = CallLedger(settings.outbox_dir / "ledger")
    monkeypatch.setenv(LEDGER_ENV, str(ledger.directory))  # job processes inherit it
    taken = tmp_path / "taken"
    os.mkfifo(taken)  # reading it blocks until the job process has opened its ledger entry
    monkeypatch.setenv(TAKEN_ENV, str(taken))
    server = AgentServer(
        ws_url="ws://127.0.0.1:9",  # never dialled: the server runs unregistered
        api_key="devkey",
        api_secret="secret",
        port=0,
        prometheus_port=None,
        setup_fnc=idle_setup,
        num_idle_processes=1,
    )
    server.rtc_session(entrypoint_that_hangs, agent_name="crash-test")
    guard = JobProcessGuard(server, ledger, settings)
    started, closed = asyncio.Event(), asyncio.Event()
    server.on("worker_started", lambda *_: started.set())
    run = asyncio.create_task(server.run(devmode=True, unregistered=True))
    try:
        async with asyncio.timeout(120):
            await started.wait()
            server._proc_pool.on("process_closed", lambda *_: closed.set())
            room = models.Room(name=ROOM, metadata=dispatch_document(receiver.url("/hooks")))
            await server.simulate_job(ROOM, fake_job=True, room_info=room)
            job_pid = int(await asyncio.to_thread(taken.read_text))
            (entry,) = ledger.open_entries()
            assert entry.pid == job_pid
            os.kill(job_pid, signal.SIGKILL)
            await closed.wait()
            await guard.aclose()
    finally:
        await server.aclose()
        run.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await run

    (report,) = reports(receiver.received)
    assert report.signature_ok is True
    assert report.headers["X-Webhook-Id"] == report_delivery_id(CALL_ID)
    message = json.loads(report.body)["message"]
    assert message["end_reason"] == "error"
    assert "exit code -9" in message["end_detail"]
    assert ledger.open_entries() == []
