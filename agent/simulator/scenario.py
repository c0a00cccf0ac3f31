"""A scenario file: one simulated call written down, so anyone can replay it with no account.

`python -m agent simulate FILE` reads one. It holds the dispatch document exactly as the
backend would send it, what the caller does once the call starts, what the offline LLM answers
(one reply per request, in order) and how slow the pretend vendors are. The file is strict: a
misspelt key is an error naming its path (`caller.2.sya`), because a silently ignored step makes
a scenario test something else than its author meant.

The dispatch document is *not* validated here: a bad assistant is a call that ends with
`config_error`, which is itself something worth simulating.

Beside the dispatch document sits `phone`: whether the caller is a SIP phone caller (and their
numbers). It is what the room tells a job (the SIP participant's attributes), not what the
backend sends, so it has no place inside `dispatch`. Caller steps may also carry what reaches
a call beside the caller's voice: a live `control` packet (from the server or a participant)
and `dtmf` key presses.

Room facts too: `join` (when the caller's participant arrives, if at all, and when their audio
is up) and `observers` (other participants who come and go). Every time in them counts from the
agent's arrival in the room.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from .offline import OfflineProviders, ScriptedReply
from .script import (
    DISCONNECT_REASONS,
    ControlStep,
    DisconnectStep,
    DtmfStep,
    HangupStep,
    NoiseStep,
    SayStep,
    ScenarioStep,
    SilenceStep,
)


class ScenarioError(Exception):
    """The scenario cannot be read or is invalid; ``problems`` each start with their path."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


class CallerAction(BaseModel):
    """One caller step as written: exactly one of `say`, `noise`, `silence`, `hangup`,
    `disconnect`, `control`, `dtmf`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    say: str | list[Annotated[str, Field(min_length=1)]] | None = Field(None, min_length=1)
    """A line, or the parts of one turn with `pause_seconds` of silence between them (the
    caller pausing mid-thought: the agent must not answer in a pause). What the offline STT
    hears, verbatim: punctuate a line that is a finished sentence, as the STT would."""
    pause_seconds: float = Field(0.8, ge=0, le=10)
    """With a `say` list: the silence between its parts."""
    noise: float | None = Field(None, gt=0, le=10)
    """Seconds of laughter: loud sound with no words, which silero takes for speech and the STT
    hears nothing in (a cough, a television, a laugh: agent/simulator/noise.py)."""
    barge_in: bool = False
    """With `say` or `noise`: over the agent's next speech instead of waiting for it to
    finish. A short `say` with it ("Uh-huh.") is a backchannel."""
    after_seconds: float = Field(1.0, ge=0)
    """With `barge_in`: how far into the agent's speech the caller starts."""
    silence: float | None = Field(None, gt=0)
    hangup: bool | Literal["now"] | None = None
    """`true`: leave once the agent has finished; `now`: leave at once."""
    disconnect: str | None = None
    """Leave at once with this LiveKit disconnect reason (`connection_timeout`, `signal_close`,
    `client_initiated`, ...): a lost connection rather than a hang-up."""
    control: dict[str, Any] | None = None
    """A live control command (its JSON, e.g. `{type: end-call}`), sent once the agent is quiet."""
    sender: str | None = Field(None, alias="from", min_length=1)
    """With `control`: `server` (default: the backend, RoomService.SendData), `caller` (the
    caller's participant identity) or any other participant identity."""
    dtmf: str | None = Field(None, pattern=r"^[0-9*#A-Da-d]{1,32}$")
    """Keys the caller presses, once the agent is quiet, e.g. `12#` (`#` ends the entry)."""

    @model_validator(mode="after")
    def _one_action(self) -> CallerAction:
        actions = ("say", "noise", "silence", "hangup", "disconnect", "control", "dtmf")
        given = [k for k in actions if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                "a caller step needs exactly one of `say`, `noise`, `silence`, `hangup`, "
                "`disconnect`, `control`, `dtmf`"
            )
        if self.disconnect is not None and self.disconnect.lower() not in DISCONNECT_REASONS:
            raise ValueError(
                f"`disconnect: {self.disconnect}` is not a LiveKit disconnect reason (one of "
                f"{', '.join(sorted(DISCONNECT_REASONS))})"
            )
        if "pause_seconds" in self.model_fields_set and not isinstance(self.say, list):
            raise ValueError("`pause_seconds` goes with a `say` list")
        if self.hangup is False:
            raise ValueError("`hangup: false` does nothing; leave the step out")
        if self.sender is not None and self.control is None:
            raise ValueError("`from` goes with `control`")
        return self

    def step(self) -> ScenarioStep:
        if self.say is not None:
            parts = [self.say] if isinstance(self.say, str) else self.say
            return SayStep(
                text=parts[0],
                more=tuple(parts[1:]),
                pause_seconds=self.pause_seconds,
                barge_in=self.barge_in,
                barge_in_after_seconds=self.after_seconds,
            )
        if self.noise is not None:
            return NoiseStep(
                seconds=self.noise,
                barge_in=self.barge_in,
                barge_in_after_seconds=self.after_seconds,
            )
        if self.silence is not None:
            return SilenceStep(seconds=self.silence)
        if self.control is not None:
            return ControlStep(command=self.control, sender=self.sender or "server")
        if self.dtmf is not None:
            return DtmfStep(digits=self.dtmf)
        if self.disconnect is not None:
            return DisconnectStep(reason=self.disconnect)
        return HangupStep(wait_for_agent=self.hangup != "now")


