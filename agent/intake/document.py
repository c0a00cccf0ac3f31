"""The dispatch document's models (input contract, version 1): what a backend may send.

These pydantic models are the contract itself: `config/dispatch.schema.json` is generated from
them (agent/contracts/schema.py) and agent/intake/dispatch.py validates every document against
them. They live apart from the parser so that what a backend may write can be read without the
steps that resolve, merge and check it.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

from pydantic import Field

from agent.contracts.assistant import AssistantConfig
from agent.contracts.base import ContractModel
from agent.intake.dialects import (
    CALLMISSED_ONLY,
    FLAT_DURATION_MAX,
    FLAT_DURATION_MIN,
    FLAT_PROMPT_MAX,
    HMS_MARKERS,
)

E164 = r"^\+[1-9]\d{6,14}$"
DEFAULT_JOIN_TIMEOUT_SECONDS = 60.0
"""The seed's "room auto-deleted if nobody joins: 60 seconds"."""


class CallType(StrEnum):
    WEB = "web_call"
    INBOUND_PHONE = "inbound_phone_call"
    OUTBOUND_PHONE = "outbound_phone_call"


class Customer(ContractModel):
    number: str | None = Field(None, pattern=E164)
    name: str | None = Field(None, max_length=200)


class CallInfo(ContractModel):
    """Facts about the call itself (not about the assistant)."""

    id: str | None = Field(None, min_length=1, max_length=200)
    """The backend's call id; falls back to the room name."""
    type: CallType = CallType.WEB
    customer: Customer | None = None
    destination: str | None = Field(None, pattern=r"^(\+[1-9]\d{6,14}|sips?:\S+)$")
    """Outbound calls: the number (E.164) or SIP URI to dial."""
    sip_trunk_id: str | None = Field(None, min_length=1, max_length=200)
    """Outbound calls: the LiveKit outbound SIP trunk to dial through. Default: the trunk of
    `number_id` in the operator's number table, else the operator's default outbound trunk."""
    number_id: str | None = Field(None, min_length=1, max_length=200)
    """Outbound calls: the platform's number to call from (seed 002 `number_id`), mapped to a
    trunk and caller id by the operator's `VOICE_AGENT_SIP_NUMBER_TRUNKS`."""
    answer_timeout_seconds: float = Field(30.0, ge=5.0, le=120.0)
    """Outbound calls: ring this long before ending with `no_answer`."""
    caller_identity: str | None = Field(None, min_length=1, max_length=256)
    """The caller's LiveKit participant identity (the one in the token the backend issued).
    Given, only that participant is the caller; absent, the first SIP participant (phone calls)
    or the first standard/SIP/connector participant (web calls)."""
    join_timeout_seconds: float | None = Field(None, ge=5.0, le=600.0)
    """How long the agent waits in the room for the caller (their participant and audio)
    before ending with `no_answer` / `caller_did_not_join`. Absent: the worker's default
    (`VOICE_AGENT_JOIN_TIMEOUT_SECONDS`, 60 s), which is also the most a call may ask for."""


class DispatchDocument(ContractModel):
    """The document a backend sends (nested dialect), as validated."""

    version: Literal[1] = 1
    call: CallInfo = Field(default_factory=CallInfo)
    assistant: AssistantConfig | None = None
    """Transient mode: the whole assistant inline."""
    assistant_id: str | None = Field(None, min_length=1, max_length=200)
    """Reference/hybrid mode: a saved assistant, resolved by the worker's config source."""
    assistant_override: dict[str, Any] | None = None
    """Hybrid mode: partial AssistantConfig deep-merged onto the saved one."""


_FLAT_MARKS: dict[str, Any] = {
    # What marks a document as flat: a key only the flat dialect uses, or `system_prompt`
    # without any field only an HMS assistant has (agent/intake/dialects.py).
    "anyOf": [
        *({"required": [key]} for key in sorted(CALLMISSED_ONLY)),
        {
            "required": ["system_prompt"],
            "not": {"anyOf": [{"required": [key]} for key in sorted(HMS_MARKERS)]},
        },
    ],
    "not": {"anyOf": [{"required": ["assistant"]}, {"required": ["assistant_id"]}]},
}


class FlatSessionConfig(ContractModel):
    """The flat (CallMissed-style) session config, accepted as the whole document or as
    `assistant`. Other AssistantConfig fields may be mixed in."""

    model_config = ContractModel.model_config | {"extra": "allow", "json_schema_extra": _FLAT_MARKS}

    system_prompt: str | None = Field(None, max_length=FLAT_PROMPT_MAX)
    voice: str | None = None
    language: str | None = None
    llm_model: str | None = None
    tts_provider: Literal["sarvam", "elevenlabs", "openai"] | None = None
    max_duration_seconds: int | None = Field(None, ge=FLAT_DURATION_MIN, le=FLAT_DURATION_MAX)
    """Default 300."""
    webhook_url: str | None = None
    metadata: dict[str, Any] | None = None
    bot_id: str | None = None
