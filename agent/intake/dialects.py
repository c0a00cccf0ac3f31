"""Dialects: turn what a backend sent into the one nested shape the models validate.

Two families of backends dispatch this worker. VoiceDock/HMS-style backends send the nested
document (`call`, `assistant` | `assistant_id` + `assistant_override`). CallMissed-style backends
send a flat session config (`system_prompt`, `voice`, `language`, `llm_model`, `tts_provider`,
`max_duration_seconds`, `webhook_url`, `metadata`), either as the whole document or as the
`assistant` object. This module only reshapes dicts; all validation is the models' job, so an
error in a flat document still names the field the backend actually sent.

Which dialect an object is in is decided by what only that dialect has. `system_prompt` is in
both (CallMissed's session body and HMS's saved assistant, seed 001 "Create Assistant"), so it
alone decides nothing once an HMS-only field is present: `{"name", "system_prompt"}` is an HMS
assistant, `{"system_prompt"}` alone a CallMissed session (every other field has a documented
default there).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any, Literal

Dialect = Literal["hms", "callmissed"]

CALLMISSED_ONLY = frozenset(
    {"voice", "language", "llm_model", "tts_provider", "bot_id", "livekit_room"}
)
"""Keys only the flat (CallMissed) dialect has at the assistant level; any one marks it."""
HMS_MARKERS = frozenset(
    {
        "name",
        "business_name",
        "first_message",
        "first_message_mode",
        "stt_config",
        "llm_config",
        "tts_config",
        "tools",
        "analysis_plan",
        "autonomous_silence_handling",
    }
)
"""Keys that make an HMS assistant; a CallMissed session body never has them."""
FLAT_KEYS = CALLMISSED_ONLY | {"system_prompt"}
"""The keys the flat dialect maps (the rest of a flat object passes through as it is)."""
FLAT_PASSTHROUGH = frozenset({"max_duration_seconds", "webhook_url", "metadata"})
NESTED_CONFIGS = ("stt_config", "llm_config", "tts_config")

# CallMissed's documented limits (004 "Request Body"): checked on what was sent, in the flat
# dialect only (an HMS `system_prompt` may be as long as any system message).
FLAT_PROMPT_MAX = 4096
FLAT_DURATION_MIN = 30
FLAT_DURATION_MAX = 3600
FLAT_DEFAULT_DURATION = 300

# CallMissed's documented defaults (shared/seeds/004_7263bb0198f1bc3b.txt, "Request Body").
FLAT_DEFAULT_PROMPT = "You are a helpful voice assistant."
FLAT_DEFAULT_VOICE = "shubh"
FLAT_DEFAULT_LANGUAGE = "en-IN"
FLAT_DEFAULT_LLM_MODEL = "kimi-k2.5"
FLAT_DEFAULT_TTS_PROVIDER = "sarvam"


def is_flat(obj: Mapping[str, Any]) -> bool:
    """An assistant-level object (or a whole document) in the CallMissed dialect."""
    if any(key in obj for key in CALLMISSED_ONLY):
        return True
    return "system_prompt" in obj and not any(key in obj for key in HMS_MARKERS)


def is_assistant_body(doc: Mapping[str, Any]) -> bool:
    """A saved-assistant body sent as the whole document (HMS fields, no `assistant`)."""
    if any(key in doc for key in ("assistant", "assistant_id", "agent", "agent_id")):
        return False
    return not is_flat(doc) and any(key in doc for key in HMS_MARKERS)


def mixed_dialect_fields(obj: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(CallMissed field, HMS config) pairs sent together: the two would overwrite each other."""
    flat = sorted(key for key in CALLMISSED_ONLY if key in obj)
    nested = [key for key in NESTED_CONFIGS if key in obj]
    return [(flat[0], key) for key in nested] if flat else []


def flat_limit_problems(flat: Mapping[str, Any]) -> list[tuple[str, str]]:
    """CallMissed's own limits on a flat object, as (field, message); other checks are the
    models'."""
    found: list[tuple[str, str]] = []
    prompt = flat.get("system_prompt")
    if isinstance(prompt, str) and len(prompt) > FLAT_PROMPT_MAX:
        found.append(("system_prompt", f"String should have at most {FLAT_PROMPT_MAX} characters"))
    duration = flat.get("max_duration_seconds")
    if isinstance(duration, int) and not isinstance(duration, bool):
        if duration < FLAT_DURATION_MIN:
            found.append(
                (
                    "max_duration_seconds",
                    f"Input should be greater than or equal to {FLAT_DURATION_MIN}",
                )
            )
        elif duration > FLAT_DURATION_MAX:
            found.append(
                (
                    "max_duration_seconds",
                    f"Input should be less than or equal to {FLAT_DURATION_MAX}",
                )
            )
    return found


def dialect_of(document: Mapping[str, Any]) -> Dialect:
    """`callmissed` when the document, or its `assistant`, is a flat session config."""
    assistant = document.get("assistant", document.get("agent"))
    if isinstance(assistant, Mapping):
        return "callmissed" if is_flat(assistant) else "hms"
    nested = {"assistant_id", "agent_id", "assistant_override", "agent_override"}
    return "callmissed" if is_flat(document) and not nested & document.keys() else "hms"


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
    "max_duration_seconds": FLAT_DEFAULT_DURATION,
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
    defaults = dict(FLAT_DEFAULTS)
    tts = sent.get("tts_config")
    if isinstance(tts, Mapping) and tts.get("provider") != FLAT_DEFAULT_TTS_PROVIDER:
        # Another TTS vendor: Sarvam's defaults (voice `shubh`) do not apply to it.
        del defaults["tts_config"]
    if sent.get("first_message"):
        # A greeting that was sent is spoken; the model-written one is only the default.
        del defaults["first_message_mode"]
    return deep_merge(defaults, sent)


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
            # The platform's number id: the operator's number table maps it to an outbound
            # trunk (and caller id) when the call is parsed.
            call.setdefault("number_id", doc.pop("number_id"))
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


def saved_base(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """A saved assistant in the nested dialect, ready for `override` to be merged onto it.

    An HMS `system_prompt` is the first system message, so it moves into
    `llm_config.messages[0]`: an override's `messages` (the seed's "custom system prompt")
    then replace it, as lists replace in a merge. An override's own `system_prompt` replaces
    it as a field instead.
    """
    nested: dict[str, Any] = dict(normalise({"assistant": dict(base)})["assistant"])
    prompt = nested.get("system_prompt")
    if isinstance(prompt, str) and "system_prompt" not in override:
        llm = nested.get("llm_config")
        llm = dict(llm) if isinstance(llm, Mapping) else {}
        messages = llm.get("messages")
        messages = list(messages) if isinstance(messages, list) else []
        llm["messages"] = [{"role": "system", "content": nested.pop("system_prompt")}, *messages]
        nested["llm_config"] = llm
    return nested


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
