"""Providers: the one module that knows vendors.

Turns the validated `stt_config` / `llm_config` / `tts_config` of an AssistantConfig into
livekit-agents STT, LLM and TTS objects, and loads the VAD. Nothing else in the project imports
`livekit.plugins.*`: the rest speaks the framework's interfaces, so the simulator can swap in
offline stand-ins and a new vendor is a change to this file only.

Keys: a per-call key (BYOK, usually a `secret:NAME` reference, already resolved by the config
layer) wins over the worker's key for that vendor. The worker's key goes only to the vendor's
default endpoint or the one the operator configured (`VOICE_AGENT_*_BASE_URL`): a config with its
own `base_url`, or an LLM preset, gets no worker key (the contract refuses such a config without
`api_key` at parse time; this module holds to it on its own too). A vendor whose key is missing
is a `ConfigError` naming the field, raised before the call starts talking, instead of a
mid-call authentication failure. Where a per-call endpoint may point is checked separately,
when the call starts (agent/call/endpoints.py). So is a value a plugin refuses when it is built
(a Sarvam speaker its model does not have): the plugins raise `ValueError`, which becomes a
`ConfigError` at the field it is about, never an `error` of the worker's.

The seeds describe every TTS as (provider, voice, speed) and every STT as (provider, language,
keyterms), so those options are accepted on every provider and mapped here to each plugin's
own: voice -> ElevenLabs `voice_id` / OpenAI `voice` / Sarvam `speaker`, speed -> ElevenLabs
`voice_settings.speed` / OpenAI `speed` / Sarvam `pace`, keyterms -> Deepgram `keyterm`
(nova-3) or `keywords` (older models) / OpenAI `keywords` (gpt-transcribe) or a vocabulary
line in `prompt` (older models). Where a vendor has no such option the call goes on without
it, and `provider_warnings` says so (the warnings reach the log and the report's `warnings`).
"""

from __future__ import annotations

import functools
import ssl
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import SecretStr

from agent.contracts.assistant import AssistantConfig
from agent.contracts.provider_configs import (
    LLM_PRESET_PROVIDERS,
    DeepgramSTTConfig,
    ElevenLabsTTSConfig,
    LLMConfig,
    OpenAISTTConfig,
    OpenAITTSConfig,
    ProviderConfig,
    SarvamSTTConfig,
    SarvamTTSConfig,
    STTConfig,
    TTSConfig,
)
from agent.contracts.turn_plan import EndpointingMode, TurnConfig
from agent.errors import ConfigError
from agent.worker.settings import WorkerSettings

if TYPE_CHECKING:
    from livekit.agents import llm, stt, tts, vad

# OpenAI-compatible endpoints known by name, so `provider: groq` needs no `base_url`.
LLM_PRESETS: dict[str, str] = {
    "xai": "https://api.x.ai/v1",
    "groq": "https://api.groq.com/openai/v1",
    "openrouter": "https://openrouter.ai/api/v1",
}
assert LLM_PRESETS.keys() == LLM_PRESET_PROVIDERS


@dataclass(frozen=True)
class Providers:
    stt: stt.STT[Any]
    llm: llm.LLM[Any]
    tts: tts.TTS[Any]
    warnings: tuple[str, ...] = ()
    """Options a vendor has no equivalent for, dropped so the call could go on."""


_DEEPGRAM_KEYTERM_MODELS = ("nova-3",)
"""Deepgram models that take `keyterm`; the others take `keywords` (the plugin refuses the
wrong one, even an empty `keyterm` list)."""
_OPENAI_KEYWORD_MODELS = ("gpt-transcribe", "gpt-live-transcribe")
"""OpenAI transcription models that take `keywords` (livekit-plugins-openai
`_CONTEXT_HINT_MODELS`); the plugin refuses it on the others."""


