"""Personal data out of text: what ``gdpr_mode`` does to a report, and what log scrubbing uses.

``redact`` is the report's: it tells the kinds apart and keeps look-alikes. ``mask_numbers`` is
the logs' (and the SIP error texts'): blunter, any run of seven or more digits standing on its
own goes, also where ``redact`` would not look (``sip_+31612345678``, ``call-_31612345678_x3Fq``,
``sip:+31201234567@pbx``).

Four kinds are replaced with a placeholder: e-mail addresses ``[EMAIL]``, IBANs ``[IBAN]``
(ISO 13616 length per country and mod-97 checksum), payment card numbers ``[CARD]`` (13–19
digits, spaces or dashes between groups, Luhn checksum) and phone numbers ``[PHONE]`` (E.164 /
``00`` international, national numbers with a trunk ``0``, North American ``(555) 123-4567``).

Checksums and shapes keep the false positives down: times (``12:30``), dates (``2024-05-01``,
``01.02.2024``), amounts, years and short numbers (order 12345) stay. The passes run in the
order e-mail, IBAN, card, phone so a longer match is never half-eaten by a shorter one.
Redaction errs on the safe side: a 16-digit Luhn-valid order number is redacted as a card.

Why a scanner and not four regexes: redaction runs on text a caller, a model or a tenant wrote,
so it must cost time proportional to the text whatever the text is. The regexes this replaces
said the same things but one of them backtracked catastrophically: the national-number
alternative ``(?:[\\s.-]?\\d{2,}){1,4}`` tried every way of cutting a long digit run into four
pieces, so ``"0" + 400 digits + "x"`` took two minutes. Each pass here finds its candidate
starts with a pattern that reads every character once (one character class, or a fixed-length
prefix after a one-character look-behind), then checks each candidate with a bounded walk:

- e-mail: one candidate per ``@``; the local part is the run of ``[\\w.+-]`` before it (runs
  before different ``@`` are disjoint), the domain the run of ``[A-Za-z0-9.-]`` after it;
- IBAN and card: one candidate per group start, at most 30 more characters looked at;
- phone: one candidate per number start; international numbers look at most 21 characters
  ahead, North American ones 15, national ones at most five digit runs (a run is measured
  at most twice per candidate, and at most ten candidates reach any one run).

Every candidate and every character a walk reads is counted in a `Steps` counter (about ten
per character at worst, on single digits between spaces), so the linearity is a test of the
count (tests/report/test_redaction_linear.py), not of a stopwatch. The matches are the ones the
old regexes found (same starts, same greedy ends, the same ``re.sub`` resumption after a match);
the same test replays the old regexes (tests/report/regex_redaction.py) on short inputs.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

EMAIL = "[EMAIL]"
PHONE = "[PHONE]"
CARD = "[CARD]"
IBAN = "[IBAN]"

# IBAN lengths by country (ISO 13616 registry).
_IBAN_REGISTRY = (
    "AD24 AE23 AL28 AT20 AZ28 BA20 BE16 BG22 BH22 BR29 BY28 CH21 CR22 CY28 CZ24 DE22 DK18 "
    "DO28 EE20 EG29 ES24 FI18 FO18 FR27 GB22 GE22 GI23 GL18 GR27 GT28 HR21 HU28 IE22 IL23 "
    "IQ23 IS26 IT27 JO30 KW30 KZ20 LB28 LC32 LI21 LT20 LU20 LV21 MC27 MD24 ME22 MK19 MR27 "
    "MT31 MU30 NL18 NO15 PK24 PL28 PS29 PT25 QA29 RO24 RS22 SA24 SC31 SE24 SI19 SK24 SM27 "
    "ST25 SV28 TL23 TN24 TR26 UA29 VA22 VG24 XK20"
)
_IBAN_LENGTHS = {entry[:2]: int(entry[2:]) for entry in _IBAN_REGISTRY.split(" ")}

# Candidate starts and runs. Each pattern reads a character at most once per position it is
# tried at and never backtracks: a single character class, or a fixed-length prefix.
_DIGIT_RUN = re.compile(r"\d*")
_DOMAIN_RUN = re.compile(r"[A-Za-z0-9.-]*")
_LETTER_RUN = re.compile(r"[A-Za-z]*")
_IBAN_START = re.compile(r"\b[A-Za-z]{2}\d{2}")
_CARD_START = re.compile(r"(?<![\d+])\d")
_PHONE_START = re.compile(r"(?<![\w+/.:-])[+(\d]")
_ANY_DIGIT = re.compile(r"\d")
_NUMBER_RUN = re.compile(r"\+?\d(?:[ .()-]{0,2}\d)*")
"""Digits, at most two separators between any two. Nothing follows the repetition, so a match
is never given back; a separator not followed by a digit costs two retries."""
_DATE = re.compile(r"^(?:\d{4}[-./]\d{1,2}[-./]\d{1,2}|\d{1,2}[-./]\d{1,2}[-./]\d{2,4})$")

_ASCII_ALNUM = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
_INTERNATIONAL_FILL = frozenset("().-")
"""With digits and white space: what may stand between the digits of an international number."""
_GROUP_SEPARATORS = frozenset(".-")
"""With white space: what may separate the digit groups of a national number."""


class Steps:
    """How much work redaction did: one per candidate, plus every character a walk read.

    Redaction is linear when this stays below a constant times the length of the text; the
    linearity test counts it instead of timing a shared machine."""

    __slots__ = ("count",)

    def __init__(self) -> None:
        self.count = 0


def redact(text: str, steps: Steps | None = None) -> str:
    """``text`` with e-mail addresses, IBANs, card numbers and phone numbers replaced."""
    steps = steps if steps is not None else Steps()
    text = _emails(text, steps)
    text = _ibans(text, steps)
    text = _cards(text, steps)
    return _phones(text, steps)


def mask_numbers(text: str) -> str:
    """``text`` with every phone-number-like run of digits replaced by ``[PHONE]``: seven or
    more digits (the shortest E.164 number the contracts accept), up to two of `` .()-``
    between any two, that start with ``+`` or stand on their own (not glued to a letter, a
    digit or a ``-``: the digit groups of a UUID stay). Linear: the pattern never gives back
    what it matched, and each character is read by one match at most."""
    if _ANY_DIGIT.search(text) is None:  # most log values: one C-speed pass
        return text
    out: list[str] = []
    done = 0
    for found in _NUMBER_RUN.finditer(text):
        start, end = found.span()
        digits = sum(char.isdecimal() for char in found.group())
        on_its_own = text[start] == "+" or (not _glued(text, start - 1) and not _glued(text, end))
        if digits >= 7 and on_its_own:
            out += (text[done:start], PHONE)
            done = end
    out.append(text[done:])
    return "".join(out)


def _glued(text: str, i: int) -> bool:
    return 0 <= i < len(text) and (text[i].isalnum() or text[i] == "-")


def redact_data(value: Any) -> Any:
    """Every string inside a JSON-like value redacted (keys kept)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, Mapping):
        return {key: redact_data(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [redact_data(item) for item in value]
    return value


# -- characters ---------------------------------------------------------------------------------
# The old regexes' classes, exactly: ``\w`` is alphanumeric or ``_``, ``\d`` a decimal digit,
# ``\s`` white space, all in Unicode.


def _is_word(char: str) -> bool:
    return char.isalnum() or char == "_"


def _is_local(char: str) -> bool:
    return char.isalnum() or char in "_.+-"


def _word_at(text: str, i: int) -> bool:
    return i < len(text) and _is_word(text[i])


def _run_end(run: re.Pattern[str], text: str, i: int, end: int | None = None) -> int:
    """Where the run of ``run`` (one starred character class) from ``i`` ends."""
    found = run.match(text, i, len(text) if end is None else end)
    return found.end() if found is not None else i


def _digit_run(text: str, i: int, steps: Steps) -> int:
    length = _run_end(_DIGIT_RUN, text, i) - i
    steps.count += length + 1
    return length


# -- e-mail: [\w.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b, not after [\w.+-] -----


def _emails(text: str, steps: Steps) -> str:
    out: list[str] = []
    done = 0  # text[:done] is in ``out``; also where the last match ended
    at = text.find("@")
    while at != -1:
        steps.count += 1
        start = at
        while start > done and _is_local(text[start - 1]):
            start -= 1
        steps.count += at - start
        # The local part is the whole run before the "@": a run reaching back into the last
        # match (which ends in a letter) has no start of its own.
        if start < at and (start > done or start == 0):
            end = _email_domain_end(text, at + 1, steps)
            if end is not None:
                out += (text[done:start], EMAIL)
                done = end
        at = text.find("@", at + 1)
    out.append(text[done:])
    return "".join(out)


def _email_domain_end(text: str, i: int, steps: Steps) -> int | None:
    """Where the domain after the ``@`` at ``i - 1`` ends, or None."""
    run_end = _run_end(_DOMAIN_RUN, text, i)
    steps.count += run_end - i + 1
    labels = text[i:run_end].split(".")
    if not labels[0]:
        return None
    starts = [i]
    for label in labels[:-1]:
        starts.append(starts[-1] + len(label) + 1)
    # The greedy (\.label)* takes every non-empty label; backing off one label at a time, the
    # first label that begins with two ASCII letters ending a word is the top-level domain.
    full = 1
    while full < len(labels) and labels[full]:
        full += 1
    for tld in range(min(full, len(labels) - 1), 0, -1):
        begin = starts[tld]
        letters = _run_end(_LETTER_RUN, text, begin, begin + len(labels[tld])) - begin
        steps.count += letters + 1
        if letters >= 2 and not _word_at(text, begin + letters):
            return begin + letters
    return None


# -- IBAN: \b[A-Za-z]{2}\d{2}(?:[ -]?[A-Za-z0-9]){11,30}\b ---------------------------------------


def _ibans(text: str, steps: Steps) -> str:
    out: list[str] = []
    done = 0
    n = len(text)
    for found in _IBAN_START.finditer(text):
        steps.count += 1
        start = found.start()
        if start < done:
            continue
        ends: list[int] = []  # ends[k - 1]: where the k-th character after the prefix ends
        i = found.end()
        while len(ends) < 30 and i < n:
            steps.count += 1
            if text[i] in " -" and i + 1 < n and text[i + 1] in _ASCII_ALNUM:
                i += 2
            elif text[i] in _ASCII_ALNUM:
                i += 1
            else:
                break
            ends.append(i)
        for end in reversed(ends[10:]):  # at least 11, longest first, ending a word
            if not _word_at(text, end):
                out += (text[done:start], _iban(text[start:end]))
                done = end
                break
    out.append(text[done:])
    return "".join(out)


def _iban(found: str) -> str:
    # The span is greedy ("NL91 ABNA 0417 1643 00 and" runs into "and"): the country's
    # registered length says where the IBAN ends; the rest of the span is kept.
    length = _IBAN_LENGTHS.get(found[:2].upper())
    if length is None:
        return found
    compact = 0
    for end, char in enumerate(found, start=1):
        if char.isalnum():
            compact += 1
            if compact == length:
                candidate = found[:end].replace(" ", "").replace("-", "").upper()
                if _mod97(candidate) == 1 and (end == len(found) or not found[end].isalnum()):
                    return IBAN + found[end:]
                return found
    return found


def _mod97(iban: str) -> int:
    rearranged = iban[4:] + iban[:4]
    return int("".join(str(int(c, 36)) for c in rearranged)) % 97


# -- cards: \d(?:[ -]?\d){12,30}, not after [\d+], not before \d -----------------------------------


def _cards(text: str, steps: Steps) -> str:
    out: list[str] = []
    done = 0
    n = len(text)
    for found in _CARD_START.finditer(text):
        steps.count += 1
        start = found.start()
        if start < done:
            continue
        ends: list[int] = []  # ends[k - 1]: where the k-th digit after the first ends
        i = start + 1
        while len(ends) < 30 and i < n:
            steps.count += 1
            if text[i] in " -" and i + 1 < n and text[i + 1].isdecimal():
                i += 2
            elif text[i].isdecimal():
                i += 1
            else:
                break
            ends.append(i)
        for end in reversed(ends[11:]):  # at least 13 digits, longest first, not before a digit
            if end == n or not text[end].isdecimal():
                out += (text[done:start], _card(text[start:end], steps))
                done = end
                break
    out.append(text[done:])
    return "".join(out)


def _card(found: str, steps: Steps) -> str:
    # Digit groups as written; the card is the run of whole groups with the most groups (then
    # the leftmost) that has 13–19 digits and passes Luhn ("4111 1111 1111 1111 12 25" keeps
    # the expiry). At most 31 groups: the span is at most 31 digits.
    parts = re.split(r"([ -])", found)  # digits, sep, digits, sep, …
    groups = parts[0::2]
    ends = [0]  # ends[g]: digits in groups[:g]
    for group in groups:
        ends.append(ends[-1] + len(group))
    luhn: _LuhnSums | None = None  # built for the first span of 13–19 digits
    for size in range(len(groups), 0, -1):
        for first in range(len(groups) - size + 1):
            steps.count += 1
            start, end = ends[first], ends[first + size]
            if not 13 <= end - start <= 19:
                continue
            luhn = luhn or _LuhnSums("".join(groups))
            if luhn.valid(start, end):
                before = "".join(parts[: 2 * first])
                last = first + size == len(groups)
                after = "" if last else "".join(parts[2 * (first + size) - 1 :])
                return before + CARD + after
    return found


_DOUBLED = (0, 2, 4, 6, 8, 1, 3, 5, 7, 9)
"""Luhn: a doubled digit's digit sum (2 * 7 = 14 -> 5)."""


class _LuhnSums:
    """Luhn of any slice of a digit string in O(1), from prefix sums.

    Luhn doubles every second digit counted from the right end of the number, so for a slice
    ending before ``end`` the digit at ``k`` is doubled when ``end - 1 - k`` is odd: the
    digits of one index parity are taken plain and those of the other doubled."""

    def __init__(self, digits: str) -> None:
        # plain[p][k] / doubled[p][k]: over the digits before k whose index has parity p.
        self.plain = ([0], [0])
        self.doubled = ([0], [0])
        for k, char in enumerate(digits):
            digit = int(char)
            for parity in (0, 1):
                own = k % 2 == parity
                self.plain[parity].append(self.plain[parity][-1] + (digit if own else 0))
                self.doubled[parity].append(
                    self.doubled[parity][-1] + (_DOUBLED[digit] if own else 0)
                )

    def valid(self, start: int, end: int) -> bool:
        plain = (end - 1) % 2  # the last digit is taken plain, and every second one before it
        total = self.plain[plain][end] - self.plain[plain][start]
        total += self.doubled[1 - plain][end] - self.doubled[1 - plain][start]
        return total % 10 == 0


# -- phones ---------------------------------------------------------------------------------------
# Not after [\w+/.:-], not before [\w/:-], one of (tried in this order, like the old alternation):
#   international   (?:\+|00)[1-9][\d\s().-]{6,20}\d
#   national        \(?0\d{1,4}\)?[\s.-]?\d{2,}(?:[\s.-]\d{2,}){0,3}
#   North American  (?:\(\d{3}\)\s?|\d{3}[.-])\d{3}[\s.-]\d{4}
# The national form is the old (?:[\s.-]?\d{2,}){1,4} without its ambiguity: both say "one to
# four digit runs of two or more, one separator between runs", and both end at the last run
# (of at most four) that is not followed by a word character.


def _phones(text: str, steps: Steps) -> str:
    out: list[str] = []
    done = 0
    for found in _PHONE_START.finditer(text):
        steps.count += 1
        start = found.start()
        if start < done:
            continue
        end = (
            _international_end(text, start, steps)
            or _national_end(text, start, steps)
            or _north_american_end(text, start, steps)
        )
        if end is not None:
            steps.count += end - start
            out += (text[done:start], _phone(text[start:end]))
            done = end
    out.append(text[done:])
    return "".join(out)


def _number_ends(text: str, i: int) -> bool:
    """A phone number may end before ``i``: not followed by ``[\\w/:-]``."""
    return i >= len(text) or not (_is_word(text[i]) or text[i] in "/:-")


def _is_group_separator(char: str) -> bool:
    return char.isspace() or char in _GROUP_SEPARATORS


def _international_end(text: str, start: int, steps: Steps) -> int | None:
    n = len(text)
    if text[start] == "+":
        i = start + 1
    elif text.startswith("00", start):
        i = start + 2
    else:
        return None
    if i >= n or text[i] not in "123456789":
        return None
    fill = i + 1
    reach = 0  # how many characters of [\d\s().-] follow, up to 21
    while reach < 21 and fill + reach < n:
        char = text[fill + reach]
        if not (char.isdecimal() or char.isspace() or char in _INTERNATIONAL_FILL):
            break
        reach += 1
    steps.count += reach + 1
    # 6 to 20 fill characters, then a digit; the longest first.
    for last in range(min(20, reach - 1), 5, -1):
        if text[fill + last].isdecimal() and _number_ends(text, fill + last + 1):
            return fill + last + 1
    return None


def _national_end(text: str, start: int, steps: Steps) -> int | None:
    n = len(text)
    i = start + 1 if text[start] == "(" else start
    if i >= n or text[i] != "0":
        return None
    i += 1
    area = _digit_run(text, i, steps)  # the run after the trunk 0; \d{1,4} takes 1 to 4 of it
    if area == 0:
        return None
    if area <= 4:
        # \d{1,4} takes the whole run (its greedy first choice): the first group comes after
        # an optional ")" and an optional separator.
        j = i + area
        if j < n and text[j] == ")":
            j += 1
        if j < n and _is_group_separator(text[j]):
            j += 1
        first = _digit_run(text, j, steps)
        if first >= 2:
            end = _last_group_end(text, j + first, steps)
            if end is not None:
                return end
    if area >= 3:
        # \d{1,4} takes fewer: the rest of the run (two or more digits) is the first group.
        return _last_group_end(text, i + area, steps)
    return None


def _last_group_end(text: str, end: int, steps: Steps) -> int | None:
    """After a first group ending at ``end``: up to three more (separator + two or more
    digits); the end of the last one that may end a number, the most groups first."""
    ends = [end]
    while len(ends) < 4 and end < len(text) and _is_group_separator(text[end]):
        steps.count += 1
        run = _digit_run(text, end + 1, steps)
        if run < 2:
            break
        end += 1 + run
        ends.append(end)
    for candidate in reversed(ends):
        if _number_ends(text, candidate):
            return candidate
    return None


def _digits(text: str, i: int, count: int) -> bool:
    return len(text) >= i + count and text[i : i + count].isdecimal()


def _north_american_end(text: str, start: int, steps: Steps) -> int | None:
    steps.count += 1
    if text[start] == "(":
        if not (_digits(text, start + 1, 3) and text.startswith(")", start + 4)):
            return None
        i = start + 5
        if i < len(text) and text[i].isspace():
            i += 1
    elif _digits(text, start, 3) and start + 3 < len(text) and text[start + 3] in ".-":
        i = start + 4
    else:
        return None
    if (
        _digits(text, i, 3)
        and i + 3 < len(text)
        and _is_group_separator(text[i + 3])
        and _digits(text, i + 4, 4)
        and _number_ends(text, i + 8)
    ):
        return i + 8
    return None


def _phone(found: str) -> str:
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
