"""The CallMissed wire format: the seed's session shape, its transcript names, the end-reason
table, which moments of a call become which event, and what a body keeps private."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from agent.call.lifecycle.ending import CallEnd
from agent.contracts.callmissed import VoiceSession, session_end
from agent.contracts.end_reason import EndReason
from agent.contracts.events import EndOfCallReport, final_outcome, parse_session
from agent.delivery.call_events import CallEvents
from agent.delivery.jsonl import JsonlSink
from agent.intake.dispatch import CallSpec, parse_dispatch
from agent.report.build import build_report
from agent.report.record import CallRecord
from agent.worker.ledger import report_delivery_id
from tests.support.paths import SEEDS

SEED = SEEDS / "004_7263bb0198f1bc3b.txt"
START = datetime(2026, 4, 19, 12, 0, 0, tzinfo=UTC)
T0 = START.timestamp()


def ended(reason: EndReason, detail: str | None, seconds: float) -> CallEnd:
    """The lifecycle's end record of a call that lasted ``seconds`` from START."""
    return CallEnd(
        reason=reason, detail=detail, agent_joined_at=START, started_at=START,
        ended_at=START + timedelta(seconds=seconds), caller_join_seconds=0.0,
        agent_joined_monotonic=0.0, started_monotonic=0.0,
        end_requested_monotonic=seconds, ended_monotonic=seconds, duration_seconds=seconds,
        hung_up="immediately", ignored_requests=(),
    )  # fmt: skip


def seed_text() -> str:
    if not SEED.exists():
        pytest.skip("seed documents not available")
    return SEED.read_text()


def seed_session_example() -> dict[str, Any]:
    """The 201 response of "Create Session", parsed from the seed as it is written."""
    text = seed_text()
    start = text.index("{", text.index("Response (201 Created):"))
    decoded, _ = json.JSONDecoder().raw_decode(text[start:])
    assert isinstance(decoded, dict)
    return decoded


async def spec_of(document: dict[str, Any]) -> CallSpec:
    base = {"system_prompt": "You are helpful.", "webhook_url": "https://app.example/hooks"}
    return await parse_dispatch(base | document, room_name="voice-abc")


def report_for(
    spec: CallSpec, reason: EndReason, detail: str | None = None, *, live: bool = True
) -> EndOfCallReport:
    record = CallRecord(call_id=spec.call_id, llm_model="kimi-k2.5")
    record.add_message("assistant", "Hello!", T0 + 0.5, T0 + 1.0)
    record.add_message("user", "Call me on +31612345678", T0 + 2.0, T0 + 3.0)
    record.add_message("assistant", "Noted.", T0 + 3.5, T0 + 4.0)
    return build_report(record, ended(reason, detail, 9.0), spec, went_live=live)


def events_of(spec: CallSpec, tmp_path: Any) -> CallEvents:
    return CallEvents.for_call(spec, JsonlSink(tmp_path / "events.jsonl"))


# --- the shape, against the seed ---------------------------------------------------------------


async def test_the_body_is_the_seeds_session_object_plus_transcript(tmp_path: Any) -> None:
    example = seed_session_example()
    events = events_of(await spec_of({}), tmp_path)
    delivery = events.build(events.status_update("in-progress"))
    assert delivery is not None
    body = json.loads(delivery.body)
    # "Get Session": everything of the create response except ws_url and token, in its order;
    # then the transcript (the transcript endpoint's turns) and our error/warnings.
    documented = [k for k in example if k not in ("ws_url", "token")]
    assert list(body) == [*documented, "transcript", "error", "warnings"]
    assert list(body["config"]) == list(example["config"])
    assert body["tenant_id"] is None
    assert body["bot_id"] is None


async def test_transcript_turns_carry_the_seeds_fields_in_its_order(tmp_path: Any) -> None:
    listed = re.search(r"Array of turns: ([a-z_, ]+)", seed_text())
    assert listed is not None
    names = [n.strip() for n in listed.group(1).split(",")]
    spec = await spec_of({})
    events = events_of(spec, tmp_path)
    delivery = events.build(report_for(spec, EndReason.USER_HANGUP))
    assert delivery is not None
    turns = json.loads(delivery.body)["transcript"]
    assert [list(t) for t in turns] == [names, names]
    assert turns[1]["user_transcript"] == "Call me on +31612345678"
    assert turns[1]["created_at"] == "2026-04-19T12:00:04.000Z"


async def test_config_is_the_session_as_applied_with_its_room(tmp_path: Any) -> None:
    spec = await spec_of({"voice": "anushka", "llm_model": "sarvam-30b", "language": "hi-IN"})
    events = events_of(spec, tmp_path)
    delivery = events.build(events.status_update("in-progress"))
    assert delivery is not None
    assert json.loads(delivery.body)["config"] == {
        "system_prompt": "You are helpful.",
        "voice": "anushka",
        "language": "hi-IN",
        "llm_model": "sarvam-30b",
        "tts_provider": "sarvam",
        "max_duration_seconds": spec.assistant.max_duration_seconds,
        "livekit_room": "voice-abc",
    }


# --- the end-reason table (README "CallMissed end reasons") ------------------------------------


