"""Notice when the assistant says goodbye on its own, so the call can end after it.

``end_call_phrases`` are matched against the assistant's own spoken text, case-insensitively,
ignoring punctuation, and on word boundaries: with the phrase "goodbye", "Okay, Goodbye!"
matches, "goodbyes" does not; "have a nice day" matches "Have a nice-day." but not
"have a nice daydream". Both sides are normalised the same way (case-folded, every run of
non-word characters turned into one space), so apostrophes and hyphens inside phrases are
handled alike on both sides.
"""

from __future__ import annotations

import re

_NON_WORD = re.compile(r"[\W_]+")


def _normalise(text: str) -> str:
    return " ".join(_NON_WORD.sub(" ", text.casefold()).split())


class EndPhraseDetector:
    """Finds the first configured end-call phrase in a line of assistant speech."""

    def __init__(self, phrases: list[str]) -> None:
        self._patterns: list[tuple[str, re.Pattern[str]]] = []
        for phrase in phrases:
            normal = _normalise(phrase)
            if normal:  # a phrase of only punctuation would match everything
                pattern = re.compile(rf"(?<!\w){re.escape(normal)}(?!\w)")
                self._patterns.append((phrase, pattern))

    def find(self, spoken: str) -> str | None:
        """The configured phrase found in ``spoken``, or None."""
        if not self._patterns:
            return None
        normal = _normalise(spoken)
        for phrase, pattern in self._patterns:
            if pattern.search(normal):
                return phrase
        return None
