"""Transfers, DTMF and live control as scenario files, run through `run_scenario`.

The shipped scenarios (config/scenarios/transfer-sip.yaml, control-*.yaml) run as
`python -m agent simulate` runs them, reporting to a real receiver on 127.0.0.1 that checks
every signature with the seed verifier. A SIP caller's REFER goes through the real LiveKit API
client to the simulator's offline SIP gateway (127.0.0.1); control steps go through the
production control channel. Calls run in real time; only outcomes are asserted.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from agent.call.telephony.transfer import TRANSFER_FAILED_LINE
from agent.contracts.events import EndOfCallReport, parse_envelope
from agent.delivery.outbox import Outbox
from agent.delivery.target_policy import TargetPolicy
from agent.delivery.webhook import WebhookSink
from agent.simulator.live import ScenarioResult, run_scenario
from agent.simulator.room import TransferRequest
from agent.simulator.scenario import ScenarioError, parse_scenario
from agent.simulator.script import ControlStep, DtmfStep
from agent.worker.settings import WorkerSettings
from tests.support.paths import SCENARIOS as SCENARIOS_DIR
from tests.support.receiver import SECRET, Receiver

SCENARIOS = SCENARIOS_DIR
SALES = "+31201234567"
CALLER_NUMBER = "+31612345678"


@pytest.fixture(autouse=True)
def _no_control_identities(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VOICE_AGENT_CONTROL_ALLOWED_IDENTITIES", raising=False)


def load(name: str, rx: Receiver) -> dict[str, Any]:
    scenario: dict[str, Any] = yaml.safe_load((SCENARIOS / name).read_text(encoding="utf-8"))
    scenario["dispatch"]["assistant"] |= {"webhook_url": rx.url("/hook"), "webhook_secret": SECRET}
    return scenario


async def simulate(
    scenario: dict[str, Any], tmp_path: Path, settings: WorkerSettings | None = None
) -> tuple[ScenarioResult, list[str]]:
    sink = WebhookSink(TargetPolicy.loopback_allowed(), Outbox(tmp_path / "outbox"))
    lines: list[str] = []
    try:
        result = await run_scenario(
            parse_scenario(scenario),
            sink=sink,
            settings=settings or WorkerSettings(),
            say=lines.append,
        )
    finally:
        await sink.aclose(timeout=10.0)
    return result, lines


def messages(rx: Receiver, event_type: str) -> list[dict[str, Any]]:
    assert all(r.signature_ok for r in rx.at("/hook")), "a delivery failed the seed verifier"
    found = [json.loads(r.body)["message"] for r in rx.at("/hook")]
    return [m for m in found if m["type"] == event_type]


def the_report(result: ScenarioResult, rx: Receiver) -> EndOfCallReport:
    """Exactly one report reached the receiver, and it is the one the run returned."""
    (received,) = messages(rx, "end-of-call-report")
    message = parse_envelope(result.report_body).message
    assert isinstance(message, EndOfCallReport)
    assert received["call"]["id"] == message.call.id
    assert received["end_reason"] == result.end_reason
    return message


# -- the scenario format (no call) ---------------------------------------------------------------


def test_control_and_dtmf_steps_parse() -> None:
    scenario = parse_scenario(
        {
            "dispatch": {},
            "phone": {"caller_number": CALLER_NUMBER, "called_number": "+31850000000"},
            "caller": [
                {"control": {"type": "end-call"}, "from": "caller"},
                {"control": {"type": "say", "content": "Hi"}},
                {"dtmf": "12#"},
            ],
        }
    )
    assert scenario.caller_steps() == [
        ControlStep(command={"type": "end-call"}, sender="caller"),
        ControlStep(command={"type": "say", "content": "Hi"}, sender="server"),
        DtmfStep(digits="12#"),
    ]
    assert scenario.phone is not None
    assert scenario.phone.sip
    assert scenario.phone.participant_identity() == f"sip_{CALLER_NUMBER}"


@pytest.mark.parametrize(
    ("step", "where"),
    [
        ({"say": "Hi", "from": "caller"}, "caller.0"),
        ({"control": {"type": "end-call"}, "dtmf": "1"}, "caller.0"),
        ({"dtmf": "12x"}, "caller.0.dtmf"),
        ({"control": {"type": "end-call"}, "sender": "caller"}, "caller.0.sender"),
    ],
)
def test_bad_steps_are_refused_with_their_path(step: dict[str, Any], where: str) -> None:
    with pytest.raises(ScenarioError) as caught:
        parse_scenario({"dispatch": {}, "caller": [step]})
    assert any(p.startswith(where) for p in caught.value.problems), caught.value.problems


def test_phone_numbers_must_be_e164() -> None:
    with pytest.raises(ScenarioError) as caught:
        parse_scenario({"dispatch": {}, "phone": {"caller_number": "0612345678"}})
    assert caught.value.problems[0].startswith("phone.caller_number")


# -- transfer of a SIP caller -------------------------------------------------------------------


@pytest.mark.simulated_call
async def test_sip_caller_is_transferred(receiver: Receiver, tmp_path: Path) -> None:
    result, _lines = await simulate(load("transfer-sip.yaml", receiver), tmp_path)

    assert result.end_reason == "transferred"
    assert result.transfers == [TransferRequest(f"sip_{CALLER_NUMBER}", SALES)]
    statuses = [(m["status"], m.get("destination")) for m in messages(receiver, "status-update")]
    assert ("forwarding", SALES) in statuses
    assert statuses.index(("forwarding", SALES)) < statuses.index(("ended", None))
    report = the_report(result, receiver)
    assert report.destination == SALES
    assert report.customer is not None
    assert report.customer.number == CALLER_NUMBER  # from the SIP participant's attributes
    assert "Transferring you to sales." in report.transcript


@pytest.mark.simulated_call
async def test_rejected_transfer_is_told_and_the_call_goes_on(
    receiver: Receiver, tmp_path: Path
) -> None:
    scenario = load("transfer-sip.yaml", receiver)
    scenario["providers"]["sip_transfer"] = "fail"
    scenario["caller"].append({"hangup": True})
    result, _lines = await simulate(scenario, tmp_path)

    assert result.end_reason == "user_hangup"
    assert result.transfers == [TransferRequest(f"sip_{CALLER_NUMBER}", SALES)]  # one REFER
    statuses = [m["status"] for m in messages(receiver, "status-update")]
    assert statuses[:3] == ["in-progress", "forwarding", "in-progress"]
    report = the_report(result, receiver)
    assert report.destination != SALES
    assert TRANSFER_FAILED_LINE in report.transcript
    assert any("486 Busy Here" in json.dumps(m.model_dump(mode="json")) for m in report.messages)


@pytest.mark.simulated_call
async def test_web_caller_is_not_referred(receiver: Receiver, tmp_path: Path) -> None:
    """Without `phone` the caller is a web participant: the same tool call is refused. (A web
    call: on an inbound phone call only a SIP participant is ever the caller.)"""
    scenario = load("transfer-sip.yaml", receiver)
    del scenario["phone"]
    scenario["dispatch"]["call"]["type"] = "web_call"
    scenario["caller"].append({"hangup": True})
    scenario["llm"].append({"say": "I'm sorry, I can't transfer this call."})
    result, _lines = await simulate(scenario, tmp_path)

    assert result.end_reason == "user_hangup"
    assert result.transfers == []
    statuses = [m["status"] for m in messages(receiver, "status-update")]
    assert "forwarding" not in statuses
    report = the_report(result, receiver)
    (tool_result,) = [m for m in report.messages if m.role == "tool"]
    assert tool_result.error is not None
    assert "transfer_refused" in tool_result.error


# -- live control -------------------------------------------------------------------------------


@pytest.mark.simulated_call
async def test_control_packet_from_the_caller_is_refused(
    receiver: Receiver, tmp_path: Path
) -> None:
    result, lines = await simulate(load("control-refused.yaml", receiver), tmp_path)

    assert result.end_reason == "user_hangup"  # the refused end-call did not end the call
    report = the_report(result, receiver)
    assert [(c.command, c.outcome) for c in report.control] == [
        ("unread", "refused: sender not allowed")
    ]
    assert "On Sundays we open at eleven." in report.transcript  # the call went on
    assert "Goodbye!" not in report.transcript
    assert any("end-call from caller -> refused" in line for line in lines)


@pytest.mark.simulated_call
async def test_allowed_identity_may_end_the_call(receiver: Receiver, tmp_path: Path) -> None:
    """The same packet from an identity the operator allowed is obeyed."""
    scenario = load("control-refused.yaml", receiver)
    scenario["caller"][1]["from"] = "ops-console"
    settings = WorkerSettings(control_allowed_identities=["ops-console"])
    result, _lines = await simulate(scenario, tmp_path, settings)

    assert result.end_reason == "agent_hangup"
    report = the_report(result, receiver)
    assert report.end_detail == "control_end_call"
    assert [(c.command, c.outcome) for c in report.control] == [("end-call", "ok")]
    assert "Goodbye!" in report.transcript
    assert "On Sundays" not in report.transcript


@pytest.mark.simulated_call
async def test_server_say_with_end_after_hangs_up(receiver: Receiver, tmp_path: Path) -> None:
    result, _lines = await simulate(load("control-say.yaml", receiver), tmp_path)

    assert result.end_reason == "agent_hangup"
    report = the_report(result, receiver)
    assert report.end_detail == "control_end_after"
    assert [(c.command, c.outcome) for c in report.control] == [("say", "ok")]
    assert "Your order is ready for pickup. Goodbye!" in report.transcript


# -- DTMF ---------------------------------------------------------------------------------------


@pytest.mark.simulated_call
async def test_caller_keys_reach_the_model_as_one_turn(receiver: Receiver, tmp_path: Path) -> None:
    scenario = load("transfer-sip.yaml", receiver)
    scenario["caller"] = [{"dtmf": "12#"}, {"hangup": True}]
    scenario["llm"] = [{"say": "Thanks, you chose option twelve."}]
    result, _lines = await simulate(scenario, tmp_path)

    assert result.end_reason == "user_hangup"
    report = the_report(result, receiver)
    users = [m.message for m in report.messages if m.role == "user"]
    assert users == ["[DTMF] 12#"]
    assert "Thanks, you chose option twelve." in report.transcript
    assert report.transcript.index("[DTMF] 12#") < report.transcript.index("option twelve")


@pytest.mark.simulated_call
async def test_the_caller_waits_for_a_transfer_that_takes_longer_than_a_pause(
    receiver: Receiver, tmp_path: Path
) -> None:
    """The REFER takes 1.5 s (the far end rings, then refuses): the agent is quiet all that
    time, but not done. A caller counting only silence hung up 0.2 s into the REFER, and the
    call ended ``transferred`` (a caller leaving during a transfer); the caller waits for the
    failure line instead, and hangs up after it."""
    scenario = load("transfer-sip.yaml", receiver)
    scenario["providers"] |= {"sip_transfer": "fail", "sip_transfer_ms": 1500}
    scenario["caller"].append({"hangup": True})
    result, _lines = await simulate(scenario, tmp_path)

    assert result.end_reason == "user_hangup"
    assert result.transfers == [TransferRequest(f"sip_{CALLER_NUMBER}", SALES)]
    report = the_report(result, receiver)
    assert TRANSFER_FAILED_LINE in report.transcript
    failed_line = next(m for m in report.messages if m.message == TRANSFER_FAILED_LINE)
    transferring = next(m for m in report.messages if m.message == "Transferring you to sales.")
    assert failed_line.start_seconds is not None
    assert transferring.end_seconds is not None
    assert failed_line.start_seconds - transferring.end_seconds >= 1.5  # the REFER's ring
