"""Calls a worker still holds when it stops, and what counts as stale at start-up.

With the thread executor the worker's own process holds its calls: a job thread that never
ends (a call stuck past the close) leaves its ledger entry open, and nothing would report it
until a restart. The exit sweep reports every such call, once, whether or not the pool already
handed it over. At start-up, an entry whose owner (pid and start time) still runs is someone's
live call, not a stale one. Real ledger files, a real 127.0.0.1 receiver checking signatures.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import threading
from pathlib import Path
from typing import Any

from livekit.agents.job import JobAcceptArguments, RunningJobInfo
from livekit.protocol import agent, models

from agent.worker.ledger import (
    CallLedger,
    LedgerEntry,
    ProcessIdentity,
    process_start_ticks,
    report_delivery_id,
    this_process,
)
from agent.worker.recovery import JobProcessGuard, stale_entries
from tests.support.job_guard import StandInServer, guard_settings
from tests.support.receiver import SECRET, Received, Receiver

SPAWN = multiprocessing.get_context("spawn")


def document(url: str, call_id: str) -> str:
    return json.dumps(
        {
            "call": {"id": call_id},
            "assistant": {"name": "front desk", "webhook_url": url, "webhook_secret": SECRET},
        }
    )


def other_process_opens(ledger_dir: str, url: str, ready: Any) -> None:
    """Another live worker sharing the directory, with a call of its own."""
    CallLedger(Path(ledger_dir)).open(
        "AJ_other", "call-other", "room-o", dispatch_metadata=document(url, "call-other")
    )
    ready.set()
    threading.Event().wait()


class JobThread:
    """What the pool hands its listeners for a thread-executed job: no pid, no exit code."""

    def __init__(self, job_id: str, metadata: str) -> None:
        self.running_job = RunningJobInfo(
            accept_arguments=JobAcceptArguments(name="", identity="agent-1", metadata=""),
            job=agent.Job(
                id=job_id, metadata=metadata, room=models.Room(name="r"), type=agent.JobType.JT_ROOM
            ),
            url="ws://127.0.0.1:7880",
            token="",
            worker_id="W_1",
            fake_job=True,
        )


def reports(received: list[Received]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for r in received:
        if r.headers.get("X-Webhook-Event") == "end-of-call-report":
            assert r.signature_ok is True
            assert r.headers["X-Webhook-Id"] == report_delivery_id(
                json.loads(r.body)["message"]["call"]["id"]
            )
            message = json.loads(r.body)["message"]
            out.setdefault(message["call"]["id"], []).append(message)
    return out


async def test_calls_open_in_the_worker_at_exit_are_reported_once_each(
    tmp_path: Path, receiver: Receiver
) -> None:
    settings = guard_settings(tmp_path)
    ledger = CallLedger(settings.outbox_dir / "ledger")
    server = StandInServer()
    guard = JobProcessGuard(server, ledger, settings)
    server.emit("worker_started")
    url = receiver.url("/hooks")
    # three calls in this process's job threads; the first thread ended (its report never
    # reached the sinks), the other two are stuck as the worker stops
    for n in (1, 2, 3):
        ledger.open(
            f"AJ_{n}", f"call-{n}", f"room-{n}", dispatch_metadata=document(url, f"call-{n}")
        )
    first = JobThread("AJ_1", document(url, "call-1"))
    server._proc_pool.emit("process_job_launched", first)
    server._proc_pool.emit("process_closed", first)  # the guard reports call-1 now

    assert await guard.sweep_at_exit(10.0) == 2
    assert await guard.sweep_at_exit(10.0) == 0
    await guard.aclose()

    sent = reports(receiver.received)
    assert sorted(sent) == ["call-1", "call-2", "call-3"]
    assert all(len(messages) == 1 for messages in sent.values())
    assert sent["call-1"][0]["end_detail"].startswith("job_thread_ended")
    for call in ("call-2", "call-3"):
        assert sent[call][0]["end_reason"] == "error"
        assert sent[call][0]["end_detail"].startswith("worker_exit")
    assert ledger.open_entries() == []


async def test_another_live_workers_calls_are_neither_swept_nor_stale(
    tmp_path: Path, receiver: Receiver
) -> None:
    settings = guard_settings(tmp_path)
    ledger = CallLedger(settings.outbox_dir / "ledger")
    ready = SPAWN.Event()
    other = SPAWN.Process(
        target=other_process_opens, args=(str(ledger.directory), receiver.url("/h"), ready),
        daemon=True,
    )  # fmt: skip
    other.start()
    try:
        assert await asyncio.to_thread(ready.wait, 120)
        (entry,) = ledger.open_entries()
        assert entry.pid == other.pid
        assert entry.pid_started == process_start_ticks(other.pid)
        assert entry.owner.alive()
        assert stale_entries(ledger) == []

        server = StandInServer()
        guard = JobProcessGuard(server, ledger, settings)
        server.emit("worker_started")
        assert await guard.sweep_at_exit(5.0) == 0
        await guard.aclose()
        assert receiver.received == []
    finally:
        other.kill()  # SIGKILL
        await asyncio.to_thread(other.join, 60)
    # once its owner is gone, the next start-up reports it
    assert [e.job_id for e in stale_entries(ledger)] == ["AJ_other"]


def test_a_reused_pid_is_not_the_same_process(tmp_path: Path) -> None:
    """A container restarting as pid 1 again: the old run's entries are stale all the same."""
    ledger = CallLedger(tmp_path / "ledger")
    ledger.open("AJ_mine", "call-mine", "room-m")
    (entry,) = ledger.open_entries()
    me = this_process()
    assert entry.owner == me
    assert me.alive()
    assert me.owns(entry)
    earlier = LedgerEntry(**{**entry.__dict__, "pid_started": (me.started or 0) - 1})
    assert not earlier.owner.alive()  # same pid, started before this process
    assert not ProcessIdentity(me.pid, (me.started or 0) - 1).owns(entry)
    legacy = LedgerEntry(**{**entry.__dict__, "pid_started": None})
    assert not legacy.owner.alive()  # written before start times: nothing tells, so stale
    assert stale_entries(ledger) == []  # this process is alive and owns it
