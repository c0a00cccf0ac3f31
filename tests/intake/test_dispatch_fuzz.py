"""Properties of the dispatch parser: whatever arrives, parsing raises nothing but ConfigError,
and whatever it accepts serialises into every report the call can send (the normal report,
the crash report); whatever it refuses still serialises into its config_error report."""

from __future__ import annotations

import asyncio
import contextlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.call.lifecycle.ending import CallEnd
from agent.contracts.end_reason import EndReason
from agent.contracts.event_body import serialise
from agent.contracts.events import Envelope, parse_envelope
from agent.errors import ConfigError
from agent.intake.dispatch import CallSpec, parse_dispatch
from agent.intake.report_target import salvage_report_target
from agent.report.build import build_report, config_error_report, crash_report
from agent.report.record import CallRecord
from tests.support.hostile_json import as_text, deep_texts, hostile_raw, json_values, texts

KEYS = [
    "call",
    "assistant",
    "assistant_id",
    "assistant_override",
    "system_prompt",
    "llm_model",
    "voice",
    "tts_provider",
    "stt_config",
    "llm_config",
    "tts_config",
    "tools",
    "destination",
    "number_id",
    "agent",
    "metadata",
    "webhook_url",
    "provider",
    "type",
    "bot_id",
]
shaped = st.dictionaries(st.sampled_from(KEYS), json_values, max_size=6).map(
    lambda d: {**d, "assistant": d} if d.get("assistant") == {} else d
)


def _tool_name(tool: Any) -> Any:
    return tool["function"]["name"]


# Valid documents with hostile values where a tenant can put anything: names, spoken lines,
# metadata, tool names, descriptions and parameter schemas.
tool = st.fixed_dictionaries(
    {
        "type": st.just("function"),
        "function": st.fixed_dictionaries(
            {
                "name": st.from_regex(r"\A[a-z_]{1,12}\Z"),
                "description": texts,
                "parameters": st.one_of(
                    st.just({"type": "object"}),
                    st.dictionaries(
                        st.sampled_from(["type", "properties", "required"]), json_values, max_size=3
                    ),
                ),
            }
        ),
    }
)
valid_ish = st.fixed_dictionaries(
    {
        "call": st.fixed_dictionaries(
            {"id": texts.filter(bool), "customer": st.fixed_dictionaries({"name": texts})}
        ),
        "assistant": st.fixed_dictionaries(
            {
                "stt_config": st.just({"provider": "deepgram"}),
                "llm_config": st.fixed_dictionaries(
                    {
                        "model": st.just("gpt-4.1-mini"),
                        "messages": st.lists(
                            st.fixed_dictionaries(
                                {"role": st.sampled_from(["system", "user"]), "content": texts}
                            ),
                            max_size=3,
                        ),
                    }
                ),
                "tts_config": st.just({"provider": "elevenlabs", "voice_id": "v"}),
                "name": texts,
                "first_message": texts.filter(bool),
                "metadata": st.dictionaries(texts, json_values, max_size=5),
                "tools": st.lists(tool, max_size=2, unique_by=_tool_name),
                "webhook_url": st.just("https://hooks.example/calls"),
            }
        ),
    }
)

START = datetime(2026, 4, 19, 12, 0, tzinfo=UTC)


def hung_up() -> CallEnd:
    """The lifecycle's end record of a call the caller hung up 3 s in."""
    return CallEnd(
        reason=EndReason.USER_HANGUP, detail="CLIENT_INITIATED", agent_joined_at=START,
        started_at=START, ended_at=START + timedelta(seconds=3), caller_join_seconds=0.0,
        agent_joined_monotonic=0.0, started_monotonic=0.0,
        end_requested_monotonic=3.0, ended_monotonic=3.0, duration_seconds=3.0,
        hung_up="immediately", ignored_requests=(),
    )  # fmt: skip


# A private loop: asyncio.run() would clear the thread's current event loop, which later sync
# tests that build framework objects rely on.
_LOOP = asyncio.new_event_loop()


def _parse(raw: str | bytes | dict[str, Any]) -> CallSpec:
    return _LOOP.run_until_complete(parse_dispatch(raw, room_name="r"))


def strictly_serialises(report: Any) -> None:
    """No fallback allowed: ``serialise`` raises where ``to_delivery`` would clean or reduce."""
    parse_envelope(serialise(Envelope(message=report)))


def reports_always_serialise(raw: str | bytes) -> None:
    """Accepted: the call's report and the crash report serialise. Refused: ConfigError only,
    naming something, and the config_error report built from the salvaged target serialises."""
    try:
        spec = _parse(raw)
    except ConfigError as exc:
        assert exc.problems  # noqa: PT017 - any ConfigError passes, but it must say something
        target = salvage_report_target(raw, room_name="r")
        strictly_serialises(config_error_report(target, exc))
        return
    record = CallRecord(call_id=spec.call_id)
    strictly_serialises(build_report(record, hung_up(), spec))
    strictly_serialises(crash_report(spec, started_at=START, detail="job_process_died"))
    strictly_serialises(crash_report(salvage_report_target(raw, room_name="r"), started_at=START,
                                     detail="job_process_died"))  # fmt: skip


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(json_values)
def test_arbitrary_json_only_raises_config_error(doc: Any) -> None:
    reports_always_serialise(as_text(doc))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(shaped)
def test_document_shaped_json_only_raises_config_error(doc: dict[str, Any]) -> None:
    reports_always_serialise(as_text(doc))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(valid_ish)
def test_whatever_is_accepted_serialises_into_every_report(doc: dict[str, Any]) -> None:
    reports_always_serialise(as_text(doc))
    reports_always_serialise(as_text(doc).encode())
    with contextlib.suppress(ConfigError):  # a parsed mapping goes through the same reader
        spec = _parse(json.loads(as_text(doc)))
        strictly_serialises(crash_report(spec, started_at=START, detail="x"))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hostile_raw)
def test_hostile_bytes_and_depth_only_raise_config_error(raw: str | bytes) -> None:
    reports_always_serialise(raw)


@settings(max_examples=30, deadline=None)
@given(deep_texts)
def test_any_nesting_depth_only_raises_config_error(text: str) -> None:
    reports_always_serialise('{"assistant": {"metadata": {"x": ' + text + "}}}")
