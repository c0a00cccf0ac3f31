"""Every documented field on every provider (issue 12, point 1), mapped to the real plugins.

The seeds describe TTS as (provider, voice_id / voice, speed) and STT as (provider, language,
keyterms). Each case builds the real livekit plugin object (no request is made: the plugins
only connect when a stream starts) and reads back the option it got, so the mapping is the
plugin's own: ElevenLabs `voice_id`/`voice_settings.speed`, OpenAI `voice`/`speed`, Sarvam
`speaker`/`pace`, Deepgram `keyterm` (nova-3) or `keywords` (nova-2), OpenAI `keywords`
(gpt-transcribe) or a prompt line. A plugin's own refusal (a Sarvam speaker its model lacks)
is a `config_error` naming the field, and a vendor without an option keeps the call going
with a warning.
"""

from __future__ import annotations

from typing import Any

import pytest

from agent.call.providers import build_providers, provider_warnings
from agent.contracts.assistant import AssistantConfig
from agent.errors import ConfigError
from agent.intake.dispatch import parse_dispatch
from agent.worker.settings import WorkerSettings
from tests.support.paths import EXAMPLES

SETTINGS = WorkerSettings(
    deepgram_api_key="dg-test", openai_api_key="sk-test", eleven_api_key="el-test",
    sarvam_api_key="sv-test",
)  # fmt: skip


def assistant(**configs: Any) -> AssistantConfig:
    doc: dict[str, Any] = {
        "stt_config": {"provider": "deepgram"},
        "llm_config": {"model": "gpt-4.1-mini"},
        "tts_config": {"provider": "openai"},
    }
    return AssistantConfig.model_validate(doc | configs)


def opts(engine: Any) -> Any:
    return engine._opts  # the plugin's own resolved options: what it will send


@pytest.mark.parametrize(
    ("tts_config", "voice_attr", "voice", "speed_of"),
    [
        ({"provider": "elevenlabs", "voice_id": "v-id", "speed": 1.1}, "voice_id", "v-id",
         lambda o: o.voice_settings.speed),
        ({"provider": "elevenlabs", "voice": "v-alias", "speed": 0.9}, "voice_id", "v-alias",
         lambda o: o.voice_settings.speed),
        ({"provider": "openai", "voice_id": "nova", "speed": 1.2}, "voice", "nova",
         lambda o: o.speed),
        ({"provider": "openai", "voice": "shimmer", "speed": 0.5}, "voice", "shimmer",
         lambda o: o.speed),
        ({"provider": "sarvam", "voice_id": "ritu", "speed": 1.5}, "speaker", "ritu",
         lambda o: o.pace),
        ({"provider": "sarvam", "voice": "kavya", "pace": 0.8}, "speaker", "kavya",
         lambda o: o.pace),
    ],
)  # fmt: skip
def test_voice_and_speed_reach_every_tts_plugin(
    tts_config: dict[str, Any], voice_attr: str, voice: str, speed_of: Any
) -> None:
    providers = build_providers(assistant(tts_config=tts_config), SETTINGS)
    options = opts(providers.tts)
    assert getattr(options, voice_attr) == voice
    assert speed_of(options) == tts_config.get("speed", tts_config.get("pace"))
    assert providers.warnings == ()


@pytest.mark.parametrize(
    ("tts_config", "fragment"),
    [
        ({"provider": "openai", "voice": "a", "voice_id": "b"}, "same setting"),
        ({"provider": "sarvam", "speed": 1.2, "pace": 1.3}, "same setting"),
        ({"provider": "sarvam", "model": "bulbul:v4-flash", "speed": 2.5}, "0.5 and 2.0"),
        ({"provider": "elevenlabs"}, "voice_id"),
    ],
)
def test_conflicting_or_out_of_range_tts_values_are_refused(
    tts_config: dict[str, Any], fragment: str
) -> None:
    with pytest.raises(ValueError, match=fragment):
        assistant(tts_config=tts_config)


def test_deepgram_keyterms_go_to_keyterm_on_nova_3_and_keywords_before() -> None:
    nova3 = build_providers(
        assistant(stt_config={"provider": "deepgram", "keyterms": ["Acme", "Jansen"]}), SETTINGS
    )
    assert opts(nova3.stt).keyterm == ["Acme", "Jansen"]
    nova2 = build_providers(
        assistant(stt_config={"provider": "deepgram", "model": "nova-2", "keyterms": ["Acme"]}),
        SETTINGS,
    )
    assert opts(nova2.stt).keywords == [("Acme", 1.0)]
    assert opts(nova2.stt).keyterm == []
    assert nova2.warnings == ()


async def test_the_seed_outbound_example_on_nova_2_builds_its_providers() -> None:
    # Before: keyterm=[] always went to the plugin, which refuses any keyterm off nova-3, so
    # the seed's own outbound example could not start a live call (an `error` at `providers`).
    spec = await parse_dispatch(
        (EXAMPLES / "hms-outbound-transient.json").read_text(), room_name="r"
    )
    providers = build_providers(spec.assistant, SETTINGS)
    assert opts(providers.stt).model == "nova-2"
    assert opts(providers.stt).keyterm == []


def test_openai_keyterms_are_keywords_or_a_prompt_hint_with_a_warning() -> None:
    hinted = build_providers(
        assistant(stt_config={"provider": "openai", "keyterms": ["Acme"], "prompt": "A bistro."}),
        SETTINGS,
    )
    assert opts(hinted.stt).prompt == "A bistro.\n\nVocabulary: Acme"
    assert hinted.warnings == (
        "stt_config.keyterms: OpenAI gpt-4o-mini-transcribe takes no keywords; sent as a "
        "prompt hint",
    )
    keywords = build_providers(
        assistant(stt_config={"provider": "openai", "model": "gpt-transcribe",
                              "keyterms": ["Acme"]}),
        SETTINGS,
    )  # fmt: skip
    assert opts(keywords.stt).keywords == ["Acme"]
    assert keywords.warnings == ()


def test_a_vendor_without_the_option_keeps_the_call_with_a_warning() -> None:
    a = assistant(
        stt_config={"provider": "sarvam", "keyterms": ["Acme"]},
        tts_config={"provider": "openai", "language": "nl"},
    )
    providers = build_providers(a, SETTINGS)
    assert providers.warnings == (
        "stt_config.keyterms: sarvam STT has no keyterm option; ignored",
        "tts_config.language: OpenAI TTS takes no language (it follows the text); ignored",
    )
    assert provider_warnings(a) == list(providers.warnings)  # what the simulator reports


@pytest.mark.parametrize(
    ("configs", "path", "fragment"),
    [
        ({"tts_config": {"provider": "sarvam", "voice": "nobody"}}, "assistant.tts_config.voice",
         "not compatible with model 'bulbul:v3'"),
        ({"tts_config": {"provider": "sarvam", "voice": "anushka", "model": "bulbul:v3"}},
         "assistant.tts_config.voice", "anushka"),
    ],
)  # fmt: skip
def test_a_plugin_refusal_is_a_config_error_at_the_field(
    configs: dict[str, Any], path: str, fragment: str
) -> None:
    with pytest.raises(ConfigError) as info:
        build_providers(assistant(**configs), SETTINGS)
    (problem,) = info.value.problems
    assert problem.path == path
    assert fragment in problem.message