@pytest.mark.parametrize(
    ("reason", "detail", "end_reason", "status", "event"),
    [
        (EndReason.USER_HANGUP, "CLIENT_INITIATED", "user_hangup", "completed", "ended"),
        (EndReason.AGENT_HANGUP, "control_end_call", "api_delete", "completed", "ended"),
        (EndReason.AGENT_HANGUP, "end_call_tool", "agent_hangup", "completed", "ended"),
        (EndReason.AGENT_HANGUP, "control_end_after", "agent_hangup", "completed", "ended"),
        (EndReason.MAX_DURATION, None, "max_duration", "timeout", "ended"),
        (EndReason.SILENCE_TIMEOUT, None, "silence_timeout", "completed", "ended"),
        (EndReason.TRANSFERRED, None, "transferred", "completed", "ended"),
        (EndReason.VOICEMAIL, "voicemail_left", "voicemail", "completed", "ended"),
        (EndReason.NO_ANSWER, "480 Temporarily Unavailable", "no_answer", "completed", "ended"),
        (EndReason.ERROR, "worker_shutdown", "error", "failed", "failed"),
        (EndReason.CONFIG_ERROR, "voice: bad", "config_error", "failed", "failed"),
    ],
)
def test_end_reason_table(
    reason: EndReason, detail: str | None, end_reason: str, status: str, event: str
) -> None:
    end = session_end(reason, detail)
    assert (end.end_reason, end.status, end.event) == (
        end_reason,
        status,
        f"voice_session.{event}",
    )


def test_every_end_reason_has_a_row() -> None:
    assert {session_end(r, None).end_reason for r in EndReason} >= {r.value for r in EndReason}


# --- which moments become events ----------------------------------------------------------------


async def test_only_going_live_and_the_end_are_callmissed_events(tmp_path: Any) -> None:
    spec = await spec_of({"metadata": {"UserID": "u-1"}})
    events = events_of(spec, tmp_path)
    sent = [
        events.build(events.status_update("in-progress")),
        events.build(events.transcript("user", "hi", 1.0, 2.0)),
        events.build(events.status_update("forwarding", "+31201234567")),
        events.build(events.status_update("in-progress")),  # back from a failed transfer
        events.build(events.status_update("ended")),
        events.build(report_for(spec, EndReason.TRANSFERRED)),
    ]
    names = [d.event_type if d else None for d in sent]
    assert names == ["voice_session.started", None, None, None, None, "voice_session.ended"]
    started, ended = (d for d in sent if d is not None)
    assert (started.seq, ended.seq) == (1, 2)  # in order, no gaps
    assert started.wire == ended.wire == "callmissed"
    assert ended.delivery_id != started.delivery_id
    assert parse_session(ended.body).metadata == {"UserID": "u-1"}  # exactly as sent


async def test_the_report_keeps_the_calls_one_delivery_id(tmp_path: Any) -> None:
    spec = await spec_of({"call": {"id": "cm-7"}})
    events = events_of(spec, tmp_path)
    delivery = events.emit_report(report_for(spec, EndReason.USER_HANGUP))
    await events.drain()
    assert delivery is not None
    assert delivery.delivery_id == report_delivery_id("cm-7")
    assert final_outcome(delivery).end_reason is EndReason.USER_HANGUP


@pytest.mark.parametrize(
    ("listed", "expected"),
    [
        (["end-of-call-report"], ["voice_session.ended"]),
        (["status-update"], ["voice_session.started"]),
        (["status-update", "end-of-call-report"], ["voice_session.started", "voice_session.ended"]),
    ],
)
async def test_webhook_events_written_with_hms_names_select_the_same_moments(
    tmp_path: Any, listed: list[str], expected: list[str]
) -> None:
    spec = await spec_of({"webhook_events": listed})
    events = events_of(spec, tmp_path)
    sent = [
        events.emit(events.status_update("in-progress")),
        events.emit_report(report_for(spec, EndReason.USER_HANGUP)),
    ]
    await events.drain()
    assert [d.event_type for d in sent if d is not None] == expected


async def test_a_call_that_never_went_live_has_no_start(tmp_path: Any) -> None:
    spec = await spec_of({})
    events = events_of(spec, tmp_path)
    delivery = events.build(report_for(spec, EndReason.ERROR, "sip: unavailable", live=False))
    assert delivery is not None
    assert delivery.event_type == "voice_session.failed"
    session = VoiceSession.model_validate_json(delivery.body)
    assert (session.started_at, session.duration_seconds) == (None, None)
    assert session.error == "sip: unavailable"


async def test_gdpr_mode_keeps_caller_data_out_of_the_body(tmp_path: Any) -> None:
    spec = await spec_of(
        {"gdpr_mode": True, "system_prompt": "The caller is +31612345678.", "metadata": {"k": 1}}
    )
    events = events_of(spec, tmp_path)
    report = report_for(spec, EndReason.ERROR, "tool failed for +31612345678")
    delivery = events.build(report)
    assert delivery is not None
    assert b"+31612345678" not in delivery.body
    session = parse_session(delivery.body)
    assert session.metadata == {"k": 1}  # the backend's own keys come back as sent
    assert session.error is not None
    assert "tool failed for" in session.error


async def test_a_body_that_cannot_be_encoded_still_goes_out_cleaned(tmp_path: Any) -> None:
    spec = await spec_of({"metadata": {"k": "v"}})
    events = events_of(spec, tmp_path)
    report = report_for(spec, EndReason.USER_HANGUP)
    turns = report.metrics.callmissed_turns
    broken = turns[1].model_copy(update={"user_transcript": "caf\ud800e"})  # a lone surrogate
    metrics = report.metrics.model_copy(update={"callmissed_turns": [turns[0], broken]})
    delivery = events.build(report.model_copy(update={"metrics": metrics}))
    assert delivery is not None
    session = parse_session(delivery.body)  # valid UTF-8 JSON, the seed's shape
    assert session.end_reason == "user_hangup"
    assert session.metadata == {"k": "v"}
    assert session.transcript[1].user_transcript.startswith("caf")
    assert "\ud800" not in session.transcript[1].user_transcript
