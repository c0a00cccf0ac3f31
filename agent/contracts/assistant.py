"""AssistantConfig: what the voice brain does on one call, as the backend describes it.

The field names are the platforms' own (VoiceDock / HMS Sovereign `assistant` objects, see
shared/seeds), so a backend that already speaks that dialect plugs in unchanged. A second,
flat dialect (CallMissed session config) is normalised into this model by `dialects.py`.

Models are strict (`extra="forbid"`): a misspelt `max_duration_second` is found and named, never
silently ignored. What happens then is the parser's policy (agent/intake/dispatch.py): `check`
refuses it, a live call drops it with a warning listed in the report (a backend a version ahead
of the worker pool must not cost calls), unless the operator set VOICE_AGENT_UNKNOWN_FIELDS=refuse.
Provider configs are discriminated unions on `provider`, so an unknown provider is reported as
exactly that, at exactly that path. Secrets (`api_key`, `webhook_secret`, tool `server.secret`)
accept `secret:NAME` references, resolved at parse time (see `secrets.py`).

This module is the assistant as a whole and how it behaves on the call (greeting, limits,
silence, voicemail, webhooks); its parts each have a module of their own: the vendor configs
(provider_configs.py), the tools it declares (tool_definitions.py), its analysis plan
(analysis_plan.py), the events it asks for (webhook_events.py) and the bounds they share
(field_bounds.py).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AnyHttpUrl, Field, SecretStr, field_validator, model_validator

from agent.contracts.analysis_plan import AnalysisPlan
from agent.contracts.base import ContractModel
from agent.contracts.field_bounds import (
    MAX_METADATA_BYTES,
    MAX_METADATA_DEPTH,
    MAX_SPOKEN_LINE,
    SpokenLine,
    bounded,
)
from agent.contracts.provider_configs import LLMConfig, STTConfig, TTSConfig
from agent.contracts.tool_definitions import FunctionTool, Tool
from agent.contracts.turn_plan import EndpointingMode, TurnConfig
from agent.contracts.webhook_events import ALL_WEBHOOK_EVENTS, WebhookEvent
from agent.contracts.wire import WireFormat
from agent.intake.secret_fields import Secret

MAX_DURATION_MIN = 10
MAX_DURATION_MAX = 43200
DEFAULT_MAX_DURATION = 600
"""Phone calls. Web calls default to `WEB_CALL_MAX_DURATION` (the platform's 5-minute web-call
limit, seeds 000 "Max call duration 5 minutes"); resolved by the parser once the call type is
known."""
WEB_CALL_MAX_DURATION = 300


class FirstMessageMode(StrEnum):
    SPEAKS_FIRST = "assistant-speaks-first"
    """Say `first_message` as soon as the caller is there."""
    WAITS_FOR_USER = "assistant-waits-for-user"
    """Say nothing until the caller speaks."""
    MODEL_GENERATED = "assistant-speaks-first-with-model-generated-message"
    """The LLM writes the greeting from the system prompt."""


class SilenceHandling(ContractModel):
    """Autonomous silence handling: prompt a silent caller, then hang up."""

    enabled: bool = True
    timeout_seconds: float = Field(7.5, ge=1.0, le=300.0)
    prompts: list[Annotated[str, Field(min_length=1, max_length=MAX_SPOKEN_LINE)]] = Field(
        default_factory=lambda: ["Are you still there?"], min_length=1, max_length=20
    )
    max_prompts: int = Field(2, ge=0, le=20)
    final_message: SpokenLine = "It seems you've stepped away. I'll end the call now. Goodbye!"


class VoicemailDetection(ContractModel):
    enabled: bool = False
    voicemail_message: SpokenLine | None = None
    """Left on the machine before hanging up; without it the call just ends."""


class AssistantConfig(ContractModel):
    """Everything one call's assistant does (the `assistant` of the dispatch document)."""

    name: str | None = Field(None, max_length=200)
    business_name: str | None = Field(None, max_length=200)
    """Reported back, and `{{business_name}}` in the prompts and spoken lines."""
    system_prompt: str | None = Field(None, max_length=100_000)
    """HMS's top-level prompt (seed 001, Create Assistant): the first system message, before any
    in `llm_config.messages`."""
    timezone: str = Field("UTC", max_length=64)
    """IANA name (`Europe/Amsterdam`): `{{now}}`, `{{date}}` and `{{time}}` are in this zone."""
    first_message: str | None = Field(None, max_length=2000)
    first_message_mode: FirstMessageMode | None = None
    """Default: speaks first when `first_message` is set, otherwise waits for the caller."""

    stt_config: STTConfig
    llm_config: LLMConfig
    tts_config: TTSConfig
    turn_config: TurnConfig = Field(default_factory=TurnConfig)
    tools: list[Tool] = Field(default_factory=list, max_length=64)
    end_call_enabled: bool = True
    """The `end_call` tool is offered to the LLM unless this is false."""

    max_duration_seconds: int = Field(
        DEFAULT_MAX_DURATION, ge=MAX_DURATION_MIN, le=MAX_DURATION_MAX
    )
    """Default 300 s for web calls (the platform's 5-minute web-call limit) and CallMissed
    sessions (30-3600 there), 600 s for phone calls."""
    max_duration_message: SpokenLine = "We've reached the time limit for this call. Goodbye!"
    end_call_message: SpokenLine = "Thanks for calling. Goodbye!"
    error_message: SpokenLine = (
        "Sorry, I'm having technical trouble and have to end the call. Goodbye!"
    )
    """Said before a call ends with `error` (an LLM or STT that failed after retries); not said
    when the TTS itself is what failed."""
    end_call_phrases: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(
        default_factory=list, max_length=50
    )
    autonomous_silence_handling: SilenceHandling = Field(default_factory=SilenceHandling)
    voicemail_detection: VoicemailDetection = Field(default_factory=VoicemailDetection)
    analysis_plan: AnalysisPlan = Field(default_factory=AnalysisPlan)

    gdpr_mode: bool = False
    """Redact personal data from the report and never log transcript text."""
    webhook_url: AnyHttpUrl | None = None
    webhook_secret: Secret | None = None
    webhook_events: list[WebhookEvent] = Field(default_factory=lambda: list(ALL_WEBHOOK_EVENTS))
    webhook_format: WireFormat | None = None
    """The webhook dialect this document's backend verifies: `hms` (`X-Webhook-*`, the
    envelope) or `callmissed` (`X-CallMissed-*`, `voice_session.*`). Default: the dialect the
    document is written in. The operator's `VOICE_AGENT_WEBHOOK_FORMAT` overrides both."""
    metadata: dict[str, Any] = Field(default_factory=dict)
    """Passed through untouched (key casing included) to every webhook (`assistant.metadata`).
    At most 32 levels deep and 16 KB as JSON: it rides on every event of the call."""

    @field_validator("metadata")
    @classmethod
    def _metadata_is_bounded(cls, metadata: dict[str, Any]) -> dict[str, Any]:
        return bounded(metadata, max_depth=MAX_METADATA_DEPTH, max_bytes=MAX_METADATA_BYTES)

    @field_validator("tools")
    @classmethod
    def _unique_tool_names(cls, tools: list[Tool]) -> list[Tool]:
        names = [t.function.name for t in tools if isinstance(t, FunctionTool)]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"function tool names must be unique; repeated: {', '.join(dupes)}")
        reserved = {"end_call", "transfer_call", "send_dtmf"} & set(names)
        if reserved:
            raise ValueError(f"function tool name(s) {sorted(reserved)} are reserved")
        return tools

    @property
    def effective_first_message_mode(self) -> FirstMessageMode:
        if self.first_message_mode is not None:
            return self.first_message_mode
        if self.first_message:
            return FirstMessageMode.SPEAKS_FIRST
        return FirstMessageMode.WAITS_FOR_USER

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, name: str) -> str:
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {name!r}: use an IANA name such as 'Europe/Amsterdam'"
            ) from None
        return name

    @property
    def endpointing_mode(self) -> EndpointingMode:
        """The call's endpointing mode: `turn_config`'s, else by whether the STT punctuates."""
        return self.turn_config.resolved_mode(stt_punctuates=self.stt_config.punctuates)

    @property
    def instructions(self) -> str:
        """The system prompt the agent runs with: `system_prompt`, then every system message."""
        parts = [self.system_prompt] if self.system_prompt else []
        parts += [m.content for m in self.llm_config.messages if m.role == "system" and m.content]
        return "\n\n".join(parts)

    @model_validator(mode="after")
    def _first_message_needed(self) -> AssistantConfig:
        if self.first_message_mode is FirstMessageMode.SPEAKS_FIRST and not self.first_message:
            raise ValueError("first_message_mode 'assistant-speaks-first' needs a `first_message`")
        return self

    def resolved_webhook_secret(self, default: SecretStr | None) -> SecretStr | None:
        return self.webhook_secret or default
