"""A real webhook receiver on 127.0.0.1 for the sink tests, with the seeds' verifiers.

Every request the receiver captures is checked with the platform documentation's own code,
copied verbatim: ``verify_webhook_signature`` (seeds/001) for HMS deliveries, the "Verify the
signature" snippet (seeds/004) for CallMissed ones. If our signing ever drifts from what
receivers run, every sink test fails. The tests in this file check the receiver itself.
"""

from __future__ import annotations

import inspect
import textwrap

import pytest
from multidict import CIMultiDict

from agent.delivery.signing import sign_callmissed
from tests.support import callmissed
from tests.support.callmissed import callmissed_verdict
from tests.support.paths import SEEDS
from tests.support.receiver import (
    SECRET,
    Receiver,
    Reply,
    verify_webhook_signature,
)

SEED = SEEDS / "001_2de4bd04417139a6.txt"
CALLMISSED_SEED = SEEDS / "004_7263bb0198f1bc3b.txt"


def test_verifier_is_the_seed_code_verbatim() -> None:
    if not SEED.exists():
        pytest.skip("seed documents not available")
    source = inspect.getsource(verify_webhook_signature)
    assert source in SEED.read_text()


def test_callmissed_verifier_is_the_seed_code_verbatim() -> None:
    if not CALLMISSED_SEED.exists():
        pytest.skip("seed documents not available")
    source = inspect.getsource(callmissed)
    start = source.index("# --- verbatim from seeds/004_7263bb0198f1bc3b.txt")
    block = source[source.index("\n", start) + 1 : source.index("    # --- end verbatim ---")]
    snippet = textwrap.dedent(block)
    assert snippet.startswith("import hmac, hashlib\n")
    assert snippet.rstrip().endswith("assert hmac.compare_digest(expected, received)")
    assert snippet in CALLMISSED_SEED.read_text()


async def test_callmissed_verifier_rejects_tampering_and_a_missing_signature() -> None:
    body = '{"id":"call-1","status":"active","note":"café"}'.encode()
    # Header names are case-insensitive, as in the Starlette request the snippet is written for.
    headers = CIMultiDict({"x-callmissed-signature": sign_callmissed(body, SECRET)})
    assert await callmissed_verdict(body, headers, SECRET)
    assert not await callmissed_verdict(body + b" ", headers, SECRET)
    assert not await callmissed_verdict(body, headers, "other")
    assert not await callmissed_verdict(body, CIMultiDict(), SECRET)  # KeyError in the seed code


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
