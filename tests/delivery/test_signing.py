"""Signatures and headers, checked with the platform's own verifier (seeds/001)."""

from __future__ import annotations

import hashlib
import hmac

from hypothesis import given
from hypothesis import strategies as st
from multidict import CIMultiDict

from agent.delivery.signing import delivery_headers, sign
from tests.support.callmissed import callmissed_verdict
from tests.support.receiver import SECRET, make_delivery, verify_webhook_signature


def test_signature_is_hmac_sha256_over_timestamp_dot_body() -> None:
    body = b'{"message":{"type":"status-update"}}'
    expected = hmac.new(b"k", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert sign(body, "k", 1700000000) == f"sha256={expected}"


@given(text=st.text(), secret=st.text(min_size=1), timestamp=st.integers(0, 2**40))
def test_the_seed_verifier_accepts_every_signature(text: str, secret: str, timestamp: int) -> None:
    # any UTF-8 body, including surrogate-free unicode and control characters
    body = text.encode("utf-8", errors="surrogatepass")
    try:
        payload = body.decode("utf-8")
    except UnicodeDecodeError:
        return  # not a body the events module can produce (JSON is valid UTF-8)
    signature = sign(body, secret, timestamp)
    assert verify_webhook_signature(payload, str(timestamp), signature, secret)


def test_headers_carry_id_event_timestamp_and_signature() -> None:
    delivery = make_delivery("https://hooks.example/x", event_type="end-of-call-report")
    headers = delivery_headers(delivery, 1700000123.9)
    assert headers["Content-Type"] == "application/json"
    assert headers["X-Webhook-Timestamp"] == "1700000123"
    assert headers["X-Webhook-Id"] == delivery.delivery_id
    assert headers["X-Webhook-Event"] == "end-of-call-report"
    assert verify_webhook_signature(
        delivery.body.decode(), "1700000123", headers["X-Webhook-Signature"], SECRET
    )


def test_no_secret_means_no_signature_header() -> None:
    headers = delivery_headers(make_delivery("https://hooks.example/x", secret=None), 1.0)
    assert "X-Webhook-Signature" not in headers


def test_the_delivery_repr_hides_secret_and_body() -> None:
    delivery = make_delivery("https://hooks.example/x?token=t0k")
    text = repr(delivery)
    assert SECRET not in text
    assert "café" not in text
    assert "t0k" not in text
    assert delivery.delivery_id in text


# --- CallMissed (seeds/004): X-CallMissed-* headers, HMAC over the raw body ---------------------


def test_callmissed_headers_name_the_event_and_delivery_and_sign_the_raw_body() -> None:
    body = b'{"id":"call-1","status":"active"}'
    delivery = make_delivery(
        "https://hooks.example/x", event_type="voice_session.started", body=body, wire="callmissed"
    )
    headers = delivery_headers(delivery, 1700000123.9)
    expected = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert headers == {
        "Content-Type": "application/json",
        "User-Agent": headers["User-Agent"],
        "X-CallMissed-Event": "voice_session.started",
        "X-CallMissed-Delivery": delivery.delivery_id,
        "X-CallMissed-Signature": f"sha256={expected}",
    }
    # One signature scheme per receiver: no X-Webhook-* beside them, and no timestamp in it.
    assert delivery_headers(delivery, 1.0) == headers


def test_unsigned_callmissed_delivery_has_no_signature_header() -> None:
    delivery = make_delivery("https://hooks.example/x", secret=None, wire="callmissed")
    assert "X-CallMissed-Signature" not in delivery_headers(delivery, 1.0)


@given(text=st.text(), secret=st.text(min_size=1))
async def test_the_callmissed_seed_snippet_accepts_every_signature(text: str, secret: str) -> None:
    body = text.encode("utf-8", errors="surrogatepass")
    delivery = make_delivery("https://hooks.example/x", body=body, secret=secret, wire="callmissed")
    headers = CIMultiDict(delivery_headers(delivery, 1.0))
    assert await callmissed_verdict(body, headers, secret)