class PhoneCaller(BaseModel):
    """The caller as LiveKit SIP puts them in the room: a participant of kind SIP with their
    numbers as attributes. A room fact, not a dispatch fact, so it sits beside `dispatch`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    sip: bool = True
    """`false`: a web caller after all (as if `phone` were left out)."""
    caller_number: str | None = Field(None, pattern=r"^\+[1-9]\d{6,14}$")
    """The caller's number (attribute `sip.phoneNumber`)."""
    called_number: str | None = Field(None, pattern=r"^\+[1-9]\d{6,14}$")
    """The number they dialled, ours (attribute `sip.trunkPhoneNumber`)."""
    identity: str | None = Field(None, min_length=1, max_length=200)
    """Their participant identity; default as LiveKit SIP makes it: `sip_<caller_number>`."""

    def participant_identity(self) -> str:
        if self.identity:
            return self.identity
        return f"sip_{self.caller_number}" if self.caller_number else "sip_caller"


class CallerJoin(BaseModel):
    """When the caller arrives: `{after_seconds: N}` or `{never: true}` (times from the agent's
    arrival in the room). Without `join`, the caller is in the room when the agent arrives."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    after_seconds: float = Field(0.0, ge=0, le=3600)
    """The caller's participant joins this long after the agent."""
    never: bool = False
    """The caller never joins (the call ends at the join timeout)."""
    audio_after_seconds: float | None = Field(None, ge=0, le=3600)
    """Their audio is up (the agent hears them, they hear the agent) at this time; default: as
    they join. Later: a browser still asking for microphone permission."""
    leave_after_seconds: float | None = Field(None, gt=0, le=3600)
    """They hang up (`CLIENT_INITIATED`) at this time, whatever the call is doing: e.g. while
    the agent still waits for their audio."""
    identity: str | None = Field(None, min_length=1, max_length=200)
    """Their participant identity; default: `caller` (web), `phone.identity` (SIP), the
    dialled callee's (outbound)."""

    @model_validator(mode="after")
    def _coherent(self) -> CallerJoin:
        if self.never:
            others = self.model_fields_set - {"never"}
            if others:
                raise ValueError(f"`never: true` goes alone (not with {', '.join(sorted(others))})")
            return self
        if self.audio_after_seconds is not None and self.audio_after_seconds < self.after_seconds:
            raise ValueError("`audio_after_seconds` cannot be before `after_seconds`")
        if self.leave_after_seconds is not None and self.leave_after_seconds < self.after_seconds:
            raise ValueError("`leave_after_seconds` cannot be before `after_seconds`")
        return self

    @property
    def audio_at(self) -> float:
        return self.after_seconds if self.audio_after_seconds is None else self.audio_after_seconds


ObserverKind = Literal["standard", "sip", "egress", "ingress", "agent", "connector", "bridge"]


class Observer(BaseModel):
    """Another participant who comes (and maybe goes): a supervisor, a recorder, another agent.
    Times from the agent's arrival in the room."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    identity: str = Field(min_length=1, max_length=200)
    join_after_seconds: float = Field(0.0, ge=0, le=3600)
    leave_after_seconds: float | None = Field(None, gt=0, le=3600)
    """None: stays until the call ends."""
    kind: ObserverKind = "standard"
    """LiveKit's participant kind (`egress` for a recorder, `agent` for another agent)."""

    @model_validator(mode="after")
    def _leaves_after_joining(self) -> Observer:
        if self.leave_after_seconds is not None and (
            self.leave_after_seconds <= self.join_after_seconds
        ):
            raise ValueError("`leave_after_seconds` must be after `join_after_seconds`")
        return self


class Scenario(BaseModel):
    """The whole file."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    dispatch: dict[str, Any]
    """The dispatch document, in any dialect the worker accepts (validated when the call starts)."""
    phone: PhoneCaller | None = None
    """The caller is a SIP phone caller (transferable, with numbers); None: a web caller."""
    caller: list[CallerAction] = Field(default_factory=list)
    """In order once the call starts; without a hangup the caller then stays silent."""
    llm: list[ScriptedReply] = Field(default_factory=list)
    """The offline LLM's replies, one per request, in order."""
    providers: OfflineProviders = Field(default_factory=OfflineProviders)
    """How slow the pretend vendors are and, optionally, how they fail."""
    join: CallerJoin | None = None
    """When the caller's participant and audio arrive; None: with the agent."""
    observers: list[Observer] = Field(default_factory=list, max_length=20)
    """Other participants who come and go without effect on the call."""

    @model_validator(mode="after")
    def _distinct_identities(self) -> Scenario:
        seen = [o.identity for o in self.observers]
        if len(seen) != len(set(seen)):
            raise ValueError("observers: each needs its own identity")
        return self

    def caller_steps(self) -> list[ScenarioStep]:
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
