"""A scenario file: one simulated call written down, so anyone can replay it with no account.

`python -m agent simulate FILE` reads one. It holds the dispatch document exactly as the
backend would send it, what the caller does once the call starts, what the offline LLM answers
(one reply per request, in order) and how slow the pretend vendors are. The file is strict: a
misspelt key is an error naming its path (`caller.2.sya`), because a silently ignored step makes
a scenario test something else than its author meant.

The dispatch document is *not* validated here: a bad assistant is a call that ends with
`config_error`, which is itself something worth simulating.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from .offline import OfflineProviders, ScriptedReply
from .script import CallerStep, HangupStep, SayStep, SilenceStep


class ScenarioError(Exception):
    """The scenario cannot be read or is invalid; ``problems`` each start with their path."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


class CallerAction(BaseModel):
    """One caller step as written: exactly one of `say`, `silence`, `hangup`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    say: str | None = Field(None, min_length=1)
    barge_in: bool = False
    """With `say`: speak over the agent's next speech instead of waiting for it to finish."""
    after_seconds: float = Field(1.0, ge=0)
    """With `barge_in`: how far into the agent's speech the caller starts."""
    silence: float | None = Field(None, gt=0)
    hangup: bool | Literal["now"] | None = None
    """`true`: leave once the agent has finished; `now`: leave at once."""

    @model_validator(mode="after")
    def _one_action(self) -> CallerAction:
        given = [k for k in ("say", "silence", "hangup") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("a caller step needs exactly one of `say`, `silence`, `hangup`")
        if self.hangup is False:
            raise ValueError("`hangup: false` does nothing; leave the step out")
        return self

    def step(self) -> CallerStep:
        if self.say is not None:
            return SayStep(
                text=self.say, barge_in=self.barge_in, barge_in_after_seconds=self.after_seconds
            )
        if self.silence is not None:
            return SilenceStep(seconds=self.silence)
        return HangupStep(wait_for_agent=self.hangup != "now")


class Scenario(BaseModel):
    """The whole file."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    dispatch: dict[str, Any]
    """The dispatch document, in any dialect the worker accepts (validated when the call starts)."""
    caller: list[CallerAction] = Field(default_factory=list)
    """In order once the call starts; without a hangup the caller then stays silent."""
    llm: list[ScriptedReply] = Field(default_factory=list)
    """The offline LLM's replies, one per request, in order."""
    providers: OfflineProviders = Field(default_factory=OfflineProviders)
    """How slow the pretend vendors are and, optionally, how they fail."""

    def caller_steps(self) -> list[CallerStep]:
        return [action.step() for action in self.caller]


def _problems(exc: ValidationError) -> list[str]:
    problems = []
    for err in exc.errors(include_url=False):
        where = ".".join(str(p) for p in err["loc"]) or "(scenario)"
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            message = "unknown key"
        problems.append(f"{where}: {message}")
    return problems


def parse_scenario(data: object) -> Scenario:
    """Validate already-loaded YAML/JSON into a Scenario, or raise ScenarioError."""
    if not isinstance(data, dict):
        raise ScenarioError([f"(scenario): must be a mapping, not {type(data).__name__}"])
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(_problems(exc)) from None


def load_scenario(path: Path) -> Scenario:
    """Read a YAML (or JSON) scenario file."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError([f"{path}: cannot read: {exc}"]) from None
    except yaml.YAMLError as exc:
        raise ScenarioError([f"{path}: not valid YAML: {exc}"]) from None
    return parse_scenario(data)
