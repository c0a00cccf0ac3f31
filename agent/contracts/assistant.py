"""AssistantConfig: what the voice brain does on one call, as the backend describes it.

The field names are the platforms' own (VoiceDock / HMS Sovereign `assistant` objects, see
shared/seeds), so a backend that already speaks that dialect plugs in unchanged. A second,
flat dialect (CallMissed session config) is normalised into this model by `dialects.py`.

Models are strict (`extra="forbid"`): a misspelt `max_duration_second` must be an error naming the
field, not a silently ignored setting that lets the call run ten times longer than intended.
Provider configs are discriminated unions on `provider`, so an unknown provider is reported as
exactly that, at exactly that path. Secrets (`api_key`, `webhook_secret`, tool `server.secret`)
accept `secret:NAME` references, resolved at parse time (see `secrets.py`).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal, Self

from pydantic import (
    AnyHttpUrl,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from agent.intake.secret_fields import Secret

MAX_DURATION_MIN = 10
MAX_DURATION_MAX = 43200
DEFAULT_MAX_DURATION = 600


class ContractModel(BaseModel):
    """Base of every dispatch-document model: strict, immutable once parsed."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, populate_by_name=True, use_attribute_docstrings=True
    )


# --- providers -------------------------------------------------------------------------------

LLM_PRESET_PROVIDERS = frozenset({"xai", "groq", "openrouter"})
"""OpenAI-compatible third-party endpoints known by name (their URLs: agent/call/providers.py)."""


NEEDS_OWN_KEY = "needs_own_api_key"
"""The error type of a provider config that chose its endpoint without bringing a key; the
dispatch parser reports it at the config's `api_key`."""


class ProviderConfig(ContractModel):
    # A document choosing its own endpoint must bring its own key (also in the JSON Schema,
    # so a backend validating before dispatch sees it).
    model_config = ContractModel.model_config | {
        "json_schema_extra": {"dependentRequired": {"base_url": ["api_key"]}}
    }

    base_url: AnyHttpUrl | None = None
    """Endpoint override: EU regions, self-hosted OpenAI-compatible servers, proxies. Needs
    `api_key`: the worker's own key goes only to the vendor's endpoint or the operator's. The
    host goes through the worker's target policy when the call starts."""
    api_key: Secret | None = None
    """Per-call key (BYOK). Prefer `secret:NAME`; defaults to the worker's key for the vendor,
    which is used only with the vendor's default endpoint or the one the operator configured."""

    @model_validator(mode="after")
    def _own_endpoint_needs_own_key(self) -> Self:
        if self.base_url is not None and self.api_key is None:
            raise own_key_required("`base_url`")
        return self


def own_key_required(chosen: str) -> PydanticCustomError:
    return PydanticCustomError(
        NEEDS_OWN_KEY,
        f"{chosen} is set, so `api_key` is required: the worker's own key is only sent to the "
        "vendor's default endpoint or the one the operator configured",
    )


class DeepgramSTTConfig(ProviderConfig):
    provider: Literal["deepgram"]
    model: str = "nova-3"
    language: str = "en"
    keyterms: list[str] = Field(default_factory=list, max_length=100)
    """Words to boost (nova-3 `keyterm`)."""
    endpointing_ms: int = Field(25, ge=0, le=5000)


class OpenAISTTConfig(ProviderConfig):
    provider: Literal["openai"]
    model: str = "gpt-4o-mini-transcribe"
    language: str = "en"
    prompt: str | None = None


class SarvamSTTConfig(ProviderConfig):
    provider: Literal["sarvam"]
    model: str = "saarika:v2.5"
    language: str = "en-IN"


STTConfig = Annotated[
    DeepgramSTTConfig | OpenAISTTConfig | SarvamSTTConfig, Field(discriminator="provider")
]


class LLMMessage(ContractModel):
    role: Literal["system", "user", "assistant"]
    content: str = Field(max_length=100_000)


