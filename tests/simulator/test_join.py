"""The call starts when the caller is there: whole simulated calls through ``run_scenario``.

Each runs one of the `config/scenarios/join-*.yaml` files as `python -m agent simulate` runs it
(the production call path, the simulated room making the caller and observers join and leave
as participants), reporting to the shared 127.0.0.1 receiver whose verifier is the seed's,
verbatim. Every call must produce exactly one end-of-call report, signed. Calls run in real
time: only outcomes and the order of events are asserted, never how long something took beyond
bounds the scenario itself sets (a max duration of 20 s must not end before 20 s of call).
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from agent.delivery.outbox import Outbox
from agent.delivery.target_policy import TargetPolicy
from agent.delivery.webhook import WebhookSink
from agent.simulator.live import ScenarioResult, run_scenario
from agent.simulator.scenario import ScenarioError, parse_scenario
from agent.worker.settings import WorkerSettings
from tests.support.paths import SCENARIOS
from tests.support.receiver import SECRET, Receiver

pytestmark = pytest.mark.simulated_call


def scenario(name: str, receiver: Receiver) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((SCENARIOS / f"{name}.yaml").read_text("utf-8"))
    data["dispatch"]["assistant"].update(webhook_url=receiver.url("/hook"), webhook_secret=SECRET)
    return data


async def simulate(data: dict[str, Any], tmp_path: Path) -> ScenarioResult:
    sink = WebhookSink(TargetPolicy.loopback_allowed(), Outbox(tmp_path / "outbox"))
    try:
        return await run_scenario(
            parse_scenario(data), sink=sink, settings=WorkerSettings(), say=lambda _line: None
        )
    finally:
        await sink.aclose(timeout=10.0)


def deliveries(receiver: Receiver) -> list[dict[str, Any]]:
    assert all(r.signature_ok is True for r in receiver.received), "every delivery signed"
    return [json.loads(r.body)["message"] for r in receiver.received]


def only_report(receiver: Receiver) -> dict[str, Any]:
    reports = [m for m in deliveries(receiver) if m["type"] == "end-of-call-report"]
    assert len(reports) == 1, f"{len(reports)} end-of-call reports"
    return reports[0]


def statuses(receiver: Receiver) -> list[str]:
    return [m["status"] for m in deliveries(receiver) if m["type"] == "status-update"]


def at(report: dict[str, Any], key: str) -> datetime:
    return datetime.fromisoformat(report[key].replace("Z", "+00:00"))


async def test_a_late_caller_hears_the_whole_greeting_and_gets_the_whole_call(
    receiver: Receiver, tmp_path: Path
) -> None:
    result = await simulate(scenario("join-late", receiver), tmp_path)
    report = only_report(receiver)

    assert result.end_reason == report["end_reason"] == "max_duration"
    assert statuses(receiver) == ["in-progress", "ended"]
    # Nothing was said before the caller was there: the greeting was published whole and is
    # the first thing in the conversation, heard from its first word.
    greeting = "Hello, thanks for waiting, how can I help?"
    assert result.published_transcripts[0] == greeting
    assert report["messages"][0]["role"] == "assistant"
    assert report["messages"][0]["message"] == greeting
    assert report["messages"][0]["interrupted"] is False
    timings = result.timings
    assert timings is not None
    assert timings.join_to_greeting_ms is not None
    assert timings.greeting_ms is not None
    assert timings.greeting_ms >= 3000  # nothing played before the caller joined at 3 s
    # started_at is the caller's arrival, ~3 s after the agent's; the 20 s limit counts from it
    assert 2.9 <= report["caller_join_seconds"] <= 4.5
    waited = (at(report, "started_at") - at(report, "agent_joined_at")).total_seconds()
    assert waited == pytest.approx(report["caller_join_seconds"], abs=0.002)
    call_seconds = (at(report, "ended_at") - at(report, "started_at")).total_seconds()
    assert call_seconds >= 20.0
    assert report["duration_ms"] == pytest.approx(call_seconds * 1000, abs=2)
    [caller] = report["participants"]
    assert (caller["identity"], caller["role"], caller["left_at"]) == ("caller", "caller", None)


async def test_a_caller_who_never_joins_costs_the_join_timeout_and_no_tts(
    receiver: Receiver, tmp_path: Path
) -> None:
    result = await simulate(scenario("join-never", receiver), tmp_path)
    report = only_report(receiver)

    assert (report["end_reason"], report["end_detail"]) == ("no_answer", "caller_did_not_join")
    assert result.tts_requests == 0  # no greeting synthesised, nothing at all asked of the TTS
    assert statuses(receiver) == ["ended"]  # never in-progress
    assert (report["started_at"], report["duration_seconds"], report["duration_ms"]) == (
        None, 0, 0,
    )  # fmt: skip
    assert (report["caller_join_seconds"], report["participants"]) == (None, [])
    assert report["messages"] == []
    waited = (at(report, "ended_at") - at(report, "agent_joined_at")).total_seconds()
    assert 5.0 <= waited < 6.0  # the call's join_timeout_seconds: 5
    assert result.wall_seconds < 15.0


async def test_a_lost_connection_is_an_error_not_a_hang_up(
    receiver: Receiver, tmp_path: Path
) -> None:
    result = await simulate(scenario("join-lost-connection", receiver), tmp_path)
    report = only_report(receiver)

    assert result.end_reason == "error"
    assert report["end_detail"] == "connection_lost"
    assert statuses(receiver) == ["in-progress", "ended"]
    [caller] = report["participants"]
    assert (caller["role"], caller["disconnect_reason"]) == ("caller", "CONNECTION_TIMEOUT")


async def test_a_hang_up_by_the_same_caller_is_a_user_hangup(
    receiver: Receiver, tmp_path: Path
) -> None:
    data = scenario("join-lost-connection", receiver)
    data["caller"][-1] = {"disconnect": "client_initiated"}
    await simulate(data, tmp_path)
    report = only_report(receiver)
    assert (report["end_reason"], report["end_detail"]) == ("user_hangup", "CLIENT_INITIATED")


async def test_observers_come_and_go_without_effect_and_are_listed(
    receiver: Receiver, tmp_path: Path
) -> None:
    result = await simulate(scenario("join-observer", receiver), tmp_path)
    report = only_report(receiver)

    # the supervisor leaving at 6 s did not end the call: the caller's own hang-up did
    assert (result.end_reason, report["end_detail"]) == ("user_hangup", "CLIENT_INITIATED")
    said = [m["message"] for m in report["messages"] if m["role"] == "assistant"]
    assert said == ["Hello, how can I help?", "Tomorrow we open at nine."]
    seen = [
        (p["identity"], p["kind"], p["role"], p["disconnect_reason"])
        for p in report["participants"]
    ]
    assert seen == [
        ("caller", "standard", "caller", "CLIENT_INITIATED"),
        ("recorder", "egress", "observer", None),
        ("supervisor-anna", "standard", "observer", "CLIENT_INITIATED"),
    ]
    supervisor = report["participants"][2]
    stayed = (at(supervisor, "left_at") - at(supervisor, "joined_at")).total_seconds()
    assert stayed == pytest.approx(4.0, abs=0.5)
    assert at(report, "ended_at") > at(supervisor, "left_at")


async def test_an_observer_who_joins_first_is_the_caller_of_a_web_call_unless_named(
    receiver: Receiver, tmp_path: Path
) -> None:
    """How the caller is chosen when several join: the first standard participant, unless the
    dispatch names one (call.caller_identity)."""
    data = scenario("join-observer", receiver)
    data["join"] = {"after_seconds": 1}
    data["observers"] = [{"identity": "supervisor-anna", "join_after_seconds": 0}]
    data["dispatch"]["call"]["caller_identity"] = "caller"
    await simulate(data, tmp_path)
    report = only_report(receiver)
    roles = {p["identity"]: p["role"] for p in report["participants"]}
    assert roles == {"supervisor-anna": "observer", "caller": "caller"}
    assert (report["end_reason"], report["end_detail"]) == ("user_hangup", "CLIENT_INITIATED")
    assert report["caller_join_seconds"] >= 1.0


async def test_a_caller_leaving_while_the_agent_waits_ends_a_call_never_started(
    receiver: Receiver, tmp_path: Path
) -> None:
    result = await simulate(scenario("join-left-while-waiting", receiver), tmp_path)
    report = only_report(receiver)

    assert (report["end_reason"], report["end_detail"]) == ("user_hangup", "CLIENT_INITIATED")
    assert result.tts_requests == 0
    assert statuses(receiver) == ["ended"]
    assert (report["started_at"], report["duration_ms"]) == (None, 0)
    [caller] = report["participants"]
    assert (caller["role"], caller["disconnect_reason"]) == ("caller", "CLIENT_INITIATED")
    stayed = (at(caller, "left_at") - at(caller, "joined_at")).total_seconds()
    assert stayed == pytest.approx(2.0, abs=0.5)


def test_the_join_keys_are_checked() -> None:
    base: dict[str, Any] = {"dispatch": {}}
    with pytest.raises(ScenarioError, match=r"never: true"):
        parse_scenario(base | {"join": {"never": True, "after_seconds": 2}})
    with pytest.raises(ScenarioError, match="audio_after_seconds"):
        parse_scenario(base | {"join": {"after_seconds": 5, "audio_after_seconds": 2}})
    with pytest.raises(ScenarioError, match=r"caller\.0.*LiveKit disconnect reason"):
        parse_scenario(base | {"caller": [{"disconnect": "tired"}]})
    with pytest.raises(ScenarioError, match=r"observers\.0.*must be after"):
        parse_scenario(
            base
            | {"observers": [{"identity": "x", "join_after_seconds": 3, "leave_after_seconds": 1}]}
        )
    parsed = parse_scenario(base | {"caller": [{"disconnect": "SIGNAL_CLOSE"}]})
    [step] = parsed.caller_steps()
    assert step.type == "disconnect"
