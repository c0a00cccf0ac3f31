"""Dialects by what only they have, HMS defaults from the operator, documented limits
(issue 12, points 3 and 4)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from agent.contracts.assistant import FirstMessageMode
from agent.contracts.provider_configs import OpenAITTSConfig, SarvamTTSConfig
from agent.errors import ConfigError
from agent.intake.dispatch import CallSpec, ParseOptions, parse_dispatch
from agent.intake.operator_defaults import OperatorDefaults
from agent.intake.options import parse_options
from agent.intake.saved import DirectoryAssistants
from agent.worker.settings import WorkerSettings
from tests.support.paths import EXAMPLES

SAVED = EXAMPLES / "assistants"
ASSISTANT_ID = "17a0cb75-fa09-4bdd-9a44-92a70d829c88"
CREATE_ASSISTANT = json.loads((SAVED / f"{ASSISTANT_ID}.json").read_text())


async def parse(doc: Any, options: ParseOptions | None = None) -> CallSpec:
    return await parse_dispatch(
        doc, room_name="r", options=options or ParseOptions(saved=DirectoryAssistants(SAVED))
    )


async def problems(doc: Any, options: ParseOptions | None = None) -> dict[str, str]:
    with pytest.raises(ConfigError) as info:
        await parse(doc, options)
    return {p.path: p.message for p in info.value.problems}


# ---- point 3: dialects -------------------------------------------------------------------------


async def test_the_create_assistant_body_is_hms_with_the_operators_defaults() -> None:
    settings = WorkerSettings(
        default_llm_model="operator-model", default_tts_provider="elevenlabs",
        default_tts_voice="operator-voice", default_stt_model="nova-2",
    )  # fmt: skip
    options = parse_options(settings, saved=DirectoryAssistants(SAVED))
    spec = await parse({"assistant_id": ASSISTANT_ID}, options)

    assert spec.dialect == "hms"
    a = spec.assistant
    assert a.name == "Customer Support Assistant"
    assert a.instructions == CREATE_ASSISTANT["system_prompt"]
    assert (a.llm_config.provider, a.llm_config.model) == ("openai", "operator-model")
    assert a.tts_config.provider == "elevenlabs"
    assert a.tts_config.model_dump()["voice_id"] == "operator-voice"
    assert (a.stt_config.provider, a.stt_config.model) == ("deepgram", "nova-2")
    # never CallMissed's defaults: no Sarvam, no kimi-k2.5, no model-written greeting
    assert a.effective_first_message_mode is FirstMessageMode.WAITS_FOR_USER


async def test_default_operator_vendors_need_no_voice_id() -> None:
    spec = await parse({"assistant_id": ASSISTANT_ID})
    assert isinstance(spec.assistant.tts_config, OpenAITTSConfig)
    assert spec.assistant.llm_config.model == OperatorDefaults().llm_model == "gpt-4.1-mini"


async def test_hybrid_override_greeting_and_prompt_replace_the_saved_ones() -> None:
    spec = await parse((EXAMPLES / "hms-hybrid-web-call.json").read_text())
    a = spec.assistant
    assert a.first_message == "Custom greeting!"
    assert a.effective_first_message_mode is FirstMessageMode.SPEAKS_FIRST
    # lists replace: the override's system message is the prompt (the seed's "custom system
    # prompt"); the saved `system_prompt` was its first system message
    assert a.instructions == "You are a sales assistant."


async def test_an_override_system_prompt_replaces_the_saved_one() -> None:
    doc = {"assistant_id": ASSISTANT_ID, "assistant_override": {"system_prompt": "Sell."}}
    assert (await parse(doc)).assistant.instructions == "Sell."


async def test_a_transient_hms_assistant_may_carry_system_prompt() -> None:
    doc = {
        "assistant": {
            "system_prompt": "First.",
            "stt_config": {"provider": "deepgram"},
            "llm_config": {"model": "m", "messages": [{"role": "system", "content": "Second."}]},
            "tts_config": {"provider": "openai"},
        }
    }
    spec = await parse(doc)
    assert spec.dialect == "hms"
    assert spec.assistant.instructions == "First.\n\nSecond."


async def test_the_flat_dialect_keeps_callmissed_defaults() -> None:
    spec = await parse((EXAMPLES / "callmissed-session.json").read_text())
    assert spec.dialect == "callmissed"
    assert isinstance(spec.assistant.tts_config, SarvamTTSConfig)
    assert spec.assistant.llm_config.model == "kimi-k2.5"
    bare = await parse({"system_prompt": "Be brief."})  # every other field has a default
    assert bare.dialect == "callmissed"
    assert bare.assistant.max_duration_seconds == 300


async def test_a_flat_greeting_that_was_sent_is_spoken() -> None:
    spec = await parse({"system_prompt": "x", "voice": "shubh", "first_message": "Namaste!"})
    assert spec.assistant.effective_first_message_mode is FirstMessageMode.SPEAKS_FIRST


async def test_an_assistant_body_is_not_a_dispatch_document() -> None:
    found = await problems(CREATE_ASSISTANT)
    assert "assistant body, not a dispatch document" in found["assistant"]


async def test_transient_hms_needs_all_three_configs() -> None:
    found = await problems({"assistant": {"name": "x", "system_prompt": "y"}})
    assert set(found) == {"assistant.stt_config", "assistant.llm_config", "assistant.tts_config"}
    assert all("transient assistant must provide" in m for m in found.values())


async def test_mixing_the_dialects_names_both_fields() -> None:
    found = await problems({"system_prompt": "x", "voice": "shubh", "tts_config": {}})
    assert "CallMissed field mixed with `tts_config`" in found["voice"]


# ---- point 4: defaults and limits --------------------------------------------------------------


@pytest.mark.parametrize(
    ("doc", "seconds"),
    [
        ({"assistant_id": ASSISTANT_ID}, 300),  # web call: the seed's 5-minute maximum
        ({"call": {"type": "inbound_phone_call"}, "assistant_id": ASSISTANT_ID}, 600),
        ({"system_prompt": "x"}, 300),  # CallMissed's documented default
        ({"system_prompt": "x", "max_duration_seconds": 30}, 30),
        ({"system_prompt": "x", "max_duration_seconds": 3600}, 3600),
        ({"assistant_id": ASSISTANT_ID, "assistant_override": {"max_duration_seconds": 900}}, 900),
    ],
)
async def test_max_duration_defaults_by_dialect_and_call_type(
    doc: dict[str, Any], seconds: int
) -> None:
    assert (await parse(doc)).assistant.max_duration_seconds == seconds


@pytest.mark.parametrize(
    ("doc", "path", "fragment"),
    [
        ({"system_prompt": "x", "max_duration_seconds": 29}, "max_duration_seconds", "30"),
        ({"system_prompt": "x", "max_duration_seconds": 3601}, "max_duration_seconds", "3600"),
        ({"system_prompt": "x" * 4097}, "system_prompt", "4096"),
        ({"assistant": {"system_prompt": "x" * 4097, "voice": "shubh"}},
         "assistant.system_prompt", "4096"),
    ],
)  # fmt: skip
async def test_callmissed_limits_are_refused_in_that_dialect(
    doc: dict[str, Any], path: str, fragment: str
) -> None:
    found = await problems(doc)
    assert fragment in found[path]


async def test_an_hms_system_prompt_may_be_longer_than_callmissed_allows() -> None:
    doc = {"assistant_id": ASSISTANT_ID, "assistant_override": {"system_prompt": "x" * 4097}}
    assert len((await parse(doc)).assistant.instructions) == 4097
