"""What the main process's job guard (agent/worker/recovery.py ``JobProcessGuard``) is tested
against: a stand-in for the AgentServer's events and its process pool's (the LiveKit server
side is the vendor boundary here), and the worker settings those tests share."""

from __future__ import annotations

from pathlib import Path

from livekit.agents.utils import EventEmitter

from agent.worker.settings import WorkerSettings


class StandInServer(EventEmitter[str]):
    """Emits what AgentServer emits to the guard (``worker_started``) and holds the process
    pool the guard subscribes to (``process_job_launched``, ``process_closed``)."""

    def __init__(self) -> None:
        super().__init__()
        self._proc_pool: EventEmitter[str] = EventEmitter()


def guard_settings(tmp_path: Path) -> WorkerSettings:
    """An outbox under ``tmp_path`` and reports allowed to the 127.0.0.1 receiver."""
    return WorkerSettings(outbox_dir=tmp_path / "outbox", allowed_targets=["127.0.0.0/8"])
