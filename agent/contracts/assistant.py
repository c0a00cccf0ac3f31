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
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from enum import StrEnum
from typing import Annotated, Any, Literal, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AnyHttpUrl,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

# Re-exported: the dispatch document's models have always been importable from here.
from agent.contracts.base import ContractModel as ContractModel
from agent.contracts.json_schema import schema_problem
from agent.contracts.turn_plan import EndpointingMode as EndpointingMode
from agent.contracts.turn_plan import TurnConfig as TurnConfig
from agent.contracts.untrusted_json import bounds_problem
from agent.contracts.wire import WireFormat
from agent.intake.secret_fields import HeaderValue, Secret

MAX_DURATION_MIN = 10
MAX_DURATION_MAX = 43200
DEFAULT_MAX_DURATION = 600
"""Phone calls. Web calls default to `WEB_CALL_MAX_DURATION` (the platform's 5-minute web-call
limit, seeds 000 "Max call duration 5 minutes"); resolved by the parser once the call type is
known."""
WEB_CALL_MAX_DURATION = 300
MAX_KEYTERMS = 100

# Bounds on what a document brings in: `metadata` rides on every webhook of the call, and a
# schema is walked by the validator on every tool call, so both are bounded where they enter
# (a config_error naming the field), never found out when a report fails to serialise.
MAX_METADATA_BYTES = 16 * 1024
MAX_METADATA_DEPTH = 32
MAX_SCHEMA_BYTES = 32 * 1024
MAX_SCHEMA_DEPTH = 32
MAX_LLM_MESSAGES = 100
MAX_SPOKEN_LINE = 2000
"""A line the agent says (greeting, goodbye, tool and silence messages), in characters."""
MAX_INSTRUCTIONS = 4096
MAX_TOOL_HEADERS = 32
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}$")
_HEADER_VALUE = re.compile(r"^[^\x00-\x08\x0a-\x1f\x7f]{0,4096}$")
"""Any text but control characters (a CR or LF would split the request), up to 4096 chars."""

SpokenLine = Annotated[str, Field(max_length=MAX_SPOKEN_LINE)]


def _bounded(value: dict[str, Any], *, max_depth: int, max_bytes: int) -> dict[str, Any]:
    problem = bounds_problem(value, max_depth=max_depth, max_bytes=max_bytes)
    if problem is not None:
        raise ValueError(problem)
    return value


def _usable_schema(schema: dict[str, Any]) -> dict[str, Any]:
    _bounded(schema, max_depth=MAX_SCHEMA_DEPTH, max_bytes=MAX_SCHEMA_BYTES)
    problem = schema_problem(schema)
    if problem is not None:
        raise ValueError(problem)
    return schema


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


Keyterm = Annotated[str, Field(min_length=1, max_length=100)]


class _STTProvider(ProviderConfig):
    keyterms: list[Keyterm] = Field(default_factory=list, max_length=MAX_KEYTERMS)
    """Words and names to expect (the platforms' STT `keyterms`), on every provider, mapped to
    each vendor's own option (see agent/call/providers.py); where a vendor has none the call goes
    on without them and the report's `warnings` says so."""


class DeepgramSTTConfig(_STTProvider):
    provider: Literal["deepgram"]
    model: str = "nova-3"
    """`nova-*` (streaming v1), or `flux-*` (Deepgram's turn-taking model: STT v2, its own
    EndOfTurn; with `turn_config.endpointing_mode: stt`)."""
    language: str = "en"
    endpointing_ms: int | None = Field(None, ge=0, le=5000)
    """Silence after which Deepgram marks speech final (nova). Not set: 25 ms, or 500 ms with
    `turn_config.endpointing_mode: stt`, where it ends the caller's turn (Deepgram's advice for
    callers who pause mid-thought: 300-500 ms)."""
    utterance_end_ms: int | None = Field(None, ge=1000, le=5000)
    """nova: also end the utterance after this long without a word (Deepgram UtteranceEnd,
    which ignores background noise); `endpointing_mode: stt` only. Not set: off."""
    punctuate: bool = True
    """Punctuation in transcripts: what `endpointing_mode: transcript` reads. Off, an unset
    endpointing mode falls back to `vad`."""
    smart_format: bool | None = None
    """Numbers, dates and amounts written as digits ("415 555 0134"). Not set: on with
    `transcript` endpointing (its number rule reads digit groups), off otherwise."""
    eot_threshold: float | None = Field(None, ge=0.5, le=0.9)
    """Flux: end-of-turn confidence that ends the turn (Deepgram's default 0.7)."""
    eager_eot_threshold: float | None = Field(None, ge=0.3, le=0.9)
    """Flux: confidence at which the LLM may start early (preemptive); not set: off."""
    eot_timeout_ms: int | None = Field(None, ge=500, le=10_000)
    """Flux: a turn ends after this long without speech whatever the confidence."""

    @property
    def punctuates(self) -> bool:
        return self.punctuate

    @property
    def is_flux(self) -> bool:
        return self.model.startswith("flux")