def stt_keyterm_options(cfg: STTConfig) -> tuple[dict[str, Any], list[str]]:
    """The plugin options `keyterms` becomes for this STT, and what could not be mapped."""
    terms = list(cfg.keyterms)
    if not terms:
        return {}, []
    if isinstance(cfg, DeepgramSTTConfig):
        if cfg.model.startswith(_DEEPGRAM_KEYTERM_MODELS):
            return {"keyterm": terms}, []
        # Deepgram's keyword boosting, at its neutral intensity.
        return {"keywords": [(term, 1.0) for term in terms]}, []
    if isinstance(cfg, OpenAISTTConfig):
        if cfg.model.startswith(_OPENAI_KEYWORD_MODELS):
            return {"keywords": terms}, []
        vocabulary = f"Vocabulary: {', '.join(terms)}"
        prompt = f"{cfg.prompt}\n\n{vocabulary}" if cfg.prompt else vocabulary
        return {"prompt": prompt}, [
            f"stt_config.keyterms: OpenAI {cfg.model} takes no keywords; sent as a prompt hint"
        ]
    return {}, [f"stt_config.keyterms: {cfg.provider} STT has no keyterm option; ignored"]


def tts_warnings(cfg: TTSConfig) -> list[str]:
    """Options of this TTS config that its vendor has no equivalent for."""
    if isinstance(cfg, OpenAITTSConfig) and cfg.language:
        return ["tts_config.language: OpenAI TTS takes no language (it follows the text); ignored"]
    return []


def provider_warnings(assistant: AssistantConfig) -> list[str]:
    """Everything `build_providers` drops, without building anything (the simulator, which
    runs offline vendors, reports the same warnings production does)."""
    return stt_keyterm_options(assistant.stt_config)[1] + tts_warnings(assistant.tts_config)


_FIELD_WORDS = (
    ("speaker", "voice"),
    ("voice", "voice"),
    ("pace", "speed"),
    ("speed", "speed"),
    ("keyterm", "keyterms"),
    ("keyword", "keyterms"),
    ("language", "language"),
    ("model", "model"),
)


def _refused(component: str, exc: Exception) -> ConfigError:
    """A plugin's refusal of a value, as a config_error at the field it is about."""
    text = str(exc)
    lowered = text.lower()
    field = next((name for word, name in _FIELD_WORDS if word in lowered), None)
    path = f"assistant.{component}" + (f".{field}" if field else "")
    # The plugins' messages name values of the config (a speaker, a model), never a key.
    return ConfigError(
        f"the {component.split('_')[0].upper()} plugin refused it: {text[:300]}", path=path
    )


def _key(
    cfg: ProviderConfig,
    worker: SecretStr | None,
    *,
    field: str,
    env: str,
    own_endpoint: bool = False,
) -> str:
    """The call's key, else the worker's, which only goes where the worker's endpoints are:
    never with a per-call `base_url` (or an endpoint the document chose by name)."""
    if cfg.api_key is not None:
        return cfg.api_key.get_secret_value()
    if own_endpoint or cfg.base_url is not None:
        raise ConfigError(
            "the call sets its own endpoint, so it needs its own `api_key`; the worker's "
            f"{env} only goes to the vendor's endpoint or the operator's",
            path=field,
        )
    if worker is not None and worker.get_secret_value():
        return worker.get_secret_value()
    raise ConfigError(
        f"no API key: set `{field.rsplit('.', 1)[-1]}` (a secret:NAME reference) or the worker's "
        f"{env}",
        path=field,
    )


def _url(value: object | None) -> str | None:
    return str(value).rstrip("/") if value is not None else None


