"""The words the turn plan reads, per call language: continuation words, number words, backchannels.

Kept as data (turn_words.yaml beside this module, read once per process) so a language is added
by editing a list, not code. A call's language is its STT language tag: it gets the lists of
the base language ("en" for "en-IN"), plus the full tag's own ("en-IN": Hindi
acknowledgements), plus what the assistant adds. A language with no list gets every list.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import resources

import yaml

_PUNCTUATION = ".,!?;:\"'()[]{}…«»“”‘’。，！？।؟"


def words_of(text: str) -> tuple[str, ...]:
    """``text`` as lower-case words without surrounding punctuation ("Uh-huh, yeah." ->
    ("uh-huh", "yeah")); a hyphen inside a word is kept."""
    return tuple(w for w in (w.strip(_PUNCTUATION + "-").lower() for w in text.split()) if w)


@dataclass(frozen=True)
class TurnWords:
    """The lists for one call."""

    continuation: frozenset[str]
    numbers: frozenset[str]
    backchannels: frozenset[tuple[str, ...]]
    """Each phrase as its words (``("got", "it")``)."""


@functools.cache
def _table() -> dict[str, dict[str, tuple[str, ...]]]:
    raw = yaml.safe_load(
        resources.files("agent.call").joinpath("turn_words.yaml").read_text(encoding="utf-8")
    )
    return {
        str(tag).lower(): {kind: tuple(str(w).lower() for w in words) for kind, words in e.items()}
        for tag, e in raw.items()
    }


def languages() -> tuple[str, ...]:
    """The language tags with lists of their own."""
    return tuple(_table())


def turn_words(
    language: str | None,
    *,
    extra_backchannels: tuple[str, ...] = (),
    extra_continuations: tuple[str, ...] = (),
) -> TurnWords:
    """The lists for a call in ``language``, with the assistant's additions."""
    table = _table()
    tag = (language or "").lower()
    base = tag.split("-")[0]
    entries = [table[t] for t in dict.fromkeys((base, tag)) if t in table]
    if not entries:
        entries = list(table.values())

    def union(kind: str) -> set[str]:
        return {w for entry in entries for w in entry.get(kind, ())}

    phrases = {words_of(p) for p in union("backchannels") | set(extra_backchannels)}
    return TurnWords(
        continuation=frozenset(union("continuation") | {w.lower() for w in extra_continuations}),
        numbers=frozenset(union("numbers")),
        backchannels=frozenset(p for p in phrases if p),
    )