class OpenAISTTConfig(_STTProvider):
    provider: Literal["openai"]
    model: str = "gpt-4o-mini-transcribe"
    language: str = "en"
    prompt: str | None = Field(None, max_length=MAX_INSTRUCTIONS)

    @property
    def punctuates(self) -> bool:
        return True  # the transcribe and whisper models write sentences


class SarvamSTTConfig(_STTProvider):
    provider: Literal["sarvam"]
    model: str = "saarika:v2.5"
    language: str = "en-IN"

    @property
    def punctuates(self) -> bool:
        return False  # not verified: transcript endpointing is opt-in here (a warning says so)


STTConfig = Annotated[
    DeepgramSTTConfig | OpenAISTTConfig | SarvamSTTConfig, Field(discriminator="provider")
]


class LLMFunctionCall(ContractModel):
    name: str = Field(min_length=1, max_length=64)
    arguments: str | dict[str, Any] = "{}"
    """JSON text, as OpenAI's chat format has it, or the object itself."""


class LLMToolCall(ContractModel):
    """A tool call in a few-shot assistant turn (OpenAI's chat format)."""

    id: str = Field(min_length=1, max_length=200)
    type: Literal["function"] = "function"
    function: LLMFunctionCall


class LLMMessage(ContractModel):
    """One message the conversation starts with: the system prompt, or a few-shot turn. A
    `tool` message answers an earlier assistant message's `tool_calls` entry (`tool_call_id`)."""

    role: Literal["system", "user", "assistant", "tool"]
    content: str | None = Field(None, max_length=100_000)
    """Required except on an assistant message that carries `tool_calls`."""
    tool_calls: list[LLMToolCall] | None = Field(None, max_length=16)
    """Assistant messages only."""
    tool_call_id: str | None = Field(None, min_length=1, max_length=200)
    """Tool messages only (required there)."""
    name: str | None = Field(None, max_length=64)

    @model_validator(mode="after")
    def _shape_of_role(self) -> Self:
        if self.tool_calls and self.role != "assistant":
            raise ValueError("`tool_calls` belongs on an assistant message")
        if self.tool_call_id is not None and self.role != "tool":
            raise ValueError("`tool_call_id` belongs on a tool message")
        if self.role == "tool" and self.tool_call_id is None:
            raise ValueError("a tool message needs `tool_call_id` (the call it answers)")
        if self.content is None and not (self.role == "assistant" and self.tool_calls):
            raise ValueError(
                "`content` is required (it may be left out only on an assistant "
                "message with `tool_calls`)"
            )
        return self


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
    messages: list[LLMMessage] = Field(default_factory=list, max_length=MAX_LLM_MESSAGES)
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

    @field_validator("messages")
    @classmethod
    def _tool_answers_follow_their_calls(cls, messages: list[LLMMessage]) -> list[LLMMessage]:
        called: set[str] = set()
        for i, message in enumerate(messages):
            called.update(call.id for call in message.tool_calls or ())
            if message.role == "tool" and message.tool_call_id not in called:
                raise ValueError(
                    f"messages.{i}.tool_call_id: no earlier assistant message has a tool call "
                    f"with id {message.tool_call_id!r}"
                )
        return messages


class _TTSProvider(ProviderConfig):
    """`voice` and `voice_id` are one field under two names (the seeds use both: TTS is
    "(provider, voice_id, speed)" in one document and "(provider, voice, speed)" in another), so
    either is accepted on every provider; giving both with different values is an error."""

    @model_validator(mode="before")
    @classmethod
    def _one_voice(cls, data: Any) -> Any:
        both = isinstance(data, dict) and "voice" in data and "voice_id" in data
        if both and data["voice"] != data["voice_id"]:
            raise ValueError("`voice` and `voice_id` are the same setting; give one of them")
        return data


class ElevenLabsTTSConfig(_TTSProvider):
    provider: Literal["elevenlabs"]
    voice_id: str | None = Field(None, min_length=1)
    """Required (here or as `voice`): ElevenLabs has no voice the worker could choose for you."""
    voice: str | None = Field(None, min_length=1)
    """Another name for `voice_id`."""
    model: str = "eleven_flash_v2_5"
    language: str | None = None
    stability: float | None = Field(None, ge=0, le=1)
    similarity_boost: float | None = Field(None, ge=0, le=1)
    style: float | None = Field(None, ge=0, le=1)
    speed: float | None = Field(None, ge=0.7, le=1.2)

    @model_validator(mode="after")
    def _voice_given(self) -> Self:
        if not (self.voice_id or self.voice):
            raise ValueError("`voice_id` (or `voice`) is required for ElevenLabs")
        return self

    @property
    def voice_name(self) -> str:
        return self.voice_id or self.voice or ""


class OpenAITTSConfig(_TTSProvider):
    provider: Literal["openai"]
    voice: str | None = Field(None, min_length=1)
    """Default `alloy`."""
    voice_id: str | None = Field(None, min_length=1)
    """Another name for `voice`."""
    model: str = "gpt-4o-mini-tts"
    instructions: str | None = Field(None, max_length=MAX_INSTRUCTIONS)
    speed: float = Field(1.0, ge=0.25, le=4.0)
    language: str | None = None
    """Accepted for uniformity; OpenAI TTS takes no language (it follows the text), so it is
    ignored with a warning."""

    @property
    def voice_name(self) -> str:
        return self.voice or self.voice_id or "alloy"


