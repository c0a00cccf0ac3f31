"""report_call (on_session_end): a report that never reached the sinks keeps the ledger open.

The ledger entry is the main process's cue to send the crash report (call_ledger.py); closing it
after a failed finish() meant no report at all. Vendors are the offline simulator's; the
JobContext is the framework's, so a stand-in carries the two fields report_call reads.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from agent.delivery.base import Delivery
from agent.worker import job
from agent.worker.ledger import CallLedger
from agent.worker.settings import WorkerSettings
from tests.support.offline_call import offline_call
from tests.support.tool_server import call_spec


class FlushFailsSink:
    """A plugged-in sink whose flush breaks (an operator's own sink with a bug)."""

    async def submit(self, delivery: Delivery) -> None:
        return None

    async def flush(self, call_id: str | None = None, timeout: float = 30.0) -> None:  # noqa: ASYNC109
        raise RuntimeError("sink flush broke")

    async def aclose(self, timeout: float = 30.0) -> None:  # noqa: ASYNC109
        return None


async def test_a_report_that_never_reached_the_sinks_leaves_the_ledger_entry_open(
    tmp_path: Path,
) -> None:
    """The open entry is what makes the main process send the crash report instead."""
    settings = WorkerSettings(outbox_dir=tmp_path / "outbox")
    ledger = CallLedger(settings.outbox_dir / "ledger")
    sink = FlushFailsSink()
    spec = await call_spec()
    call = offline_call(spec, sink)
    ledger.open("job-1", spec.call_id, "room")
    # What run_job leaves for on_session_end; the JobContext is the framework's, so a
    # stand-in with the two fields report_call reads.
    job._CALLS["job-1"] = (call, sink, ledger)
    ctx: Any = SimpleNamespace(
        job=SimpleNamespace(id="job-1"), proc=SimpleNamespace(userdata={"settings": settings})
    )

    with pytest.raises(RuntimeError, match="sink flush broke"):
        await job.report_call(ctx)

    entry = ledger.get("job-1")
    assert entry is not None
    assert entry.call_id == spec.call_id