def build_stt(assistant: AssistantConfig, settings: WorkerSettings) -> stt.STT[Any]:
    cfg = assistant.stt_config
    field = "assistant.stt_config.api_key"
    if isinstance(cfg, DeepgramSTTConfig):
        from livekit.plugins import deepgram

        mode = assistant.endpointing_mode
        kwargs: dict[str, Any] = {
            "model": cfg.model,
            "api_key": _key(cfg, settings.deepgram_api_key, field=field, env="DEEPGRAM_API_KEY"),
        }
        if base := _url(cfg.base_url) or settings.deepgram_base_url:
            kwargs["base_url"] = base
        if cfg.is_flux:
            # Flux (STT v2) decides the end of turn itself: EndOfTurn -> END_OF_SPEECH, which
            # ends the turn in `stt` mode; EagerEndOfTurn starts the LLM early. English only.
            flux = {
                "eot_threshold": cfg.eot_threshold,
                "eager_eot_threshold": cfg.eager_eot_threshold,
                "eot_timeout_ms": cfg.eot_timeout_ms,
            }
            kwargs.update({k: v for k, v in flux.items() if v is not None})
            kwargs["numerals"] = deepgram_smart_format(cfg, mode)
            if cfg.keyterms:
                kwargs["keyterm"] = list(cfg.keyterms)
            return deepgram.STTv2(**kwargs)
        kwargs.update(stt_keyterm_options(cfg)[0])
        kwargs.update(
            language=cfg.language,
            endpointing_ms=deepgram_endpointing_ms(cfg, mode),
            interim_results=True,
            punctuate=cfg.punctuate,
            smart_format=deepgram_smart_format(cfg, mode),
        )
        if cfg.utterance_end_ms is not None and mode is EndpointingMode.STT:
            kwargs["utterance_end_ms"] = cfg.utterance_end_ms
        return deepgram.STT(**kwargs)
    if isinstance(cfg, OpenAISTTConfig):
        from livekit.plugins import openai

        kwargs = {
            "model": cfg.model,
            "language": cfg.language,
            "base_url": _url(cfg.base_url) or settings.openai_base_url,
            "api_key": _key(cfg, settings.openai_api_key, field=field, env="OPENAI_API_KEY"),
        }
        if cfg.prompt:
            kwargs["prompt"] = cfg.prompt
        kwargs.update(stt_keyterm_options(cfg)[0])
        return openai.STT(**kwargs)
    if isinstance(cfg, SarvamSTTConfig):
        from livekit.plugins import sarvam

        kwargs = {
            "language": cfg.language,
            "model": cfg.model,
            "api_key": _key(cfg, settings.sarvam_api_key, field=field, env="SARVAM_API_KEY"),
        }
        if base := _url(cfg.base_url) or settings.sarvam_base_url:
            kwargs["base_url"] = base
        return sarvam.STT(**kwargs)
    raise ConfigError(f"unsupported STT provider {cfg.provider!r}", path="assistant.stt_config")


def llm_endpoint(cfg: LLMConfig, settings: WorkerSettings) -> str:
    """Where chat completions go: explicit base_url, a named preset, or the operator default."""
    if cfg.base_url is not None:
        return str(cfg.base_url).rstrip("/")
    return LLM_PRESETS.get(cfg.provider, settings.openai_base_url)


def build_llm(
    cfg: LLMConfig, settings: WorkerSettings, *, field: str = "llm_config"
) -> llm.LLM[Any]:
    import httpx2
    from livekit.plugins import openai

    base_url = llm_endpoint(cfg, settings)
    # The worker's OPENAI_API_KEY only goes to the operator's own endpoint; a per-call endpoint
    # or preset must bring its own key, so the operator's key never leaks to a third party.
    api_key = _key(
        cfg,
        settings.openai_api_key,
        field=f"assistant.{field}.api_key",
        env="OPENAI_API_KEY",
        own_endpoint=cfg.provider in LLM_PRESETS,
    )
    kwargs: dict[str, Any] = {
        "model": cfg.model,
        "base_url": base_url,
        "api_key": api_key,
        # A stuck request is abandoned after timeout_seconds; connecting gets 5 s of that.
        "timeout": httpx2.Timeout(cfg.timeout_seconds, connect=min(5.0, cfg.timeout_seconds)),
        # Never `strict: true`: OpenAI's strict mode rejects the JSON Schemas backends usually
        # write (optional properties, no additionalProperties: false), many compatible servers
        # reject the flag itself, and tool arguments are validated against the tool's own
        # schema before any request goes out (agent/call/tools/schema_check.py).
        "_strict_tool_schema": False,
    }
    if cfg.temperature is not None:
        kwargs["temperature"] = cfg.temperature
    if cfg.max_tokens is not None:
        kwargs["max_completion_tokens"] = cfg.max_tokens
    kwargs["client"] = _openai_client(base_url, api_key, kwargs.pop("timeout"))
    engine = openai.LLM(**kwargs)
    engine._owns_client = True  # closed with the LLM, as the plugin's own client would be
    return engine


