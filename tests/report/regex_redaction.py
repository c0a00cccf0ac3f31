"""The regexes agent/report/redaction.py replaced, kept as the reference for what gdpr_mode
redacts: tests/report/test_redaction_linear.py checks that the scanner redacts exactly what these
did. Feed them short texts only: the national-number alternative below backtracks
catastrophically (``"0" + 400 digits + "x"`` takes two minutes), which is why it was replaced.
Copied unchanged from the module as it was, but for this docstring.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

EMAIL = "[EMAIL]"
PHONE = "[PHONE]"
CARD = "[CARD]"
IBAN = "[IBAN]"

_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b")

# IBAN lengths by country (ISO 13616 registry).
_IBAN_REGISTRY = (
    "AD24 AE23 AL28 AT20 AZ28 BA20 BE16 BG22 BH22 BR29 BY28 CH21 CR22 CY28 CZ24 DE22 DK18 "
    "DO28 EE20 EG29 ES24 FI18 FO18 FR27 GB22 GE22 GI23 GL18 GR27 GT28 HR21 HU28 IE22 IL23 "
    "IQ23 IS26 IT27 JO30 KW30 KZ20 LB28 LC32 LI21 LT20 LU20 LV21 MC27 MD24 ME22 MK19 MR27 "
    "MT31 MU30 NL18 NO15 PK24 PL28 PS29 PT25 QA29 RO24 RS22 SA24 SC31 SE24 SI19 SK24 SM27 "
    "ST25 SV28 TL23 TN24 TR26 UA29 VA22 VG24 XK20"
)
_IBAN_LENGTHS = {entry[:2]: int(entry[2:]) for entry in _IBAN_REGISTRY.split(" ")}
_IBAN = re.compile(r"\b[A-Za-z]{2}\d{2}(?:[ -]?[A-Za-z0-9]){11,30}\b")

_CARD = re.compile(r"(?<![\d+])\d(?:[ -]?\d){12,30}(?!\d)")

_PHONE = re.compile(
    r"""
    (?<![\w+/.:-])
    (?:
        (?:\+|\b00)[1-9][\d\s().-]{6,20}\d            # international: +31 6 1234 5678, 0044…
      | \(?\b0\d{1,4}\)?(?:[\s.-]?\d{2,}){1,4}        # national with trunk 0: 06-12345678
      | (?:\(\d{3}\)\s?|\b\d{3}[.-])\d{3}[\s.-]\d{4}  # North American: (555) 123-4567
    )
    (?![\w/:-])
    """,
    re.VERBOSE,
)
_DATE = re.compile(r"^(?:\d{4}[-./]\d{1,2}[-./]\d{1,2}|\d{1,2}[-./]\d{1,2}[-./]\d{2,4})$")


def redact(text: str) -> str:
    """``text`` with e-mail addresses, IBANs, card numbers and phone numbers replaced."""
    text = _EMAIL.sub(EMAIL, text)
    text = _IBAN.sub(_iban, text)
    text = _CARD.sub(_card, text)
    return _PHONE.sub(_phone, text)


def redact_data(value: Any) -> Any:
    """Every string inside a JSON-like value redacted (keys kept)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, Mapping):
        return {key: redact_data(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [redact_data(item) for item in value]
    return value


def _iban(match: re.Match[str]) -> str:
    # The pattern is greedy ("NL91 ABNA 0417 1643 00 and" runs into "and"): the country's
    # registered length says where the IBAN ends; the rest of the match is kept.
    found = match.group()
    length = _IBAN_LENGTHS.get(found[:2].upper())
    if length is None:
        return found
    compact = 0
    for end, char in enumerate(found, start=1):
        if char.isalnum():
            compact += 1
            if compact == length:
                candidate = re.sub(r"[ -]", "", found[:end]).upper()
                if _mod97(candidate) == 1 and (end == len(found) or not found[end].isalnum()):
                    return IBAN + found[end:]
                return found
    return found


def _mod97(iban: str) -> int:
    rearranged = iban[4:] + iban[:4]
    return int("".join(str(int(c, 36)) for c in rearranged)) % 97


def _card(match: re.Match[str]) -> str:
    # Digit groups as written; the card is the longest run of whole groups with 13–19 digits
    # passing Luhn ("4111 1111 1111 1111 12 25" keeps the expiry).
    found = match.group()
    groups = re.split(r"([ -])", found)  # digits, sep, digits, sep, …
    digits = groups[0::2]
    for size in range(len(digits), 0, -1):
        for start in range(len(digits) - size + 1):
            number = "".join(digits[start : start + size])
            if 13 <= len(number) <= 19 and _luhn(number):
                before = "".join(groups[: 2 * start])
                after = (
                    "".join(groups[2 * (start + size) - 1 :]) if start + size < len(digits) else ""
                )
                return before + CARD + after
    return found


def _luhn(number: str) -> bool:
    total = 0
    for i, char in enumerate(reversed(number)):
        digit = int(char)
        if i % 2:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0


def _phone(match: re.Match[str]) -> str:
    found = match.group()
    if _DATE.match(found.strip()):
        return found
    digits = sum(c.isdigit() for c in found)
    if found.startswith("00"):
        digits -= 2
    international = found.startswith(("+", "00"))
    # E.164 allows 15 digits; a national number is at least 9 with its trunk 0 (06 1234 5678,
    # 020 123 4567) and North American ones are 10: fewer is an extension or an order number.
    if (international and 8 <= digits <= 15) or (not international and 9 <= digits <= 12):
        return PHONE
    return found
