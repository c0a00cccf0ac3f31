"""FanOutSink: a member that fails to flush or close costs the others nothing."""

from __future__ import annotations

from pathlib import Path

from structlog.testing import capture_logs

from agent.delivery.base import Delivery, FanOutSink
from agent.delivery.jsonl import JsonlSink


class BrokenSink:
    """A third-party sink whose flush and close blow up."""

    def __init__(self) -> None:
        self.submitted: list[Delivery] = []

    async def submit(self, delivery: Delivery) -> None:
        self.submitted.append(delivery)

    async def flush(self, call_id: str | None = None, timeout: float = 30.0) -> None:  # noqa: ASYNC109
        raise RuntimeError("disk on fire")

    async def aclose(self, timeout: float = 30.0) -> None:  # noqa: ASYNC109
        raise RuntimeError("disk on fire")


def _delivery() -> Delivery:
    return Delivery(
        delivery_id="d-1", call_id="c-1", event_type="end-of-call-report", seq=1,
        body=b'{"message": {"type": "end-of-call-report"}}', url=None, secret=None,
    )  # fmt: skip


async def test_one_failing_member_does_not_fail_the_fan_out(tmp_path: Path) -> None:
    jsonl = JsonlSink(tmp_path / "events.jsonl")
    broken = BrokenSink()
    fan = FanOutSink([broken, jsonl])
    await fan.submit(_delivery())
    with capture_logs() as logs:
        await fan.flush("c-1", timeout=1.0)  # must not raise
        await fan.aclose(timeout=1.0)
    assert broken.submitted
    assert "end-of-call-report" in (tmp_path / "events.jsonl").read_text()
    failures = [e for e in logs if e["event"] == "sink_failed"]
    assert {e["step"] for e in failures} == {"flush", "aclose"}
    assert all(e["sink"] == "BrokenSink" for e in failures)
