"""gdpr_mode redaction, table-driven: what must go and what must stay."""

from __future__ import annotations

from typing import Any

import pytest

from agent.report.redaction import mask_numbers, redact, redact_data

REDACTED = [
    # e-mail
    ("mail me at jan.de-vries+x@example.co.uk please", "mail me at [EMAIL] please"),
    ("JAN@EXAMPLE.COM.", "[EMAIL]."),
    # IBAN (valid checksums), compact, grouped, lower case, followed by words
    ("NL91ABNA0417164300", "[IBAN]"),
    ("iban NL91 ABNA 0417 1643 00 and more", "iban [IBAN] and more"),
    ("DE89 3704 0044 0532 0130 00.", "[IBAN]."),
    ("GB82 WEST 1234 5698 7654 32", "[IBAN]"),
    ("nl91abna0417164300", "[IBAN]"),
    # payment cards (Luhn-valid)
    ("card 4111 1111 1111 1111 exp 12 25", "card [CARD] exp 12 25"),
    ("4111-1111-1111-1111", "[CARD]"),
    ("4111111111111111", "[CARD]"),
    ("amex 3782 822463 10005 ok", "amex [CARD] ok"),
    ("4222222222222", "[CARD]"),  # 13 digits
    ("card 4111 1111 1111 1111 12 25", "card [CARD] 12 25"),  # the expiry stays
    # phone numbers
    ("call +31 6 1234 5678", "call [PHONE]"),
    ("+31612345678", "[PHONE]"),
    ("+44 20 7946 0958.", "[PHONE]."),
    ("0044 20 7946 0958", "[PHONE]"),
    ("my number is 06 12345678", "my number is [PHONE]"),
    ("0612345678", "[PHONE]"),
    ("(020) 123 4567", "[PHONE]"),
    ("020-1234567", "[PHONE]"),
    ("555-123-4567", "[PHONE]"),
    ("(555) 123-4567", "[PHONE]"),
    ("555.123.4567", "[PHONE]"),
    # several kinds in one line
    ("jan@example.com, +31612345678, NL91ABNA0417164300",
     "[EMAIL], [PHONE], [IBAN]"),
]  # fmt: skip

KEPT = [
    "at 12:30 on 2024-05-01",
    "on 01.02.2024 or 01/02/2024 or 1-2-2024",
    "order 12345 in 1999",
    "room 404, floor 3",
    "version 10.0.19045",
    "pi is 3.14159265",
    "price €1,250.00 or 1.250.000",
    "1234 5678 9012 3456",  # fails Luhn
    "4111 1111 1111 1112",  # fails Luhn
    "NL91ABNA0417164301",  # bad IBAN checksum
    "AB12 CDEF GHIJ KLMN",  # no such country
    "a table for 2 at 8",
    "555-1234",  # seven digits: too short
    "+31 6",  # too short
    "reference 0042",
    "see you at 7.30 pm",
    "an email without domain: jan@",
]


@pytest.mark.parametrize(("text", "expected"), REDACTED)
def test_personal_data_is_replaced(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize("text", KEPT)
def test_look_alikes_are_kept(text: str) -> None:
    assert redact(text) == text


def test_redact_data_walks_json_and_keeps_keys_and_non_strings() -> None:
    value: dict[str, Any] = {
        "jan@example.com": ["call +31612345678", 3, None, True],
        "nested": {"iban": "NL91ABNA0417164300", "count": 2.5},
    }
    assert redact_data(value) == {
        "jan@example.com": ["call [PHONE]", 3, None, True],
        "nested": {"iban": "[IBAN]", "count": 2.5},
    }


# -- mask_numbers: the logs' blunter rule ----------------------------------------------------

MASKED = [
    ("sip_+31612345678", "sip_[PHONE]"),  # LiveKit SIP participant identity
    ("call-_31612345678_x3Fq", "call-_[PHONE]_x3Fq"),  # a SIP dispatch rule's room name
    ("sip:+31201234567@pbx.example", "sip:[PHONE]@pbx.example"),
    ("dial +31 6 1234 5678 failed", "dial [PHONE] failed"),
    ("0612345678", "[PHONE]"),
    ("1234567", "[PHONE]"),  # seven digits: the shortest E.164 number
]

UNMASKED = [
    "550e8400-e29b-41d4-a716-446655440000",  # a UUID's digit groups are glued to '-'
    "order-12345678",
    "x1234567",
    "486 Busy Here",
    "123456 and 654321",
    "room-9",
]


@pytest.mark.parametrize(("text", "expected"), MASKED)
def test_mask_numbers_masks_numbers_in_names_and_text(text: str, expected: str) -> None:
    assert mask_numbers(text) == expected


@pytest.mark.parametrize("text", UNMASKED)
def test_mask_numbers_keeps_ids_and_short_numbers(text: str) -> None:
    assert mask_numbers(text) == text
