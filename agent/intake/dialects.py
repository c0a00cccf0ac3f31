"""Dialects: turn what a backend sent into the one nested shape the models validate.

Two families of backends dispatch this worker. VoiceDock/HMS-style backends send the nested
document (`call`, `assistant` | `assistant_id` + `assistant_override`). CallMissed-style backends
send a flat session config (`system_prompt`, `voice`, `language`, `llm_model`, `tts_provider`,
`max_duration_seconds`, `webhook_url`, `metadata`), either as the whole document or as the
`assistant` object. This module only reshapes dicts; all validation is the models' job, so an
error in a flat document still names the field the backend actually sent.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

FLAT_KEYS = frozenset(
    {"system_prompt", "voice", "language", "llm_model", "tts_provider", "bot_id", "livekit_room"}
)
"""Keys that only the flat dialect uses; any one of them marks a flat config."""
FLAT_PASSTHROUGH = frozenset({"max_duration_seconds", "webhook_url", "metadata"})

# CallMissed's documented defaults (shared/seeds/004_7263bb0198f1bc3b.txt, "Request Body").
FLAT_DEFAULT_PROMPT = "You are a helpful voice assistant."
FLAT_DEFAULT_VOICE = "shubh"
FLAT_DEFAULT_LANGUAGE = "en-IN"
FLAT_DEFAULT_LLM_MODEL = "kimi-k2.5"
FLAT_DEFAULT_TTS_PROVIDER = "sarvam"


def is_flat(obj: Mapping[str, Any]) -> bool:
    return any(key in obj for key in FLAT_KEYS)


def _sent_fields(flat: Mapping[str, Any]) -> dict[str, Any]:
    """AssistantConfig fields for exactly the flat keys that were sent (nothing defaulted)."""
    out: dict[str, Any] = {k: v for k, v in flat.items() if k not in FLAT_KEYS}
    llm: dict[str, Any] = {}
    if "llm_model" in flat:
        llm["model"] = flat["llm_model"]
    if "system_prompt" in flat:
        llm["messages"] = [{"role": "system", "content": flat["system_prompt"]}]
    if llm:
        out["llm_config"] = llm
    if "language" in flat:
        out["stt_config"] = {"provider": "deepgram", "language": flat["language"]}
    if {"voice", "tts_provider", "language"} & flat.keys():
        provider = flat.get("tts_provider", FLAT_DEFAULT_TTS_PROVIDER)
        tts: dict[str, Any] = {"provider": provider}
        voice_key = (
            {"elevenlabs": "voice_id"}.get(provider, "voice")
            if isinstance(provider, str)
            else "voice"
        )
        if "voice" in flat:
            tts[voice_key] = flat["voice"]
        elif provider == FLAT_DEFAULT_TTS_PROVIDER:
            tts["voice"] = FLAT_DEFAULT_VOICE
        if "language" in flat and provider != "openai":
            tts["language"] = flat["language"]
        out["tts_config"] = tts
    return out


FLAT_DEFAULTS: dict[str, Any] = {
    "stt_config": {"provider": "deepgram", "language": FLAT_DEFAULT_LANGUAGE},
    "llm_config": {
        "provider": "openai",
        "model": FLAT_DEFAULT_LLM_MODEL,
        "messages": [{"role": "system", "content": FLAT_DEFAULT_PROMPT}],
    },
    "tts_config": {
        "provider": FLAT_DEFAULT_TTS_PROVIDER,
        "voice": FLAT_DEFAULT_VOICE,
        "language": FLAT_DEFAULT_LANGUAGE,
    },
    "first_message_mode": "assistant-speaks-first-with-model-generated-message",
}


def flat_to_assistant(flat: Mapping[str, Any]) -> dict[str, Any]:
    """Map a flat session config onto AssistantConfig fields, with CallMissed's defaults.

    The LLM goes to the operator's OpenAI-compatible endpoint under whatever model name was
    sent (`kimi-k2.5`, `sarvam-30b`, `openrouter/...`): the catalogue belongs to that endpoint.
    STT uses the same language; the flat dialect names no STT vendor, so Deepgram (the worker's
    default) transcribes. The assistant greets with a model-written line, as CallMissed's agent
    "greets the user" without a configured greeting. Unknown flat keys are kept so the model
    reports them by name.
    """
    sent = _sent_fields(flat)
    tts = sent.get("tts_config")
    if isinstance(tts, Mapping) and tts.get("provider") != FLAT_DEFAULT_TTS_PROVIDER:
        # Another TTS vendor: Sarvam's defaults (voice `shubh`) do not apply to it.
        defaults = {k: v for k, v in FLAT_DEFAULTS.items() if k != "tts_config"}
        return deep_merge(defaults, sent)
    return deep_merge(FLAT_DEFAULTS, sent)


# The platform's outbound-call request body names (shared/seeds/002_b90ab7049cc1ffbb.txt):
# `agent*` are deprecated aliases that "still work"; `destination`/`number_id` sit at the top.
_ALIASES = {
    "agent_id": "assistant_id",
    "agent": "assistant",
    "agent_override": "assistant_override",
}


def _hoist_call_fields(doc: dict[str, Any]) -> None:
    for old, new in _ALIASES.items():
        if old in doc and new not in doc:
            doc[new] = doc.pop(old)
    if "destination" in doc or "number_id" in doc:
        call = doc.get("call")
        call = dict(call) if isinstance(call, Mapping) else {}
        if "destination" in doc:
            call.setdefault("destination", doc.pop("destination"))
            call.setdefault("type", "outbound_phone_call")
        if "number_id" in doc:
            # The platform's caller-ID number id is, on LiveKit, the outbound trunk it lives on.
            call.setdefault("sip_trunk_id", doc.pop("number_id"))
        doc["call"] = call


def normalise(document: Mapping[str, Any]) -> dict[str, Any]:
    """Return the document in the nested dialect (a deep copy; the input is left alone)."""
    doc = copy.deepcopy(dict(document))
    _hoist_call_fields(doc)
    if "assistant" not in doc and "assistant_id" not in doc and is_flat(doc):
        call = doc.pop("call", None)
        bot_id = doc.pop("bot_id", None)
        doc.pop("livekit_room", None)  # the room is known from the job itself
        nested: dict[str, Any] = {} if call is None else {"call": call}
        if bot_id is not None:
            # A saved bot plus per-session fields is the flat form of hybrid mode: only what
            # was sent overrides the saved assistant.
            return nested | {"assistant_id": bot_id, "assistant_override": _sent_fields(doc)}
        return nested | {"assistant": flat_to_assistant(doc)}
    assistant = doc.get("assistant")
    if isinstance(assistant, Mapping) and is_flat(assistant):
        doc["assistant"] = flat_to_assistant(assistant)
    return doc


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Hybrid mode: `override` onto `base`. Objects merge key by key; lists and scalars replace."""
    merged = copy.deepcopy(dict(base))
    for key, value in override.items():
        current = merged.get(key)
        if isinstance(current, Mapping) and isinstance(value, Mapping):
            merged[key] = deep_merge(current, value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged
