"""The vendor configs of an assistant: `stt_config`, `llm_config` and `tts_config`.

One pydantic model per vendor, joined per kind in a union discriminated on `provider`, so an
unknown provider is reported as exactly that, at exactly that path. What they share is the
endpoint rule: a document that chooses its own endpoint (`base_url`, or a third-party LLM
preset) must bring its own key, because the worker's key goes only to the vendor or the
operator's endpoint. Mapping these configs onto livekit plugins is agent/call/providers.py's job.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Self

from pydantic import AnyHttpUrl, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from agent.contracts.base import ContractModel
from agent.contracts.field_bounds import MAX_INSTRUCTIONS
from agent.intake.secret_fields import Secret

MAX_KEYTERMS = 100
MAX_LLM_MESSAGES = 100

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
