"""gdpr_mode redaction costs time proportional to its text, whatever the text, and still redacts
exactly what the regexes it replaced did.

Linearity is asserted on the scanner's own work count (`Steps`: candidates plus characters
read), which is exact and does not depend on how busy the machine is; one coarse CPU-time ratio
backs it up for the parts the count cannot see (the candidate-finding patterns run inside `re`).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.report.redaction import Steps, mask_numbers, redact
from tests.report import regex_redaction

STEPS_PER_CHAR = 40
"""The bound asserted for any text: ``steps <= 40 * len + 40``. The worst found is ~10 per
character (single digits between spaces: every one starts a card, phone and IBAN candidate)."""

# -- what texts look like ------------------------------------------------------------------------

SEPARATORS = " -.()/+:\t\n"
digits = st.text(alphabet="0123456789", min_size=1, max_size=40)
words = st.text(alphabet="abcxyzNLGBDE_é", min_size=1, max_size=40)
separators = st.text(alphabet=SEPARATORS, min_size=1, max_size=3)
piece = st.one_of(
    digits,
    words,
    separators,
    st.just("0"),  # a trunk zero: the start of a national number
    st.just("00"),
    st.just("@"),
    st.just("."),
)
pattern = st.lists(piece, min_size=1, max_size=8).map("".join)
"""A unit of text: digit runs, long words and mixed separators in any order."""

FRAGMENTS = [
    "NL91ABNA0417164300",
    "NL91 ABNA 0417 1643 00",
    "DE89 3704 0044 0532 0130 00",
    "4111 1111 1111 1111",
    "4111-1111-1111-1111",
    "3782 822463 10005",
    "+31612345678",
    "+31 6 1234 5678",
    "0044 20 7946 0958",
    "06 12345678",
    "(020) 123 4567",
    "555-123-4567",
    "(555) 123-4567",
    "jan.de-vries+x@example.co.uk",
    "a@b.c.de",
    "2024-05-01",
    "01.02.2024",
    "12:30",
]
short_text = st.lists(
    st.one_of(
        st.sampled_from(FRAGMENTS),
        st.text(alphabet="0123456789 -.()+/:@_aAzNLé\n٣", max_size=12),
    ),
    max_size=6,
).map(lambda parts: "".join(parts)[:60])
"""Short texts near the edges of every kind: the old regexes are fast on these."""


def repeated(unit: str, length: int) -> str:
    return (unit * (length // len(unit) + 1))[:length]


def steps_of(text: str) -> int:
    steps = Steps()
    redact(text, steps)
    return steps.count


# -- linear ---------------------------------------------------------------------------------------


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(unit=pattern)
def test_work_grows_linearly_with_the_text(unit: str) -> None:
    """The same pattern at n and 4n characters: four times the text, at most ~four times the
    work (a backtracking regex on a digit run does sixteen times or more)."""
    n = 2_000
    small, large = steps_of(repeated(unit, n)), steps_of(repeated(unit, 4 * n))
    assert large <= STEPS_PER_CHAR * 4 * n + STEPS_PER_CHAR
    # The repetition may cut the last unit differently: one unit's worth of slack.
    assert large <= 4 * small + STEPS_PER_CHAR * (len(unit) + 1) * 4, (unit, small, large)


@settings(max_examples=300, deadline=None)
@given(text=st.lists(pattern, max_size=30).map("".join))
def test_work_is_bounded_by_the_length_on_any_text(text: str) -> None:
    assert steps_of(text) <= STEPS_PER_CHAR * len(text) + STEPS_PER_CHAR


@pytest.mark.parametrize(
    "text",
    [
        "1" * 10_000,  # one long digit run
        "0" + "1" * 10_000 + "x",  # the old national alternative: minutes at 400 digits
        "0" + "1" * 10_000 + "/",
        "1 " * 5_000,  # a group start every other character
        "01 " * 3_333,
        "+1" + "(" * 10_000,
        "a" * 10_000 + "@" + "b." * 5_000,  # a long word, a long domain
        "a@" * 5_000,
        "NL12 " * 2_000,
        "12 3-4 5.6 (7) +8 / 9:0 " * 400,
    ],
    ids=lambda text: repr(text[:12]),
)
def test_worst_cases_do_linear_work(text: str) -> None:
    assert steps_of(text) <= STEPS_PER_CHAR * len(text) + STEPS_PER_CHAR


def test_long_runs_are_kept_and_numbers_around_them_still_go() -> None:
    run = "0" + "1" * 10_000 + "x"
    assert redact(run) == run  # far too many digits to be a phone number
    text = f"call +31612345678 or {run} or mail jan@example.com"
    assert redact(text) == f"call [PHONE] or {run} or mail [EMAIL]"


def test_cpu_time_grows_linearly_on_the_old_worst_case() -> None:
    """Backs the count up for the `re` parts, and covers `mask_numbers` (the logs' rule, all
    `re`): CPU time (not wall time: the machine is shared) of 4x the text stays under 8x, best
    of five."""

    def cpu_seconds(scrub: Callable[[str], str], text: str) -> float:
        best = float("inf")
        for _ in range(5):
            start = time.process_time()
            scrub(text)
            best = min(best, time.process_time() - start)
        return best

    unit = "0" + "1" * 200 + "x " + "1 2-3.4 " * 10 + "1  (" * 10 + "a" * 50 + "@b. "
    for scrub in (redact, mask_numbers):
        small = cpu_seconds(scrub, repeated(unit, 50_000))
        large = cpu_seconds(scrub, repeated(unit, 200_000))
        assert large < 8 * max(small, 1e-3), (scrub.__name__, small, large)


# -- the same redactions as before ------------------------------------------------------------


@settings(max_examples=2_000, deadline=None)
@given(text=short_text)
def test_redacts_what_the_old_regexes_redacted(text: str) -> None:
    assert redact(text) == regex_redaction.redact(text)
