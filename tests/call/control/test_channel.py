"""The control channel: who may send, validation, the rate limit, and each command's effect
on a LiveCall (started on the simulator's room and offline vendors where it must speak)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from livekit import api
from structlog.testing import capture_logs

from agent.call.control import CONTROL_TOPIC
from agent.call.control.channel import ControlChannel
from agent.call.control.rate import SlidingWindowLimit
from agent.call.telephony.caller import CallerParty
from agent.call.telephony.sip import SipGateway
from agent.call.telephony.transfer import WEB_CALL_REFUSED_LINE
from agent.clock import VirtualClock
from agent.report.record import REFUSED_CONTROLS_KEPT
from tests.support.telephony import (
    FakeLiveKit,
    SimCall,
    assistant,
    livekit_server,
    start_sim_call,
    wait_for,
)

__all__ = ["livekit_server"]

DISPATCH: dict[str, Any] = {"call": {"id": "call-control"}, "assistant": assistant()}


def packet(**command: Any) -> bytes:
    return json.dumps(command).encode()


def system_texts(sim: SimCall) -> list[str]:
    return [
        item.text_content or ""
        for item in sim.call.agent.chat_ctx.messages()
        if item.role == "system"
    ]


async def idle_call() -> SimCall:
    """A LiveCall that has not gone live: enough for who-may-send and validation."""
    return await start_sim_call(DISPATCH, start=False)


def test_topic_is_our_own() -> None:
    assert CONTROL_TOPIC == "voice-agent.control"
    assert not CONTROL_TOPIC.startswith("lk.")


def test_sliding_window_counts_the_last_minute_only() -> None:
    now = [0.0]
    limit = SlidingWindowLimit(lambda: now[0], limit=10, window_seconds=60.0)
    for second in range(10):
        now[0] = float(second)
        assert limit.try_take()
    now[0] = 30.0
    assert not limit.try_take()  # 10 taken in the last 60 s
    now[0] = 59.9
    assert not limit.try_take()  # the first (t = 0) is still inside the window
    now[0] = 60.0
    assert limit.try_take()  # t = 0 has left: 60 - 0 >= 60
    assert not limit.try_take()  # t = 1 is still in


async def test_server_packet_is_accepted() -> None:
    sim = await idle_call()
    try:
        channel = ControlChannel(sim.call)
        result = await channel.handle(packet(type="inject-context", content="VIP caller"), None)
    finally:
        await sim.room.aclose()
    assert result.accepted
    assert result.outcome == "ok"
    assert "VIP caller" in system_texts(sim)
    (entry,) = sim.call.record.controls
    assert (entry.command, entry.outcome) == ("inject-context", "ok")


async def test_caller_packet_is_refused_and_logged() -> None:
    sim = await idle_call()
    try:
        channel = ControlChannel(sim.call, allowed_identities=["backend-ops"])
        with capture_logs() as logs:
            result = await channel.handle(
                packet(type="end-call", message="bye"), "sip_+31612345678"
            )
    finally:
        await sim.room.aclose()
    assert not result.accepted
    assert result.outcome == "refused: sender not allowed"
    assert not sim.call.lifecycle.is_ending
    assert [(c.command, c.outcome) for c in sim.call.record.controls] == [
        ("unread", "refused: sender not allowed")
    ]
    (logged,) = [e for e in logs if e["event"] == "control_command"]
    assert logged["outcome"] == "refused: sender not allowed"
    assert logged["sender"] == "participant"
    info_lines = [e for e in logs if e["log_level"] == "info"]
    assert all("+31612345678" not in str(e) for e in info_lines)  # SIP identities hold numbers


async def test_allowlisted_identity_is_accepted() -> None:
    sim = await idle_call()
    try:
        channel = ControlChannel(sim.call, allowed_identities=["backend-ops"])
        result = await channel.handle(
            packet(type="inject-context", content="Order #12 shipped"), "backend-ops"
        )
    finally:
        await sim.room.aclose()
    assert result.outcome == "ok"
    assert "Order #12 shipped" in system_texts(sim)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (packet(type="say"), "say.content: Field required"),
        (packet(type="say", content="hi", end_afer=True), "say.end_afer: Extra inputs"),
        (packet(type="hold-music"), "does not match any of the expected tags"),
        (packet(type="transfer", destination="0612345678"), "transfer.destination"),
        (b"{not json", "not valid JSON"),
    ],
)
async def test_invalid_command_is_refused_with_the_reason(data: bytes, reason: str) -> None:
    sim = await idle_call()
    try:
        result = await ControlChannel(sim.call).handle(data, None)
    finally:
        await sim.room.aclose()
    assert result.outcome.startswith("refused: invalid command: ")
    assert reason in result.outcome


@pytest.mark.parametrize(
    "data",
    [
        b"[" * 100_000,  # nesting deep enough to exhaust json's recursion
        b"\xff\xfe\x00",  # not UTF-8
        b'{"type": "say", "type": "end-call"}',  # ambiguous
        packet(type="end-call"),  # even a valid one
    ],
)
async def test_a_refused_sender_is_checked_before_its_packet_is_parsed(data: bytes) -> None:
    sim = await idle_call()
    try:
        result = await ControlChannel(sim.call).handle(data, "caller-browser")
    finally:
        await sim.room.aclose()
    # Parsed, the first three would be `invalid` and the last `end-call`: never read at all.
    assert (result.command, result.outcome) == ("unread", "refused: sender not allowed")
    assert [(c.command, c.outcome) for c in sim.call.record.controls] == [
        ("unread", "refused: sender not allowed")
    ]


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"[" * 16_000, "nested more than 8 levels deep"),  # past json's recursion limit
        (b'{"type": "say", "content": "hi", "content": "bye"}', "duplicate key 'content'"),
        (b'{"type": "say", "content": "\xc3"}', "not UTF-8"),
        (b"\xff\xfe{\x00}\x00", "not UTF-8"),
        (b'{"type": "say", "content": NaN}', "NaN is not a JSON number"),
        (b'{"type": "say", "content": ' + b"1" * 5000 + b"}", "4300 digits"),
        (b'{"type": "say", "content": {"a": {"b": {"c": {"d": {"e": {"f": {"g": {}}}}}}}}}',
         "nested more than 8 levels deep"),
        (b" " * 20_000, "packet larger than 16384 bytes"),
    ],
)  # fmt: skip
async def test_hostile_packets_from_the_server_are_refused_and_recorded(
    data: bytes, reason: str
) -> None:
    sim = await idle_call()
    try:
        result = await ControlChannel(sim.call).handle(data, None)
    finally:
        await sim.room.aclose()
    assert result.command == "invalid"
    assert result.outcome.startswith("refused: invalid command: ")
    assert reason in result.outcome
    assert [c.command for c in sim.call.record.controls] == ["invalid"]


async def test_a_lone_surrogate_in_a_command_becomes_the_replacement_character() -> None:
    sim = await start_sim_call(DISPATCH)
    try:
        channel = ControlChannel(sim.call)
        result = await channel.handle(
            b'{"type": "inject-context", "content": "VIP \\ud83d caller"}', None
        )
    finally:
        await sim.close()
    assert result.outcome == "ok"
    assert "VIP \ufffd caller" in system_texts(sim)


async def test_more_than_ten_a_minute_are_refused() -> None:
    clock = VirtualClock()
    sim = await idle_call()
    try:
        channel = ControlChannel(sim.call, clock=clock)
        outcomes = []
        for n in range(11):
            clock.advance(1.0)  # one command a second: all eleven inside one minute
            result = await channel.handle(packet(type="inject-context", content=f"note {n}"), None)
            outcomes.append(result.outcome)
        clock.advance(50.0)  # t = 61: the first (t = 1) has left the window
        later = await channel.handle(packet(type="inject-context", content="later"), None)
    finally:
        await sim.room.aclose()
    assert outcomes[:10] == ["ok"] * 10
    assert outcomes[10] == "refused: rate limit (10 per minute)"
    assert "note 10" not in system_texts(sim)
    assert later.outcome == "ok"


async def test_a_flood_of_refused_packets_is_counted_not_kept() -> None:
    """10,000 packets from a participant (the caller's client can publish data): every one is
    refused and counted, only the first few are kept and logged at info, and the call's report
    lists those and says how many there were in all, at the size of a report with five."""
    flood = 10_000
    sim = await idle_call()
    try:
        channel = ControlChannel(sim.call)
        with capture_logs() as logs:
            for n in range(flood):
                data = packet(type="end-call") if n % 2 else b"{not json"
                result = await channel.handle(data, "sip_+31612345678")
                assert not result.accepted
            accepted = await channel.handle(packet(type="inject-context", content="VIP"), None)
        report = await sim.call.finish()
    finally:
        await sim.room.aclose()
    assert accepted.outcome == "ok"  # the flood did not use up the server's rate limit
    assert report.control_refused == flood
    kept = [(c.command, c.outcome) for c in report.control]
    # The sender is checked before the packet is read: none of the flood is parsed.
    assert kept == [
        *[("unread", "refused: sender not allowed")] * REFUSED_CONTROLS_KEPT,
        ("inject-context", "ok"),
    ]
    info = [e for e in logs if e["event"] == "control_command" and e["log_level"] == "info"]
    assert len(info) == REFUSED_CONTROLS_KEPT + 1
    assert len([e for e in logs if e["event"] == "control_command"]) == flood + 1
    (sent,) = sim.sink.messages("end-of-call-report")
    assert sent["control_refused"] == flood
    assert len(json.dumps(sent["control"])) < 1_000


# --- effects in a live simulated call ------------------------------------------------------


@pytest.mark.simulated_call
async def test_end_call_hangs_up_after_a_refused_caller_packet() -> None:
    sim = await start_sim_call(DISPATCH)
    try:
        channel = ControlChannel(sim.call)
        refused = await channel.handle(packet(type="end-call"), "caller-browser")
        assert refused.outcome == "refused: sender not allowed"
        assert not sim.call.lifecycle.is_ending
        done = await channel.handle(packet(type="end-call", message="Goodbye from ops."), None)
        assert done.outcome == "ok"
        await sim.ended()
        report = await sim.call.finish()
    finally:
        await sim.close()
    assert report.end_reason == "agent_hangup"
    assert report.end_detail == "control_end_call"
    said = [m.text for m in sim.call.record.messages() if m.role == "assistant"]
    assert "Goodbye from ops." in said
    assert [(c.command, c.outcome) for c in report.control] == [
        ("unread", "refused: sender not allowed"),
        ("end-call", "ok"),
    ]


@pytest.mark.simulated_call
async def test_say_then_end() -> None:
    sim = await start_sim_call(DISPATCH)
    try:
        channel = ControlChannel(sim.call)
        result = await channel.handle(
            packet(type="say", content="Your order has shipped.", end_after=True), None
        )
        assert result.outcome == "ok"
        await sim.ended()
        report = await sim.call.finish()
    finally:
        await sim.close()
    assert report.end_reason == "agent_hangup"
    assert report.end_detail == "control_end_after"
    said = [m.text for m in sim.call.record.messages() if m.role == "assistant"]
    assert said == ["Your order has shipped."]


@pytest.mark.simulated_call
async def test_inject_context_with_trigger_reaches_the_llm() -> None:
    sim = await start_sim_call(DISPATCH, llm_replies=[{"say": "Welcome back, John."}])
    try:
        channel = ControlChannel(sim.call)
        result = await channel.handle(
            packet(type="inject-context", content="Customer verified: John", trigger_response=True),
            None,
        )
        assert result.outcome == "ok"
        record = sim.call.record
        await wait_for(lambda: any(m.text == "Welcome back, John." for m in record.messages()))
    finally:
        await sim.close()
    (request,) = sim.llm.requests
    sent = [m.text_content for m in request.chat_ctx.messages() if m.role == "system"]
    assert "Customer verified: John" in sent


@pytest.mark.simulated_call
async def test_transfer_command_refers_a_sip_caller(livekit_server: FakeLiveKit) -> None:
    livekit_server.answers["livekit.SIP/TransferSIPParticipant"] = (
        api.TransferSIPParticipantResponse(status="STS_TRANSFER_SUCCESSFUL")
    )
    async with livekit_server.api() as lkapi:
        sim = await start_sim_call(
            DISPATCH,
            sip=SipGateway(lkapi, "telephony-room"),
            caller=CallerParty("sip_caller", is_sip=True),
        )
        try:
            channel = ControlChannel(sim.call, transfer=sim.phone.transfer)
            result = await channel.handle(
                packet(type="transfer", destination="sip:sales@pbx.example", message="One moment."),
                None,
            )
            await sim.ended()
            report = await sim.call.finish()
        finally:
            await sim.close()
    assert result.outcome == "transferred: control"
    (request,) = livekit_server.requests("livekit.SIP/TransferSIPParticipant")
    assert request.transfer_to == "sip:sales@pbx.example"
    assert request.participant_identity == "sip_caller"
    assert report.end_reason == "transferred"


@pytest.mark.simulated_call
async def test_transfer_command_on_a_web_call_is_refused_aloud() -> None:
    sim = await start_sim_call(DISPATCH, caller=CallerParty("browser", is_sip=False))
    try:
        channel = ControlChannel(sim.call, transfer=sim.phone.transfer)
        result = await channel.handle(packet(type="transfer", destination="+31201234567"), None)
        record = sim.call.record
        await wait_for(lambda: any(m.text == WEB_CALL_REFUSED_LINE for m in record.messages()))
        assert not sim.call.lifecycle.is_ending
    finally:
        await sim.close()
    assert result.outcome == "refused: web call: no SIP participant to refer"