def _openai_client(base_url: str, api_key: str, timeout: Any) -> Any:
    """The client the openai plugin would build for itself (its pool limits, no retries, its
    redirects), on the process's one TLS context: the plugin's own parses the CA bundle again
    for every call (~20 ms of CPU on the call's event loop at call start, 370-495 ms stalls
    with several calls starting at once)."""
    import httpx2
    import openai as openai_sdk

    client = openai_sdk.AsyncClient(
        api_key=api_key,
        base_url=base_url,
        max_retries=0,
        http_client=httpx2.AsyncClient(
            verify=client_tls_context(),
            timeout=timeout,
            follow_redirects=True,
            # livekit/plugins/openai/llm.py: the plugin's own pool limits
            limits=httpx2.Limits(
                max_connections=50, max_keepalive_connections=50, keepalive_expiry=120
            ),
        ),
    )
    # The SDK works out the platform for its headers on its first request, in a thread
    # (`asyncify(get_platform)`): the first thread of the call's loop's default executor,
    # started on the loop (26-33 ms of CPU at call start). It is the same for every client of
    # the process, so it is worked out once (in the warm image) and handed over.
    client._platform = openai_platform()
    return client


@functools.cache
def openai_platform() -> Any:
    """The OpenAI SDK's platform header value for this process (OS and architecture)."""
    from openai._base_client import get_platform

    return get_platform()


_TLS: ssl.SSLContext | None = None


def client_tls_context() -> ssl.SSLContext:
    """One client TLS context per process image (built in the warm image, inherited by every
    job process). An SSLContext may be shared by threads and event loops; the trust settings
    are the plugin's own (`httpx2.create_ssl_context()`: SSL_CERT_FILE / SSL_CERT_DIR or the
    system bundle)."""
    global _TLS
    if _TLS is None:
        import httpx2

        _TLS = httpx2.create_ssl_context()
    return _TLS


def build_tts(assistant: AssistantConfig, settings: WorkerSettings) -> tts.TTS[Any]:
    cfg = assistant.tts_config
    field = "assistant.tts_config.api_key"
    if isinstance(cfg, ElevenLabsTTSConfig):
        from livekit.agents import NOT_GIVEN
        from livekit.plugins import elevenlabs

        kwargs: dict[str, Any] = {
            "voice_id": cfg.voice_name,
            "model": cfg.model,
            "api_key": _key(cfg, settings.eleven_api_key, field=field, env="ELEVEN_API_KEY"),
        }
        if cfg.language:
            kwargs["language"] = cfg.language
        tuning = (cfg.stability, cfg.similarity_boost, cfg.style, cfg.speed)
        if any(v is not None for v in tuning):
            kwargs["voice_settings"] = elevenlabs.VoiceSettings(
                # ElevenLabs' own defaults for the two required knobs.
                stability=0.5 if cfg.stability is None else cfg.stability,
                similarity_boost=0.75 if cfg.similarity_boost is None else cfg.similarity_boost,
                style=NOT_GIVEN if cfg.style is None else cfg.style,
                speed=NOT_GIVEN if cfg.speed is None else cfg.speed,
            )
        if base := _url(cfg.base_url) or settings.elevenlabs_base_url:
            kwargs["base_url"] = base
        return elevenlabs.TTS(**kwargs)
    if isinstance(cfg, OpenAITTSConfig):
        from livekit.plugins import openai

        kwargs = {
            "model": cfg.model,
            "voice": cfg.voice_name,
            "speed": cfg.speed,
            "base_url": _url(cfg.base_url) or settings.openai_base_url,
            "api_key": _key(cfg, settings.openai_api_key, field=field, env="OPENAI_API_KEY"),
        }
        if cfg.instructions:
            kwargs["instructions"] = cfg.instructions
        return openai.TTS(**kwargs)
    if isinstance(cfg, SarvamTTSConfig):
        from livekit.plugins import sarvam

        kwargs = {
            "target_language_code": cfg.language,
            "model": cfg.model,
            "speaker": cfg.voice_name,
            "pace": cfg.pace_value,
            "api_key": _key(cfg, settings.sarvam_api_key, field=field, env="SARVAM_API_KEY"),
        }
        if base := _url(cfg.base_url) or settings.sarvam_base_url:
            kwargs["base_url"] = base
        return sarvam.TTS(**kwargs)
    raise ConfigError(f"unsupported TTS provider {cfg.provider!r}", path="assistant.tts_config")


