"""The tools an assistant declares: function tools and the built-in end, transfer and DTMF ones.

These are the `tools` of the dispatch document as a backend writes them (a discriminated union
on `type`): what a function is called, the schema of its arguments, where its call is POSTed and
with which headers, what the agent says while it waits. Running them during a call is
agent/call/tools/'s job; this module only says what a valid declaration is.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AnyHttpUrl, Field, SecretStr, field_validator, model_validator

from agent.contracts.base import ContractModel
from agent.contracts.field_bounds import MAX_INSTRUCTIONS, SpokenLine, usable_schema
from agent.intake.secret_fields import HeaderValue, Secret

MAX_TOOL_HEADERS = 32
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}$")
_HEADER_VALUE = re.compile(r"^[^\x00-\x08\x0a-\x1f\x7f]{0,4096}$")
"""Any text but control characters (a CR or LF would split the request), up to 4096 chars."""


class FunctionSpec(ContractModel):
    name: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")
    description: str = Field("", max_length=MAX_INSTRUCTIONS)
    parameters: dict[str, Any] = Field(default_factory=lambda: {"type": "object", "properties": {}})
    """JSON Schema of the arguments (an object); calls that do not match it are refused before
    any request. Checked against the meta-schema when the document is parsed; at most 32
    levels deep and 32 KB."""

    @field_validator("parameters")
    @classmethod
    def _parameters_are_usable(cls, parameters: dict[str, Any]) -> dict[str, Any]:
        usable_schema(parameters)
        if parameters.get("type", "object") != "object":
            raise ValueError("the arguments of a function are an object: `type` must be 'object'")
        return parameters


class ToolServer(ContractModel):
    url: AnyHttpUrl
    timeout_seconds: float = Field(20.0, gt=0, le=120)
    secret: Secret | None = None
    """Signs the `tool-calls` request; defaults to the assistant's webhook secret."""
    headers: dict[str, HeaderValue] = Field(default_factory=dict, max_length=MAX_TOOL_HEADERS)
    """Sent with every request (never replacing the signature headers): HTTP header names,
    values of at most 4096 characters without control characters. A value may be a
    `secret:NAME` reference (e.g. `"Authorization": "secret:TOOLS_TOKEN"` holding
    `Bearer ...`), resolved as every secret field is."""

    @field_validator("headers")
    @classmethod
    def _headers_are_http(cls, headers: dict[str, SecretStr]) -> dict[str, SecretStr]:
        for name, secret in headers.items():
            value = secret.get_secret_value()
            if not _HEADER_NAME.match(name):
                raise ValueError(f"{name[:60]!r} is not an HTTP header name")
            if not _HEADER_VALUE.match(value):
                raise ValueError(
                    f"the value of {name!r} is longer than 4096 characters or holds a control "
                    "character"
                )
        return headers


class ToolMessages(ContractModel):
    request_start: SpokenLine | None = None
    request_delayed: SpokenLine | None = None
    request_delayed_after_seconds: float = Field(3.0, gt=0, le=60)
    request_failed: SpokenLine | None = None


class FunctionTool(ContractModel):
    type: Literal["function"]
    function: FunctionSpec
    server: ToolServer | None = None
    """Where the call is POSTed; without it, the assistant's `webhook_url`."""
    messages: ToolMessages = Field(default_factory=ToolMessages)


class EndCallTool(ContractModel):
    type: Literal["end_call"]
    description: str | None = None


class TransferDestination(ContractModel):
    number: str | None = Field(None, pattern=r"^\+[1-9]\d{6,14}$")
    sip_uri: str | None = Field(None, pattern=r"^sips?:[^\s]+$")
    description: str = ""
    message: str | None = None

    @model_validator(mode="after")
    def _exactly_one_target(self) -> TransferDestination:
        if (self.number is None) == (self.sip_uri is None):
            raise ValueError("a destination needs exactly one of `number` (E.164) or `sip_uri`")
        return self


class TransferCallTool(ContractModel):
    type: Literal["transfer_call"]
    destinations: list[TransferDestination] = Field(min_length=1, max_length=50)


class DtmfTool(ContractModel):
    type: Literal["dtmf"]
    """Lets the LLM press keys (IVR navigation) on a phone call."""


Tool = Annotated[
    FunctionTool | EndCallTool | TransferCallTool | DtmfTool, Field(discriminator="type")
]