_LLM_SCHEMA_EXTRA: dict[str, Any] = {
    "dependentRequired": {"base_url": ["api_key"]},
    "if": {
        "properties": {"provider": {"enum": sorted(LLM_PRESET_PROVIDERS)}},
        "required": ["provider"],
    },
    "then": {"required": ["api_key"]},
}


class LLMConfig(ProviderConfig):
    """Any OpenAI-compatible chat completions endpoint.

    `openai` defaults to the operator's configured OpenAI-compatible endpoint
    (`VOICE_AGENT_OPENAI_BASE_URL`); `openai-compatible` is the same with a `base_url` expected.
    Other names are presets for well-known compatible endpoints.
    """

    model_config = ProviderConfig.model_config | {"json_schema_extra": _LLM_SCHEMA_EXTRA}

    provider: Literal["openai", "openai-compatible", "xai", "groq", "openrouter"] = "openai"
    """`xai`, `groq` and `openrouter` are third-party endpoints: they need `api_key`."""
    model: str = Field(min_length=1, max_length=200)
    messages: list[LLMMessage] = Field(default_factory=list)
    """The system prompt (and optional few-shot turns) the agent starts with."""
    temperature: float | None = Field(None, ge=0, le=2)
    max_tokens: int | None = Field(None, ge=1, le=32_768)
    timeout_seconds: float = Field(15.0, gt=0, le=120)
    """A stuck request is abandoned after this long (the framework then retries or fails)."""

    @model_validator(mode="after")
    def _preset_needs_own_key(self) -> Self:
        if self.provider in LLM_PRESET_PROVIDERS and self.api_key is None:
            raise own_key_required(f"provider {self.provider!r} (a third-party endpoint)")
        return self


class ElevenLabsTTSConfig(ProviderConfig):
    provider: Literal["elevenlabs"]
    voice_id: str = Field(min_length=1)
    model: str = "eleven_flash_v2_5"
    language: str | None = None
    stability: float | None = Field(None, ge=0, le=1)
    similarity_boost: float | None = Field(None, ge=0, le=1)
    style: float | None = Field(None, ge=0, le=1)
    speed: float | None = Field(None, ge=0.7, le=1.2)


class OpenAITTSConfig(ProviderConfig):
    provider: Literal["openai"]
    voice: str = "alloy"
    model: str = "gpt-4o-mini-tts"
    instructions: str | None = None
    speed: float = Field(1.0, ge=0.25, le=4.0)


class SarvamTTSConfig(ProviderConfig):
    provider: Literal["sarvam"]
    voice: str = "shubh"
    """Sarvam `speaker`."""
    model: str = "bulbul:v3"
    language: str = "en-IN"
    pace: float = Field(1.0, ge=0.3, le=3.0)


TTSConfig = Annotated[
    ElevenLabsTTSConfig | OpenAITTSConfig | SarvamTTSConfig, Field(discriminator="provider")
]


class TurnConfig(ContractModel):
    """Endpointing and interruption. Pinned so dev and production behave alike."""

    min_silence_seconds: float = Field(0.55, ge=0.1, le=3.0)
    """VAD: silence that ends a speech segment."""
    min_endpointing_delay: float = Field(0.5, ge=0.0, le=5.0)
    """Minimum time since the caller's last speech before the turn is taken (counted from the
    end of speech, so it overlaps the VAD silence window: with 0.55 s of silence, 0.5 s adds
    nothing)."""
    max_endpointing_delay: float = Field(3.0, ge=0.5, le=10.0)
    allow_interruptions: bool = True
    min_interruption_seconds: float = Field(0.5, ge=0.0, le=5.0)
    """Caller speech shorter than this does not cut the agent off (coughs, "mm-hm")."""


# --- behaviour ---------------------------------------------------------------------------------


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
    prompts: list[Annotated[str, Field(min_length=1)]] = Field(
        default_factory=lambda: ["Are you still there?"], min_length=1, max_length=20
    )
    max_prompts: int = Field(2, ge=0, le=20)
    final_message: str = "It seems you've stepped away. I'll end the call now. Goodbye!"


class SummaryPlan(ContractModel):
    enabled: bool = True
    prompt: str | None = None
    timeout_seconds: float = Field(15.0, gt=0, le=120)