SARVAM_PACE_BOUNDS = (0.3, 3.0)
SARVAM_V4_FLASH_PACE_BOUNDS = (0.5, 2.0)
"""The Sarvam plugin's accepted `pace` ranges (livekit-plugins-sarvam `_PARAM_BOUNDS`)."""


class SarvamTTSConfig(_TTSProvider):
    provider: Literal["sarvam"]
    voice: str | None = Field(None, min_length=1)
    """Sarvam `speaker`; default `shubh`."""
    voice_id: str | None = Field(None, min_length=1)
    """Another name for `voice`."""
    model: str = "bulbul:v3"
    language: str = "en-IN"
    pace: float | None = Field(None, ge=0.3, le=3.0)
    """Sarvam's name for `speed`; default 1.0 (0.5-2.0 on `bulbul:v4-flash`)."""
    speed: float | None = Field(None, ge=0.3, le=3.0)
    """Another name for `pace`."""

    @model_validator(mode="after")
    def _one_pace_in_range(self) -> Self:
        if self.pace is not None and self.speed is not None and self.pace != self.speed:
            raise ValueError("`speed` and `pace` are the same setting; give one of them")
        low, high = (
            SARVAM_V4_FLASH_PACE_BOUNDS if self.model == "bulbul:v4-flash" else SARVAM_PACE_BOUNDS
        )
        if not low <= self.pace_value <= high:
            raise ValueError(f"`speed` must be between {low} and {high} for model {self.model!r}")
        return self

    @property
    def voice_name(self) -> str:
        return self.voice or self.voice_id or "shubh"

    @property
    def pace_value(self) -> float:
        return self.pace if self.pace is not None else (self.speed or 1.0)


TTSConfig = Annotated[
    ElevenLabsTTSConfig | OpenAITTSConfig | SarvamTTSConfig, Field(discriminator="provider")
]


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
    prompts: list[Annotated[str, Field(min_length=1, max_length=MAX_SPOKEN_LINE)]] = Field(
        default_factory=lambda: ["Are you still there?"], min_length=1, max_length=20
    )
    max_prompts: int = Field(2, ge=0, le=20)
    final_message: SpokenLine = "It seems you've stepped away. I'll end the call now. Goodbye!"


class SummaryPlan(ContractModel):
    enabled: bool = True
    prompt: str | None = None
    timeout_seconds: float = Field(15.0, gt=0, le=120)


class StructuredDataPlan(ContractModel):
    enabled: bool = False
    schema_: dict[str, Any] = Field(default_factory=dict, alias="schema")
    """JSON Schema the extracted data must validate against (checked against the meta-schema
    when the document is parsed; at most 32 levels deep and 32 KB)."""
    prompt: str | None = None
    timeout_seconds: float = Field(15.0, gt=0, le=120)

    @field_validator("schema_")
    @classmethod
    def _schema_is_usable(cls, schema: dict[str, Any]) -> dict[str, Any]:
        return _usable_schema(schema) if schema else schema

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
    voicemail_message: SpokenLine | None = None
    """Left on the machine before hanging up; without it the call just ends."""


# --- tools -------------------------------------------------------------------------------------


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
        _usable_schema(parameters)
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

WebhookEvent = Literal[
    "status-update",
    "transcript",
    "tool-calls",
    "end-of-call-report",
    "assistant-request",
    "voice_session.started",
    "voice_session.ended",
    "voice_session.failed",
]
"""Every event name the seeds list: HMS's (000, 001) and CallMissed's (004). `assistant-request`
is accepted and has no effect: whether the worker asks a backend is the operator's
`VOICE_AGENT_CONFIG_SOURCE`."""
ALL_WEBHOOK_EVENTS: tuple[WebhookEvent, ...] = (
    "status-update",
    "transcript",
    "tool-calls",
    "end-of-call-report",
)
"""What the worker sends by default (HMS names)."""
WEBHOOK_EVENT_EQUIVALENTS: dict[str, tuple[str, ...]] = {
    "voice_session.started": ("status-update",),
    "voice_session.ended": ("end-of-call-report",),
    "voice_session.failed": ("end-of-call-report",),
    "status-update": ("voice_session.started",),
    "end-of-call-report": ("voice_session.ended", "voice_session.failed"),
}
"""A name of one wire format also enables its counterpart in the other, so a list written for
either dialect selects the same moments of a call."""


def enabled_event_names(listed: Iterable[str]) -> frozenset[str]:
    """The event names `webhook_events` selects, counterparts of the other format included."""
    names = set(listed)
    for name in list(names):
        names.update(WEBHOOK_EVENT_EQUIVALENTS.get(name, ()))
    return frozenset(names)


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
        return _bounded(metadata, max_depth=MAX_METADATA_DEPTH, max_bytes=MAX_METADATA_BYTES)

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
