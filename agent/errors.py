"""The one exception type that bad input turns into.

Everything that reads outside input (dispatch documents, scenario files, secret references,
provider configs) raises :class:`ConfigError`, never a bare ``ValueError`` or a pydantic
``ValidationError``, so callers have a single thing to catch and every problem carries the
path of the field that is wrong.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ConfigProblem:
    """One thing wrong with the input: where (a dotted path such as
    ``assistant.tts_config.provider``) and what."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path or '<document>'}: {self.message}"


class ConfigError(Exception):
    """Invalid input, with every problem found and the field each one is about."""

    def __init__(self, problems: Iterable[ConfigProblem] | str, *, path: str = "") -> None:
        if isinstance(problems, str):
            problems = [ConfigProblem(path, problems)]
        self.problems: Sequence[ConfigProblem] = tuple(problems)
        super().__init__("; ".join(str(p) for p in self.problems) or "invalid configuration")

    @property
    def fields(self) -> list[str]:
        """The field paths that are wrong, in the order found."""
        return [p.path for p in self.problems]
