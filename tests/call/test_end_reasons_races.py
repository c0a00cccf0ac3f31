"""Two causes at once, and the worker stopping mid-call: still exactly one report.

The second cause is injected with run_scenario's ``beside_call``, doing what the room binding
(caller left: ``lifecycle.on_caller_left``) or the job's drain-timeout path
(``LiveCall.converse`` cancelled: ``end_for_worker_shutdown()``) does.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from agent.call.lifecycle.call import WORKER_SHUTDOWN
from agent.call.live_call import LiveCall
from tests.support.end_reasons import Receiver, scenario_file, simulate

pytestmark = pytest.mark.simulated_call


async def _until(condition: object, poll: float = 0.02) -> None:
    """Wait for a state of the session or lifecycle (they publish no event for these)."""
    assert callable(condition)
    while not condition():  # noqa: ASYNC110
        await asyncio.sleep(poll)


async def test_caller_leaves_at_the_instant_max_duration_fires(
    receiver: Receiver, tmp_path: Path
) -> None:
    async def leave_at_the_limit(call: LiveCall) -> None:
        deadline = call.lifecycle.max_duration.deadline
        assert deadline is not None
        # the same loop instant as the limit's own timer: whichever runs first decides
        asyncio.get_running_loop().call_at(
            deadline, call.lifecycle.on_caller_left, "CLIENT_INITIATED"
        )
        await asyncio.Event().wait()

    scenario = scenario_file("end-max-duration", receiver)
    scenario["caller"] = []
    result = await simulate(scenario, tmp_path, beside_call=leave_at_the_limit)

    report = receiver.only_report()
    assert result.end_reason == report["end_reason"]
    assert report["end_reason"] in ("max_duration", "user_hangup")
    print(f"race at the limit: {report['end_reason']} won ({report['end_detail']})")


async def test_caller_leaves_during_a_silence_prompt(receiver: Receiver, tmp_path: Path) -> None:
    async def leave_while_prompted(call: LiveCall) -> None:
        await _until(lambda: call.lifecycle.silence.stage == 1)
        await asyncio.sleep(0.3)  # into "Are you still there?"
        call.lifecycle.on_caller_left("CLIENT_INITIATED")  # as bind_room reports it

    result = await simulate(
        scenario_file("end-silence-prompt", receiver), tmp_path, beside_call=leave_while_prompted
    )

    report = receiver.only_report()
    assert result.end_reason == report["end_reason"] == "user_hangup"
    assert report["end_detail"] == "CLIENT_INITIATED"
    assert "I'll end the call now" not in report["transcript"]


async def test_caller_leaves_during_the_final_message(receiver: Receiver, tmp_path: Path) -> None:
    async def leave_during_goodbye(call: LiveCall) -> None:
        await _until(lambda: call.lifecycle.is_ending)
        await asyncio.sleep(0.3)
        call.lifecycle.on_caller_left("CLIENT_INITIATED")  # as bind_room reports it

    result = await simulate(
        scenario_file("end-silence-prompt", receiver), tmp_path, beside_call=leave_during_goodbye
    )

    report = receiver.only_report()
    # the first cause wins; the caller leaving only stops the goodbye early
    assert result.end_reason == report["end_reason"] == "silence_timeout"


async def test_worker_shutdown_mid_call_still_reports(receiver: Receiver, tmp_path: Path) -> None:
    async def stop_worker_mid_reply(call: LiveCall) -> None:
        await _until(
            lambda: call.session.agent_state == "speaking" and call.record.user_message_count > 0
        )
        call.end_for_worker_shutdown()  # what job.py does when the drain timeout cancels it

    result = await simulate(
        scenario_file("end-max-duration", receiver), tmp_path, beside_call=stop_worker_mid_reply
    )

    report = receiver.only_report()
    assert result.end_reason == report["end_reason"] == "error"
    assert report["end_detail"] == WORKER_SHUTDOWN
    # No time for analysis in the pod's exit window: every part says so.
    parts = report["analysis"]["parts"]
    assert {part["status"] for part in parts.values()} == {"skipped"}
    assert {part["error"] for part in parts.values()} == {"worker_shutdown"}
