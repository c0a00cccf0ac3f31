"""What the simulated caller does, step by step.

Five things a caller does on a call, each a typed step:

- ``say``: speak a line once the agent has finished answering (a person waits their turn);
  with ``more`` parts, one turn with ``pause_seconds`` of silence between its parts (a caller
  pausing mid-thought);
- ``say`` with ``barge_in``: speak a line ``barge_in_after_seconds`` into the agent's next
  speech, without waiting for it to finish (to test interruptions; a short one such as
  "Uh-huh." is a backchannel);
- ``noise``: a burst of sound with no words in it (laughter, which silero takes for speech;
  agent/simulator/noise.py), after the agent has finished or, with ``barge_in``, over it;
- ``silence``: once the agent has finished, stay silent for so many seconds;
- ``hangup``: leave the call (by default once the agent has finished);
- ``disconnect``: the caller's connection drops right after the previous step, whatever the
  agent is doing, with a LiveKit disconnect reason (``connection_timeout``, ``signal_close``,
  ``client_initiated``, ...): the call ends as the disconnect table says
  (agent/call/lifecycle/disconnects.py).

A scenario may also hold ``control`` (a live control packet from the server or a participant)
and ``dtmf`` (key presses) steps: what reaches the call beside the caller's audio.

Steps may be written in the short form scenario files use: ``{"say": "Hi"}``,
``{"say": ["I'd like", "a table."]}``, ``{"barge_in": "Wait", "after_seconds": 1.5}``,
``{"noise": 0.6}``, ``{"silence": 3}``, ``{"hangup": true}``, ``{"disconnect": "signal_close"}``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Literal

from livekit import rtc
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator


class SayStep(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    type: Literal["say"] = "say"
    text: str = Field(min_length=1)
    barge_in: bool = False
    """Speak over the agent instead of waiting for it to finish."""
    barge_in_after_seconds: float = Field(default=1.0, ge=0)
    """How far into the agent's next speech a barge-in starts."""
    more: tuple[Annotated[str, Field(min_length=1)], ...] = ()
    """Further parts of the same turn, each after ``pause_seconds`` of silence."""
    pause_seconds: float = Field(default=0.8, ge=0, le=10)
    """Silence between the parts (the caller's audio stops, the VAD hears it)."""


class NoiseStep(BaseModel):
    """Sound with no words in it: the VAD may take it for speech, the STT hears nothing."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: Literal["noise"] = "noise"
    seconds: float = Field(gt=0, le=10)
    barge_in: bool = False
    """Over the agent's next speech instead of after it finished."""
    barge_in_after_seconds: float = Field(default=1.0, ge=0)


class SilenceStep(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    type: Literal["silence"] = "silence"
    seconds: float = Field(gt=0)


class HangupStep(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    type: Literal["hangup"] = "hangup"
    wait_for_agent: bool = True
    """Let the agent finish answering first (False: hang up right after the previous step)."""


DISCONNECT_REASONS = frozenset(
    name.lower() for name in rtc.DisconnectReason.DESCRIPTOR.values_by_name
)
"""LiveKit's disconnect reason names (livekit-rtc's ``DisconnectReason``), lower case."""


class DisconnectStep(BaseModel):
    """The caller leaves for ``reason`` (a LiveKit disconnect reason name), at once."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: Literal["disconnect"] = "disconnect"
    reason: str

    @field_validator("reason")
    @classmethod
    def _livekit_reason(cls, value: str) -> str:
        if value.lower() not in DISCONNECT_REASONS:
            raise ValueError(
                f"not a LiveKit disconnect reason: {value!r} "
                f"(one of {', '.join(sorted(DISCONNECT_REASONS))})"
            )
        return value.lower()

    @property
    def livekit_name(self) -> str:
        """The name as LiveKit reports it (``SIGNAL_CLOSE``)."""
        return self.reason.upper()


CallerStep = Annotated[
    SayStep | NoiseStep | SilenceStep | HangupStep | DisconnectStep, Field(discriminator="type")
]


class ControlStep(BaseModel):
    """A live control packet reaching the call (through the room's control channel)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: Literal["control"] = "control"
    command: dict[str, Any]
    """The command JSON as sent; not validated here (an invalid one is refused by the call)."""
    sender: str = "server"
    """``server`` (RoomService.SendData: no participant), ``caller`` (the caller's identity) or
    any participant identity."""


class DtmfStep(BaseModel):
    """The caller presses keys on the phone keypad."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: Literal["dtmf"] = "dtmf"
    digits: str = Field(pattern=r"^[0-9*#A-Da-d]{1,32}$")


ScenarioStep = CallerStep | ControlStep | DtmfStep
"""What a scenario's caller section holds: the caller's own steps plus what reaches the call
beside the audio (control packets, key presses)."""

_STEPS: TypeAdapter[list[CallerStep]] = TypeAdapter(list[CallerStep])


def _expand_short_form(step: Mapping[str, Any]) -> Mapping[str, Any]:
    if "type" in step:
        return step
    if "say" in step:
        said = step["say"]
        if isinstance(said, list) and said:
            return {"type": "say", "text": said[0], "more": said[1:]}
        return {"type": "say", "text": said}
    if "noise" in step:
        return {"type": "noise", "seconds": step["noise"]}
    if "barge_in" in step:
        expanded: dict[str, Any] = {"type": "say", "text": step["barge_in"], "barge_in": True}
        if "after_seconds" in step:
            expanded["barge_in_after_seconds"] = step["after_seconds"]
        return expanded
    if "silence" in step:
        return {"type": "silence", "seconds": step["silence"]}
    if "hangup" in step:
        return {"type": "hangup", "wait_for_agent": step["hangup"] != "now"}
    if "disconnect" in step:
        return {"type": "disconnect", "reason": step["disconnect"]}
    return step  # let validation say what is wrong with it


def parse_caller_script(steps: Sequence[CallerStep | Mapping[str, Any]]) -> list[CallerStep]:
    """Validate steps given as models, full mappings or the short form."""
    raw = [step if isinstance(step, BaseModel) else _expand_short_form(step) for step in steps]
    return _STEPS.validate_python(raw)
