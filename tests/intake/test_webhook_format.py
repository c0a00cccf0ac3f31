"""Which webhook format a call speaks: its dialect's, unless the document or the operator says.

The order: the operator's `VOICE_AGENT_WEBHOOK_FORMAT` when it is not `auto` (the receivers
behind a worker pool verify one scheme), else the document's `webhook_format`, else the dialect
the document is written in. Reports built from a document that did not parse (config_error,
crash) choose the same way.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from agent.contracts.wire import WireFormatSetting
from agent.intake.dispatch import ParseOptions, parse_dispatch
from agent.intake.report_target import salvage_report_target
from agent.worker.settings import WorkerSettings
from tests.support.paths import EXAMPLES

HMS: dict[str, Any] = {
    "call": {"id": "c-1"},
    "assistant": {
        "stt_config": {"provider": "deepgram"},
        "llm_config": {"model": "gpt-4.1-mini"},
        "tts_config": {"provider": "openai"},
    },
}
CALLMISSED: dict[str, Any] = json.loads((EXAMPLES / "callmissed-session.json").read_text())


def with_format(document: dict[str, Any], chosen: str) -> dict[str, Any]:
    if "assistant" in document:
        return document | {"assistant": document["assistant"] | {"webhook_format": chosen}}
    return document | {"webhook_format": chosen}


@pytest.mark.parametrize(
    ("document", "operator", "expected"),
    [
        (HMS, "auto", "hms"),
        (CALLMISSED, "auto", "callmissed"),
        ({"assistant": CALLMISSED}, "auto", "callmissed"),  # flat config as `assistant`
        (with_format(HMS, "callmissed"), "auto", "callmissed"),  # the document chooses
        (with_format(CALLMISSED, "hms"), "auto", "hms"),
        (CALLMISSED, "hms", "hms"),  # the operator forces
        (with_format(HMS, "callmissed"), "hms", "hms"),
        (HMS, "callmissed", "callmissed"),
    ],
    ids=[
        "hms", "callmissed", "flat-assistant", "hms-chooses-callmissed",
        "callmissed-chooses-hms", "operator-hms", "operator-over-document", "operator-callmissed",
    ],
)  # fmt: skip
async def test_the_format_is_the_operators_then_the_documents_then_the_dialects(
    document: dict[str, Any], operator: WireFormatSetting, expected: str
) -> None:
    spec = await parse_dispatch(
        document, room_name="room-1", options=ParseOptions(webhook_format=operator)
    )
    assert spec.webhook_format == expected
    target = salvage_report_target(document, room_name="room-1", webhook_format=operator)
    assert target.webhook_format == expected


async def test_the_dialect_is_kept_beside_the_format() -> None:
    spec = await parse_dispatch(with_format(HMS, "callmissed"), room_name="room-1")
    assert (spec.dialect, spec.webhook_format) == ("hms", "callmissed")
    flat = await parse_dispatch(CALLMISSED, room_name="room-1")
    assert (flat.dialect, flat.webhook_format) == ("callmissed", "callmissed")


async def test_an_unknown_format_is_a_config_error_naming_the_field() -> None:
    from agent.errors import ConfigError

    with pytest.raises(ConfigError) as caught:
        await parse_dispatch(with_format(CALLMISSED, "vapi"), room_name="room-1")
    assert [p.path for p in caught.value.problems] == ["webhook_format"]
    # A broken document still gets its report in its own dialect's format.
    target = salvage_report_target(with_format(CALLMISSED, "vapi"), room_name="room-1")
    assert target.webhook_format == "callmissed"


def test_the_operator_setting_is_read_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert WorkerSettings().webhook_format == "auto"
    monkeypatch.setenv("VOICE_AGENT_WEBHOOK_FORMAT", "callmissed")
    assert WorkerSettings().webhook_format == "callmissed"
    monkeypatch.setenv("VOICE_AGENT_WEBHOOK_FORMAT", "xml")
    with pytest.raises(ValueError, match="webhook_format"):
        WorkerSettings()


def test_a_broken_flat_document_salvages_bot_id_and_metadata() -> None:
    raw = json.dumps({"bot_id": "bot-9", "voice": 7, "metadata": {"UserID": "u"}})
    target = salvage_report_target(raw, room_name="room-1")
    assert (target.webhook_format, target.bot_id) == ("callmissed", "bot-9")
    assert (target.metadata, target.metadata_sent) == ({"UserID": "u"}, True)
    bare = salvage_report_target(json.dumps({"voice": 7}), room_name="room-1")
    assert (bare.metadata, bare.metadata_sent) == ({}, False)
