"""The dispatch contract: the seed examples parse, bad documents name the field."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from agent.contracts.assistant import FirstMessageMode
from agent.contracts.provider_configs import SarvamTTSConfig
from agent.contracts.tool_definitions import FunctionTool
from agent.errors import ConfigError
from agent.intake.dispatch import CallSpec, ParseOptions, parse_dispatch
from agent.intake.document import CallType
from agent.intake.report_target import salvage_report_target
from agent.intake.saved import DirectoryAssistants
from agent.intake.secrets import SecretResolver
from tests.support.paths import EXAMPLES as EXAMPLES_DIR

EXAMPLES = EXAMPLES_DIR


def minimal(**assistant: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "stt_config": {"provider": "deepgram"},
        "llm_config": {"model": "gpt-4.1-mini", "messages": [{"role": "system", "content": "Hi"}]},
        "tts_config": {"provider": "elevenlabs", "voice_id": "v1"},
    }
    return {"assistant": base | assistant}


async def parse(doc: Any, **kwargs: Any) -> CallSpec:
    raw = doc if isinstance(doc, str) else json.dumps(doc)
    return await parse_dispatch(raw, room_name="room-7", **kwargs)


async def problems(doc: Any, **kwargs: Any) -> dict[str, str]:
    with pytest.raises(ConfigError) as info:
        await parse(doc, **kwargs)
    return {p.path: p.message for p in info.value.problems}


async def test_seed_transient_web_call_parses() -> None:
    spec = await parse((EXAMPLES / "hms-transient-web-call.json").read_text())
    assert spec.call.type is CallType.WEB
    assert spec.call_id == "room-7"  # no call.id: falls back to the room name
    assert spec.assistant.first_message == "Hello! How can I help you?"
    assert spec.assistant.effective_first_message_mode is FirstMessageMode.SPEAKS_FIRST
    assert spec.assistant.instructions == "You are a helpful assistant."


async def test_seed_outbound_transient_parses_with_top_level_destination() -> None:
    spec = await parse((EXAMPLES / "hms-outbound-transient.json").read_text())
    assert spec.call.type is CallType.OUTBOUND_PHONE
    assert spec.call.destination == "+31612345678"
    assert spec.call.sip_trunk_id == "e0f48fcd-21f4-4f20-a29b-46336aead8f9"
    assert spec.assistant.name == "Appointment Reminder Assistant"
    assert spec.assistant.tts_config.provider == "elevenlabs"


async def test_seed_callmissed_flat_session_normalises() -> None:
    spec = await parse((EXAMPLES / "callmissed-session.json").read_text())
    a = spec.assistant
    assert a.llm_config.model == "kimi-k2.5"
    assert a.llm_config.provider == "openai"  # goes to the operator's compatible endpoint
    assert isinstance(a.tts_config, SarvamTTSConfig)
    assert (a.tts_config.voice, a.tts_config.language) == ("shubh", "en-IN")
    assert a.max_duration_seconds == 300
    assert str(a.webhook_url) == "https://your-app.com/webhooks/voice"
    assert a.effective_first_message_mode is FirstMessageMode.MODEL_GENERATED


async def test_flat_config_as_assistant_object_and_defaults() -> None:
    spec = await parse({"call": {"id": "c1"}, "assistant": {"system_prompt": "Be brief."}})
    assert spec.call_id == "c1"
    assert spec.assistant.instructions == "Be brief."
    assert spec.assistant.llm_config.model == "kimi-k2.5"  # CallMissed's documented default


async def test_flat_errors_name_the_field_that_was_sent() -> None:
    found = await problems({"system_prompt": 5, "llm_model": 7, "voice": 1})
    assert set(found) == {"system_prompt", "llm_model", "voice"}


async def test_metadata_passes_through_untouched() -> None:
    meta = {"UserID": "u1", "user_id": "u2", "camelCase": {"Nested": [1, "x"]}}
    spec = await parse(minimal(metadata=meta))
    assert spec.assistant.metadata == meta


@pytest.mark.parametrize(
    ("doc", "path", "fragment"),
    [
        ("{not json", "", "not valid JSON"),
        ("[1, 2]", "", "JSON object"),
        ("", "", "no dispatch document"),
        (minimal(max_duration_seconds="long"), "assistant.max_duration_seconds", "integer"),
        (minimal(max_duration_seconds=5), "assistant.max_duration_seconds", "10"),
        (minimal(max_duration_seconds=50000), "assistant.max_duration_seconds", "43200"),
        (
            minimal(tts_config={"provider": "polly"}),
            "assistant.tts_config",
            "unknown provider 'polly'",
        ),
        (minimal(stt_config={"model": "x"}), "assistant.stt_config", "missing"),
        (minimal(max_duration_second=60), "assistant.max_duration_second", "unknown field"),
        (
            {"assistant": {"stt_config": {"provider": "deepgram"}, "llm_config": {"model": "m"}}},
            "assistant.tts_config",
            "required",
        ),
        (minimal() | {"assistant_override": {"first_message": "x"}}, "assistant_override", "both"),
        ({"assistant_override": {"first_message": "x"}}, "assistant_override", "requires"),
        ({"assistant_id": "abc"}, "assistant_id", "no saved assistant"),
        ({"call": {"id": "x"}}, "assistant", "must provide"),
        (minimal(webhook_url="ftp://x"), "assistant.webhook_url", "URL"),
        (minimal(tools=[{"type": "fax"}]), "assistant.tools.0", "unknown type 'fax'"),
        (
            minimal(tools=[{"type": "transfer_call", "destinations": [{"number": "0612"}]}]),
            "assistant.tools.0.destinations.0.number",
            "pattern",
        ),
        (
            {"call": {"type": "outbound_phone_call"}} | minimal(),
            "call.destination",
            "destination",
        ),
        (minimal(first_message_mode="assistant-speaks-first"), "assistant", "first_message"),
    ],
)
async def test_bad_documents_name_the_field(doc: Any, path: str, fragment: str) -> None:
    found = await problems(doc)
    assert path in found, found
    assert fragment.lower() in found[path].lower()


async def test_missing_secret_reference_is_a_config_error_naming_the_field() -> None:
    doc = minimal(tts_config={"provider": "elevenlabs", "voice_id": "v", "api_key": "secret:NOPE"})
    found = await problems(doc, options=ParseOptions(resolver=SecretResolver(env={})))
    assert "assistant.tts_config.api_key" in found
    assert "NOPE" in found["assistant.tts_config.api_key"]


async def test_secret_reference_resolves_from_env_and_file(tmp_path: Path) -> None:
    (tmp_path / "HOOK_SECRET").write_text("from-file\n")
    resolver = SecretResolver(
        env={"VOICE_AGENT_TENANT_SECRET_ELEVEN": "from-env"}, secrets_dir=tmp_path
    )
    doc = minimal(
        tts_config={"provider": "elevenlabs", "voice_id": "v", "api_key": "secret:ELEVEN"},
        webhook_secret="secret:HOOK_SECRET",
    )
    spec = await parse(doc, options=ParseOptions(resolver=resolver))
    assert spec.assistant.tts_config.api_key is not None
    assert spec.assistant.tts_config.api_key.get_secret_value() == "from-env"
    assert spec.assistant.webhook_secret is not None
    assert spec.assistant.webhook_secret.get_secret_value() == "from-file"
    assert "from-env" not in repr(spec)  # SecretStr never prints


async def test_literal_secret_in_room_metadata_warns() -> None:
    doc = minimal(webhook_secret="hunter2")
    spec = await parse(doc, origin="room")
    assert any("assistant.webhook_secret" in w for w in spec.warnings)
    assert not any("hunter2" in w for w in spec.warnings)
    assert (await parse(doc, origin="dispatch")).warnings == ()


def tool_with_headers(headers: dict[str, str]) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {"name": "lookup"},
        "server": {"url": "https://tools.example/lookup", "headers": headers},
    }


@pytest.mark.parametrize(
    ("assistant", "path"),
    [
        (
            {"tools": [tool_with_headers({"Authorization": "Bearer tok-LEAK-1"})]},
            "assistant.tools.0.server.headers.Authorization",
        ),
        (
            {"tools": [tool_with_headers({"Accept": "json", "X-API-Key": "tok-LEAK-1"})]},
            "assistant.tools.0.server.headers.X-API-Key",
        ),
        (
            {"tools": [tool_with_headers({"X-Forward": "Bearer tok-LEAK-1"})]},
            "assistant.tools.0.server.headers.X-Forward",  # the value says what it is
        ),
        (
            {"metadata": {"crm": {"access_token": "tok-LEAK-1"}}},
            "assistant.metadata.crm.access_token",
        ),
        (
            {
                "tools": [
                    {
                        **tool_with_headers({}),
                        "server": {"url": "https://t.example", "secret": "tok-LEAK-1"},
                    }
                ]
            },
            "assistant.tools.0.server.secret",
        ),
    ],
)
async def test_literal_secrets_anywhere_in_room_metadata_warn(
    assistant: dict[str, Any], path: str
) -> None:
    doc = minimal(**assistant)
    spec = await parse(doc, origin="room")
    (warning,) = spec.warnings
    assert f"literal secret at {path} in room metadata" in warning
    assert "tok-LEAK-1" not in warning
    # a field that resolves secret:NAME (a secret field, a tool header) is told to use one;
    # metadata cannot
    assert ("secret:NAME" in warning) == (".metadata." not in path)
    assert (await parse(doc, origin="dispatch")).warnings == ()


async def test_ordinary_headers_and_references_draw_no_warning() -> None:
    doc = minimal(
        tools=[tool_with_headers({"Accept": "application/json", "X-Request-Source": "crm"})],
        metadata={"author": "Jan", "tokens_used": "12", "UserID": "usr_1"},
        webhook_secret="secret:HOOK",
    )
    resolver = SecretResolver(env={"VOICE_AGENT_TENANT_SECRET_HOOK": "whsec-1"})
    spec = await parse(doc, origin="room", options=ParseOptions(resolver=resolver))
    assert spec.warnings == ()


async def test_tool_header_values_take_secret_references() -> None:
    doc = minimal(tools=[tool_with_headers({"Authorization": "secret:TOOLS_TOKEN", "X-A": "a"})])
    resolver = SecretResolver(env={"VOICE_AGENT_TENANT_SECRET_TOOLS_TOKEN": "Bearer tok-1"})
    spec = await parse(doc, origin="room", options=ParseOptions(resolver=resolver))
    assert spec.warnings == ()  # a reference is not a literal secret
    (tool,) = [t for t in spec.assistant.tools if isinstance(t, FunctionTool)]
    assert tool.server is not None
    headers = tool.server.headers
    assert {k: v.get_secret_value() for k, v in headers.items()} == {
        "Authorization": "Bearer tok-1",
        "X-A": "a",
    }
    assert "tok-1" not in repr(tool)  # held as SecretStr: never in a repr or a log line
    with pytest.raises(ConfigError) as refused:  # the worker's own settings stay out of reach
        await parse(
            minimal(tools=[tool_with_headers({"Authorization": "secret:LIVEKIT_API_SECRET"})])
        )
    assert any("tools.0.server.headers.Authorization" in str(p) for p in refused.value.problems)


async def test_hybrid_mode_deep_merges_onto_saved_assistant(tmp_path: Path) -> None:
    saved = minimal(first_message="Saved hello", metadata={"Plan": "pro"})["assistant"]
    (tmp_path / "asst-1.json").write_text(json.dumps(saved))
    doc = {
        "assistant_id": "asst-1",
        "assistant_override": {
            "first_message": "Custom greeting!",
            "llm_config": {"messages": [{"role": "system", "content": "You sell."}]},
        },
    }
    spec = await parse(doc, options=ParseOptions(saved=DirectoryAssistants(tmp_path)))
    assert spec.assistant.first_message == "Custom greeting!"
    assert spec.assistant.llm_config.model == "gpt-4.1-mini"  # kept from the saved one
    assert spec.assistant.instructions == "You sell."
    assert spec.assistant.metadata == {"Plan": "pro"}


async def test_saved_assistant_ids_cannot_escape_the_directory(tmp_path: Path) -> None:
    found = await problems(
        {"assistant_id": "../etc/passwd"}, options=ParseOptions(saved=DirectoryAssistants(tmp_path))
    )
    assert "assistant_id" in found


async def test_operator_cap_clamps_max_duration_with_a_warning() -> None:
    spec = await parse(
        minimal(max_duration_seconds=7200), options=ParseOptions(max_call_seconds=3600)
    )
    assert spec.assistant.max_duration_seconds == 3600
    assert any("3600" in w for w in spec.warnings)


async def test_join_timeout_defaults_to_the_workers_and_may_only_shorten_it() -> None:
    options = ParseOptions(join_timeout_seconds=45)
    assert (await parse(minimal(), options=options)).join_timeout_seconds == 45
    shorter = minimal() | {"call": {"join_timeout_seconds": 10, "caller_identity": "user-42"}}
    spec = await parse(shorter, options=options)
    assert (spec.join_timeout_seconds, spec.call.caller_identity) == (10, "user-42")
    assert spec.warnings == ()
    longer = await parse(minimal() | {"call": {"join_timeout_seconds": 300}}, options=options)
    assert longer.join_timeout_seconds == 45
    assert any("join_timeout_seconds 300 exceeds" in w for w in longer.warnings)
    assert "call.join_timeout_seconds" in await problems(
        minimal() | {"call": {"join_timeout_seconds": 1}}
    )


def test_salvage_finds_where_to_report_a_broken_document() -> None:
    raw = json.dumps(
        {
            "call": {"id": "c-9", "type": "inbound_phone_call"},
            "assistant": {
                "webhook_url": "https://hooks.example/x",
                "webhook_secret": "secret:S",
                "metadata": {"UserID": 1},
                "tts_config": {"provider": "polly"},
            },
        }
    )
    target = salvage_report_target(
        raw, room_name="r", resolver=SecretResolver(env={"VOICE_AGENT_TENANT_SECRET_S": "s3"})
    )
    assert (target.call_id, target.call_type) == ("c-9", "inbound_phone_call")
    assert target.webhook_url == "https://hooks.example/x"
    assert target.webhook_secret == "s3"
    assert target.metadata == {"UserID": 1}
    broken = salvage_report_target("{nope", room_name="r")
    assert (broken.call_id, broken.webhook_url) == ("r", None)
