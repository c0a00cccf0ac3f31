"""A real webhook receiver on 127.0.0.1 for the sink tests, with the seed's verifier.

Every request the receiver captures is checked with ``verify_webhook_signature`` copied
verbatim from the platform documentation (seeds/001): if our signing ever drifts from what
receivers run, every sink test fails. The tests in this file check the receiver itself.
"""

from __future__ import annotations

import inspect

import pytest

from tests.support.paths import SEEDS
from tests.support.receiver import (
    SECRET,
    Receiver,
    Reply,
    verify_webhook_signature,
)

SEED = SEEDS / "001_2de4bd04417139a6.txt"


def test_verifier_is_the_seed_code_verbatim() -> None:
    if not SEED.exists():
        pytest.skip("seed documents not available")
    source = inspect.getsource(verify_webhook_signature)
    assert source in SEED.read_text()


def test_verifier_rejects_a_tampered_body() -> None:
    from agent.delivery.signing import sign

    signature = sign(b'{"a":1}', SECRET, 1700000000)
    assert verify_webhook_signature('{"a":1}', "1700000000", signature, SECRET)
    assert not verify_webhook_signature('{"a":2}', "1700000000", signature, SECRET)
    assert not verify_webhook_signature('{"a":1}', "1700000001", signature, SECRET)
    assert not verify_webhook_signature('{"a":1}', "1700000000", signature, "other")


async def test_receiver_scripts_replies_in_order(receiver: Receiver) -> None:
    import aiohttp

    url = receiver.script("/x", Reply(500), Reply(200))
    async with aiohttp.ClientSession() as session:
        statuses = []
        for _ in range(3):
            async with session.post(url, data=b"{}") as response:
                statuses.append(response.status)
    assert statuses == [500, 200, 200]
    assert [r.signature_ok for r in receiver.at("/x")] == [None, None, None]
