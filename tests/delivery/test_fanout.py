"""FanOutSink answers for its members' delivery outcomes, so the end-of-call metrics count every
webhook delivery when VOICE_AGENT_SINKS names several sinks. Real webhook sinks post to a real
receiver on 127.0.0.1; the jsonl sink (which keeps no outcomes) sits between them."""

from __future__ import annotations

from pathlib import Path

from agent.delivery.base import FanOutSink
from agent.delivery.jsonl import JsonlSink
from agent.delivery.outbox import Outbox
from agent.delivery.target_policy import TargetPolicy
from agent.delivery.webhook import WebhookSink
from agent.worker import metrics
from tests.support.receiver import Receiver, Reply, make_delivery


def webhook(tmp_path: Path, name: str) -> WebhookSink:
    return WebhookSink(TargetPolicy.loopback_allowed(), Outbox(tmp_path / name))


async def test_outcomes_of_every_member_in_order(receiver: Receiver, tmp_path: Path) -> None:
    first, second = webhook(tmp_path, "one"), webhook(tmp_path, "two")
    fan = FanOutSink([first, JsonlSink(tmp_path / "events.jsonl"), second])
    receiver.script("/refused", Reply(400))
    try:
        await fan.submit(make_delivery(receiver.url("/ok"), call_id="call-f", seq=1))
        await fan.submit(make_delivery(receiver.url("/refused"), call_id="call-f", seq=2))
        await fan.submit(make_delivery(receiver.url("/ok"), call_id="other", seq=1))
        await fan.flush("call-f")
        await fan.flush("other")

        outcomes = fan.outcomes("call-f")
        # each webhook sink posted both of the call's deliveries; each parked the 400 in its outbox
        assert [(o.seq, o.outcome) for o in outcomes] == [
            (1, "delivered"),
            (2, "outboxed"),
            (1, "delivered"),
            (2, "outboxed"),
        ]
        assert outcomes == first.outcomes("call-f") + second.outcomes("call-f")
        assert [o.call_id for o in fan.outcomes("other")] == ["other", "other"]
        assert fan.outcomes("never-seen") == []
        # the metrics read the fan-out like a single sink
        assert metrics.outcomes_of(fan, "call-f") == outcomes
    finally:
        await fan.aclose()


def test_members_without_outcomes_give_none(tmp_path: Path) -> None:
    fan = FanOutSink([JsonlSink(tmp_path / "a.jsonl"), JsonlSink(tmp_path / "b.jsonl")])
    assert fan.outcomes("call-x") == []
    assert metrics.outcomes_of(fan, "call-x") == []