STT_MODE_ENDPOINTING_MS = 500
"""Deepgram nova's `endpointing` in `stt` mode when the document sets none: Deepgram's advice for
callers who pause mid-thought is 300-500 ms (the plugin's 25 ms suits one-line commands)."""


def deepgram_endpointing_ms(cfg: DeepgramSTTConfig, mode: EndpointingMode) -> int:
    """nova's `endpointing`: the document's, else 500 ms where it ends the turn (`stt`), else
    the plugin's 25 ms (finals come fast, and the turn is decided on this side)."""
    if cfg.endpointing_ms is not None:
        return cfg.endpointing_ms
    return STT_MODE_ENDPOINTING_MS if mode is EndpointingMode.STT else 25


def deepgram_smart_format(cfg: DeepgramSTTConfig, mode: EndpointingMode) -> bool:
    """Numbers as digits ("415 555 0134"), which the number rule of transcript endpointing
    reads: on in `transcript` mode unless the document says otherwise."""
    if cfg.smart_format is not None:
        return cfg.smart_format
    return mode is EndpointingMode.TRANSCRIPT


def build_providers(assistant: AssistantConfig, settings: WorkerSettings) -> Providers:
    """All three vendors for one call, or a ConfigError naming the first field that is wrong
    (a plugin's own refusal included)."""
    try:
        stt_engine = build_stt(assistant, settings)
    except ValueError as exc:
        raise _refused("stt_config", exc) from None
    try:
        llm_engine = build_llm(assistant.llm_config, settings)
    except ValueError as exc:
        raise _refused("llm_config", exc) from None
    try:
        tts_engine = build_tts(assistant, settings)
    except ValueError as exc:
        raise _refused("tts_config", exc) from None
    return Providers(
        stt=stt_engine,
        llm=llm_engine,
        tts=tts_engine,
        warnings=tuple(provider_warnings(assistant)),
    )


_SILERO: Any = None
"""This process's silero template: the one ONNX inference session every call's VAD runs on."""


def silero_template() -> Any:
    """Loads the silero model once per process image (~30-60 ms and ~10 MB; in the warm image
    a job process inherits it, in a thread-executed worker every call shares it)."""
    global _SILERO
    if _SILERO is None:
        from livekit.plugins import silero

        default = TurnConfig()
        _SILERO = silero.VAD.load(
            min_silence_duration=default.min_silence_seconds, activation_threshold=0.5
        )
    return _SILERO


def vad_for_call(turn: TurnConfig | None = None) -> vad.VAD:
    """A silero VAD of the call's own, on the process's one ONNX session.

    One VAD object per call, never one shared: a VAD emits its metrics to whoever listens to
    that object (every session using it would get every call's), and `update_options` would
    retune every call. The options are a per-call copy for the same reason: a VADStream keeps a
    reference to its VAD's options. The session holds only the weights: the per-stream state
    (context, RNN state, buffers) is made per stream, and ONNX Runtime's `Run` may be called
    from several threads at once. Only `min_silence_duration` comes from the call
    (`deactivation_threshold` derives from `activation_threshold`, which no call changes).
    """
    import dataclasses

    from livekit.plugins import silero

    turn = turn or TurnConfig()
    template = silero_template()
    options = dataclasses.replace(template._opts, min_silence_duration=turn.min_silence_seconds)
    return silero.VAD(session=template._onnx_session, opts=options)
