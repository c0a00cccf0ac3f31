"""Signed means signed: a delivery the document asked to be signed never goes out unsigned.

Without a secret it is parked with the reason; replay signs it with the operator's default
secret when there is one and otherwise keeps holding it. The tool client refuses the same.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from agent.call.tools.tool_server import ToolServerClient, ToolServerError
from agent.delivery.attempt import SIGNATURE_UNAVAILABLE
from agent.delivery.outbox import Outbox
from agent.delivery.target_policy import TargetPolicy
from agent.delivery.webhook import WebhookSink
from tests.support.receiver import SECRET, Receiver, make_delivery


async def test_the_sink_parks_instead_of_sending_unsigned(
    receiver: Receiver, tmp_path: Path
) -> None:
    outbox = Outbox(tmp_path)
    sink = WebhookSink(TargetPolicy.loopback_allowed(), outbox)
    delivery = dataclasses.replace(
        make_delivery(receiver.url("/hook"), secret=None), requires_signature=True
    )
    await sink.submit(delivery)
    await sink.aclose()
    assert receiver.received == []
    [outcome] = sink.outcomes(delivery.call_id)
    assert (outcome.outcome, outcome.reason) == ("outboxed", SIGNATURE_UNAVAILABLE)
    [parked] = outbox.pending()
    assert parked.entry.requires_signature
    assert parked.entry.secret is None


async def test_an_unsigned_delivery_nobody_asked_to_sign_still_goes_out(
    receiver: Receiver, tmp_path: Path
) -> None:
    # The contract for a document without any webhook_secret and no operator default.
    sink = WebhookSink(TargetPolicy.loopback_allowed(), Outbox(tmp_path))
    await sink.submit(make_delivery(receiver.url("/hook"), secret=None))
    await sink.aclose()
    [got] = receiver.received
    assert got.signature_ok is None


async def test_replay_holds_it_without_a_secret_and_signs_it_with_the_default(
    receiver: Receiver, tmp_path: Path
) -> None:
    outbox = Outbox(tmp_path)
    delivery = dataclasses.replace(
        make_delivery(receiver.url("/hook"), secret=None), requires_signature=True
    )
    outbox.park(delivery, reason=SIGNATURE_UNAVAILABLE)
    held = await outbox.replay(TargetPolicy.loopback_allowed())
    assert (held.held, held.delivered, held.remaining) == (1, 0, 1)
    assert receiver.received == []
    # The operator has set VOICE_AGENT_WEBHOOK_SECRET since (the receiver verifies with it).
    done = await outbox.replay(TargetPolicy.loopback_allowed(), default_secret=SECRET)
    assert (done.delivered, done.remaining) == (1, 0)
    [got] = receiver.received
    assert got.signature_ok is True
    assert got.headers["X-Webhook-Id"] == delivery.delivery_id


async def test_sending_directly_refuses_too(receiver: Receiver, tmp_path: Path) -> None:
    sink = WebhookSink(TargetPolicy.loopback_allowed(), Outbox(tmp_path))
    delivery = dataclasses.replace(
        make_delivery(receiver.url("/hook"), secret=None), requires_signature=True
    )
    result = await sink.send(delivery)
    await sink.aclose()
    assert (result.verdict, result.reason) == ("refused", SIGNATURE_UNAVAILABLE)
    assert receiver.received == []


async def test_the_tool_client_refuses_to_send_unsigned(receiver: Receiver) -> None:
    client = ToolServerClient(TargetPolicy.loopback_allowed())
    delivery = dataclasses.replace(
        make_delivery(receiver.url("/tools"), secret=None), requires_signature=True
    )
    with pytest.raises(ToolServerError, match="signing secret"):
        await client.post(delivery)
    await client.aclose()
    assert receiver.received == []