class StructuredDataPlan(ContractModel):
    enabled: bool = False
    schema_: dict[str, Any] = Field(default_factory=dict, alias="schema")
    """JSON Schema the extracted data must validate against."""
    prompt: str | None = None
    timeout_seconds: float = Field(15.0, gt=0, le=120)

    @model_validator(mode="after")
    def _schema_when_enabled(self) -> StructuredDataPlan:
        if self.enabled and not self.schema_:
            raise ValueError("structured_data_plan.enabled needs a non-empty `schema`")
        return self


class SuccessEvaluationPlan(ContractModel):
    enabled: bool = False
    rubric: Literal["pass_fail", "numeric_scale"] = "pass_fail"
    """`pass_fail`: true/false. `numeric_scale`: a score from 1 to 10."""
    prompt: str | None = None
    timeout_seconds: float = Field(15.0, gt=0, le=120)


class AnalysisPlan(ContractModel):
    summary_plan: SummaryPlan = Field(default_factory=SummaryPlan)
    structured_data_plan: StructuredDataPlan = Field(default_factory=StructuredDataPlan)
    success_evaluation_plan: SuccessEvaluationPlan = Field(default_factory=SuccessEvaluationPlan)
    min_messages_threshold: int = Field(1, ge=0, le=100)
    """Analysis is skipped when the caller said fewer messages than this."""


class VoicemailDetection(ContractModel):
    enabled: bool = False
    voicemail_message: str | None = None
    """Left on the machine before hanging up; without it the call just ends."""


# --- tools -------------------------------------------------------------------------------------


class FunctionSpec(ContractModel):
    name: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")
    description: str = ""
    parameters: dict[str, Any] = Field(default_factory=lambda: {"type": "object", "properties": {}})
    """JSON Schema of the arguments; calls that do not match it are refused before any request."""


class ToolServer(ContractModel):
    url: AnyHttpUrl
    timeout_seconds: float = Field(20.0, gt=0, le=120)
    secret: Secret | None = None
    """Signs the `tool-calls` request; defaults to the assistant's webhook secret."""
    headers: dict[str, str] = Field(default_factory=dict)


class ToolMessages(ContractModel):
    request_start: str | None = None
    request_delayed: str | None = None
    request_delayed_after_seconds: float = Field(3.0, gt=0, le=60)
    request_failed: str | None = None


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

WebhookEvent = Literal["status-update", "transcript", "tool-calls", "end-of-call-report"]
ALL_WEBHOOK_EVENTS: tuple[WebhookEvent, ...] = (
    "status-update",
    "transcript",
    "tool-calls",
    "end-of-call-report",
)


class AssistantConfig(ContractModel):
    """Everything one call's assistant does (the `assistant` of the dispatch document)."""

    name: str | None = Field(None, max_length=200)
    business_name: str | None = Field(None, max_length=200)
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
    max_duration_message: str = "We've reached the time limit for this call. Goodbye!"
    end_call_message: str = "Thanks for calling. Goodbye!"
    error_message: str = "Sorry, I'm having technical trouble and have to end the call. Goodbye!"
    """Said before a call ends with `error` (an LLM or STT that failed after retries); not said
    when the TTS itself is what failed."""
    end_call_phrases: list[Annotated[str, Field(min_length=1)]] = Field(
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
    metadata: dict[str, Any] = Field(default_factory=dict)
    """Passed through untouched (key casing included) to every webhook (`assistant.metadata`)."""

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

    @property
    def system_prompt(self) -> str:
        return "\n\n".join(m.content for m in self.llm_config.messages if m.role == "system")

    @model_validator(mode="after")
    def _first_message_needed(self) -> AssistantConfig:
        if self.first_message_mode is FirstMessageMode.SPEAKS_FIRST and not self.first_message:
            raise ValueError("first_message_mode 'assistant-speaks-first' needs a `first_message`")
        return self

    def resolved_webhook_secret(self, default: SecretStr | None) -> SecretStr | None:
        return self.webhook_secret or default
