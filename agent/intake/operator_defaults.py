"""The operator's default vendors, for saved HMS assistants that do not name their own.

An HMS saved assistant can be as small as the seed's Create Assistant body (`name` and
`system_prompt`, 001): the platform fills in the rest from its own defaults. Here those defaults
are the operator's (`VOICE_AGENT_DEFAULT_STT_PROVIDER`, `..._LLM_MODEL`, `..._TTS_VOICE`, ...),
never CallMissed's documented ones (Sarvam `shubh`, `kimi-k2.5`), which belong to the flat
dialect only. Transient documents get none of this: the seed refuses a transient assistant
without all three configs (000 "Transient assistant must provide: stt_config, llm_config,
tts_config"), and so does the worker.

Only what is missing is filled, and a model or voice only for the default provider: a saved
`tts_config: {"provider": "sarvam"}` keeps Sarvam's own default voice rather than getting an
ElevenLabs voice id.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class OperatorDefaults:
    stt_provider: str = "deepgram"
    stt_model: str | None = None
    stt_language: str | None = None
    llm_provider: str = "openai"
    llm_model: str = "gpt-4.1-mini"
    tts_provider: str = "openai"
    tts_model: str | None = None
    tts_voice: str | None = None

    def apply(self, assistant: Mapping[str, Any]) -> dict[str, Any]:
        """`assistant` (nested dialect) with the missing vendor settings filled in."""
        filled = copy.deepcopy(dict(assistant))
        _fill(filled, "stt_config", self.stt_provider,
              {"model": self.stt_model, "language": self.stt_language})  # fmt: skip
        _fill(filled, "llm_config", self.llm_provider, {"model": self.llm_model})
        voice_key = "voice_id" if self.tts_provider == "elevenlabs" else "voice"
        _fill(filled, "tts_config", self.tts_provider,
              {"model": self.tts_model, voice_key: self.tts_voice})  # fmt: skip
        return filled


def _fill(
    assistant: dict[str, Any], key: str, provider: str, values: Mapping[str, str | None]
) -> None:
    current = assistant.get(key)
    if current is not None and not isinstance(current, Mapping):
        return  # not an object: the model reports it
    config = dict(current or {})
    config.setdefault("provider", provider)
    if config["provider"] == provider:
        for name, value in values.items():
            if value is not None and name not in config:
                if name in ("voice", "voice_id") and ({"voice", "voice_id"} & config.keys()):
                    continue
                config[name] = value
    assistant[key] = config
