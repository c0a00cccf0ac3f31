"""The control commands, as a backend sends them (seed 002, "Real-time Call Control").

One JSON object per packet, discriminated on ``type``:

    {"type": "inject-context", "content": "Customer verified: ...", "trigger_response": true}
    {"type": "say", "content": "One moment please.", "end_after": false}
    {"type": "end-call", "message": "Thank you for calling. Goodbye!"}
    {"type": "transfer", "destination": "+31201234567", "message": "Transferring you now."}

Unknown keys are refused (a misspelt ``end_afer`` must not silently keep the call open), and
so is a key given twice: a packet is read by the strict reader every outside JSON goes through
(agent/contracts/untrusted_json.py: UTF-8 only, no NaN, bounded depth). Whatever the bytes,
:func:`parse_command` raises :class:`InvalidCommand` and nothing else.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from agent.contracts.untrusted_json import JsonRefused, read_json

MAX_PACKET_BYTES = 16_384
MAX_PACKET_DEPTH = 8
"""A command is one flat object; anything nested deeper is not a command."""
MAX_TEXT = 4_000


class _Command(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class InjectContext(_Command):
    type: Literal["inject-context"]
    content: str = Field(min_length=1, max_length=MAX_TEXT)
    """Added to the agent's chat context as a system message."""
    trigger_response: bool = False
    """Let the agent answer now (otherwise the context waits for the next turn)."""


class Say(_Command):
    type: Literal["say"]
    content: str = Field(min_length=1, max_length=MAX_TEXT)
    end_after: bool = False
    """End the call (agent_hangup) once the line has been said."""


class EndCall(_Command):
    type: Literal["end-call"]
    message: str | None = Field(None, max_length=MAX_TEXT)
    """Said before hanging up; without it the call ends at once."""


class Transfer(_Command):
    type: Literal["transfer"]
    destination: str = Field(pattern=r"^(\+[1-9]\d{6,14}|sips?:\S+)$")
    """E.164 number or SIP URI."""
    message: str | None = Field(None, max_length=MAX_TEXT)


ControlCommand = Annotated[InjectContext | Say | EndCall | Transfer, Field(discriminator="type")]

_ADAPTER: TypeAdapter[ControlCommand] = TypeAdapter(ControlCommand)


class InvalidCommand(ValueError):
    """The packet is not a valid command; ``str(exc)`` names the problem (no values echoed)."""


def parse_command(data: bytes | str) -> ControlCommand:
    if len(data) > MAX_PACKET_BYTES:
        raise InvalidCommand(f"packet larger than {MAX_PACKET_BYTES} bytes")
    try:
        raw = read_json(data, max_bytes=MAX_PACKET_BYTES, max_depth=MAX_PACKET_DEPTH)
    except JsonRefused as exc:
        raise InvalidCommand(str(exc)) from None
    try:
        return _ADAPTER.validate_python(raw)
    except ValidationError as exc:
        problems = [
            f"{'.'.join(str(p) for p in err['loc']) or 'command'}: {err['msg']}"
            for err in exc.errors(include_url=False, include_input=False)
        ]
        raise InvalidCommand("; ".join(problems)) from None
