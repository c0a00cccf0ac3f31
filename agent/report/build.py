"""The end-of-call report: what the backend learns about a call, however it ended.

Three ways a call's report comes to be, one function each:
- ``build_report``: the normal case, from the call record, the lifecycle's end record, the call
  spec and the analysis;
- ``crash_report``: the job process died; the main process reports ``error`` from what it
  knows (who to tell, when the call started);
- ``config_error_report``: the dispatch document was invalid; ``end_detail`` lists every
  problem with its field path.

A report always goes out: if building the full report fails (a bug, or a value no check
foresaw), ``build_report`` falls back to the reduced report (ids, end reason and detail,
timing) rather than none, and :func:`agent.contracts.event_body.to_delivery` does the same for a
report that cannot be serialised.

Under ``gdpr_mode`` the conversation, transcript, summary, analysis and phone numbers are
redacted (agent/report/redaction.py) before the report leaves this module. ``assistant.metadata`` is
never touched: the backend's correlation keys come back exactly as sent. A live call uses
``build_call_report``, which redacts in a worker thread: redaction is linear, but on a whole
transcript it is still milliseconds to tens of milliseconds of pure Python, and the event loop it
would run on carries every other call of the process.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

import structlog

from agent.call.lifecycle.ending import CallEnd
from agent.contracts.callmissed import CallMissedTurn, turn_created_at
from agent.contracts.encodable import clean_text
from agent.contracts.end_reason import EndReason
from agent.contracts.event_body import reduced_event
from agent.contracts.events import (
    Analysis,
    AssistantRef,
    CallMetrics,
    CallRef,
    CallStatus,
    ControlEntry,
    Customer,
    EndOfCallReport,
    InterruptionMetrics,
    ParticipantVisit,
    Percentiles,
    ReportMessage,
    ToolCall,
    TurnMetrics,
    UsageEntry,
    final_status,
)
from agent.errors import ConfigError, ConfigProblem
from agent.intake.dispatch import CallSpec
from agent.intake.document import CallType
from agent.intake.report_target import ReportTarget
from agent.report.record import (
    CallRecord,
    InterruptionEntry,
    MessageEntry,
    ToolCallEntry,
    ToolResultEntry,
    Turn,
    percentile,
    seconds_since,
)
from agent.report.redaction import PHONE, redact, redact_data

log = structlog.get_logger(__name__)
_NUMBER_IN_IDENTITY = re.compile(r"\+?\d{6,15}")

LATENCY_FIGURES = ("stt_ms", "end_of_turn_ms", "llm_ttft_ms", "tts_ttfb_ms", "e2e_ms", "tool_ms")
"""The per-turn figures that get p50/p95 over the call."""
MAX_CONFIG_ERROR_DETAIL = 4000


def build_report(
    record: CallRecord,
    end: CallEnd | None,
    spec: CallSpec,
    analysis: Analysis | None = None,
    *,
    went_live: bool = True,
) -> EndOfCallReport:
    """The report of a call that ran (in this process): what happened from ``record``, how
    it ended (reason, detail, start, end, duration) from the lifecycle's ``end``. ``went_live``:
    the call got as far as going live (else an error before it is a ``failed`` call).

    The lifecycle always ends a call before its report; ``end`` None is itself a bug, reported
    as ``error`` (with no duration: the start is unknown) rather than not at all. Never raises:
    a report that cannot be built is sent reduced."""
    try:
        report = _assemble(record, end, spec, analysis, went_live=went_live)
        return redact_report(report) if spec.assistant.gdpr_mode else report
    except Exception as exc:
        return _reduced_report(end, spec, exc, went_live=went_live)


async def build_call_report(
    record: CallRecord,
    end: CallEnd | None,
    spec: CallSpec,
    analysis: Analysis | None = None,
    *,
    went_live: bool = True,
) -> EndOfCallReport:
    """`build_report` for a live call, with the gdpr redaction off the event loop.

    The report is assembled on the loop (it reads the call record, which the loop's tasks
    write), then redacted in a worker thread (``asyncio.to_thread``) on the assembled copy,
    which nothing else holds. Redaction is pure Python and keeps the GIL only for the
    interpreter's switch interval (5 ms) at a time, so the loop's other calls keep running.
    Never raises: a report that cannot be built is sent reduced."""
    try:
        report = _assemble(record, end, spec, analysis, went_live=went_live)
        if not spec.assistant.gdpr_mode:
            return report
        return await asyncio.to_thread(redact_report, report)
    except Exception as exc:
        return _reduced_report(end, spec, exc, went_live=went_live)


def _reduced_report(
    end: CallEnd | None, spec: CallSpec, exc: Exception, *, went_live: bool
) -> EndOfCallReport:
    """What identifies and ends the call, when the full report could not be built."""
    log.exception("report_build_failed", error_type=type(exc).__name__)
    started_at = end.started_at if end is not None else None
    ended_at = end.ended_at if end is not None else None
    reduced = crash_report(
        spec, started_at=started_at, ended_at=ended_at, detail="", went_live=went_live
    )
    detail = (end.detail if end is not None else None) or ""
    if spec.assistant.gdpr_mode:
        detail = ""  # redaction may be what failed; the reason alone is safe
    reason = end.reason if end is not None else EndReason.ERROR
    message = reduced_event(
        reduced.model_copy(update={"end_reason": reason, "end_detail": detail}),
        f"the full report could not be built ({type(exc).__name__})",
    )
    assert isinstance(message, EndOfCallReport)
    return message


def _assemble(
    record: CallRecord,
    end: CallEnd | None,
    spec: CallSpec,
    analysis: Analysis | None,
    *,
    went_live: bool,
) -> EndOfCallReport:
    analysis = analysis or Analysis()
    if end is not None:
        # The detail can quote a vendor's error: cleaned like the record's text.
        reason, detail = end.reason, clean_text(end.detail) if end.detail else end.detail
        answered, ended_at, duration = end.started_at, end.ended_at, end.duration_seconds
        joined: datetime | None = end.agent_joined_at
        # Offsets in the call count from the answer; a call never answered has none to count
        # from but the agent's arrival.
        start = answered or end.agent_joined_at
        participants = [ParticipantVisit.model_validate(a.model_dump()) for a in end.participants]
    else:
        reason, detail = EndReason.ERROR, "the call ended without an end reason"
        start = ended_at = datetime.now(UTC)
        answered, joined, duration, participants = start, None, 0.0, []
    status = final_status(reason, went_live=went_live)
    return EndOfCallReport(
        call=CallRef(id=spec.call_id, type=spec.call.type, status=status),
        assistant=AssistantRef(name=spec.assistant.name, metadata=spec.assistant.metadata),
        end_reason=reason,
        end_detail=detail,
        started_at=answered,
        ended_at=ended_at,
        duration_seconds=round(duration),
        duration_ms=round(duration * 1000),
        agent_joined_at=joined,
        caller_join_seconds=end.caller_join_seconds if end is not None else None,
        participants=participants,
        summary=analysis.summary,
        transcript=record.transcript_text(),
        messages=report_messages(record, start),
        analysis=analysis,
        metrics=report_metrics(record, start),
        usage=report_usage(record),
        control=[ControlEntry(command=c.command, outcome=c.outcome,
                              at_seconds=seconds_since(start, c.at))
                 for c in record.controls],
        control_refused=record.controls_refused,
        customer=_customer(record, spec),
        destination=_destination(record, spec),
        **call_properties(record, spec, reason, detail),
    )  # fmt: skip


def call_properties(
    record: CallRecord | None, spec: CallSpec, reason: EndReason, detail: str | None
) -> dict[str, Any]:
    """The seed's call properties the worker knows (002 "Call Properties"): the numbers on
    both sides, the assistant's and business's names, the error of a failed call, and what
    the worker could not honour (`warnings`)."""
    customer = _customer(record, spec)
    agent_phone = spec.agent_number
    if record is not None and spec.call.type is CallType.INBOUND_PHONE:
        agent_phone = record.called_number or agent_phone
    return {
        "caller_phone": customer.number if customer else None,
        "agent_phone": agent_phone,
        "assistant_name": spec.assistant.name,
        "business_name": spec.assistant.business_name,
        "error": detail if reason in _FAILED else None,
        "warnings": list(spec.warnings),
    }


_FAILED = (EndReason.ERROR, EndReason.CONFIG_ERROR)


def crash_report(
    target: ReportTarget | CallSpec,
    *,
    started_at: datetime | None,
    detail: str,
    ended_at: datetime | None = None,
    went_live: bool = False,
    agent_joined_at: datetime | None = None,
) -> EndOfCallReport:
    """``end_reason: error`` for a call whose job process died (built in the main process),
    or that failed before it went live. ``seq`` stays 0: the main process does not know how
    many events the job sent. ``call.status`` is ``failed`` unless the call ``went_live``.
    ``started_at`` is the answer when known (the ledger's live mark), ``agent_joined_at`` when
    the job took the call."""
    ended_at = ended_at or datetime.now(UTC)
    duration = (ended_at - started_at).total_seconds() if started_at else 0.0
    call, assistant = _refs(target, final_status(EndReason.ERROR, went_live=went_live))
    if isinstance(target, CallSpec):
        facts = call_properties(None, target, EndReason.ERROR, detail)
    else:
        facts = {"assistant_name": target.assistant_name, "error": detail}
    return EndOfCallReport(
        call=call,
        assistant=assistant,
        end_reason=EndReason.ERROR,
        end_detail=detail,
        started_at=started_at,
        ended_at=ended_at,
        duration_seconds=round(max(duration, 0.0)),
        duration_ms=round(max(duration, 0.0) * 1000),
        agent_joined_at=agent_joined_at,
        caller_join_seconds=(
            round((started_at - agent_joined_at).total_seconds(), 3)
            if started_at and agent_joined_at
            else None
        ),
        **facts,
    )


def config_error_report(
    target: ReportTarget, problems: ConfigError | Iterable[ConfigProblem]
) -> EndOfCallReport:
    """``end_reason: config_error`` (``call.status: failed``, the call never went live);
    ``end_detail`` is every problem as ``path: message``. A call that never went live was
    never answered: ``started_at`` is null and the duration 0 (``ended_at`` is when it was
    refused)."""
    listed = problems.problems if isinstance(problems, ConfigError) else tuple(problems)
    detail = "; ".join(str(p) for p in listed) or "invalid configuration"
    if len(detail) > MAX_CONFIG_ERROR_DETAIL:  # every problem of a huge broken document
        detail = detail[: MAX_CONFIG_ERROR_DETAIL - 40] + f"… ({len(listed)} problems in all)"
    call, assistant = _refs(target, "failed")
    return EndOfCallReport(
        call=call,
        assistant=assistant,
        end_reason=EndReason.CONFIG_ERROR,
        end_detail=detail,
        started_at=None,
        ended_at=datetime.now(UTC),
        duration_seconds=0,
        duration_ms=0,
        assistant_name=target.assistant_name,
        error=detail,
    )


def report_messages(record: CallRecord, start: datetime) -> list[ReportMessage]:
    """The conversation in order (times from ``start``, the call's start); consecutive tool
    calls share one assistant entry."""

    def offset(at: float | None) -> float | None:
        return seconds_since(start, at)

    messages: list[ReportMessage] = []
    for entry in record.entries:
        if isinstance(entry, MessageEntry):
            messages.append(ReportMessage(
                role=entry.role, message=entry.text, start_seconds=offset(entry.started_at),
                end_seconds=offset(entry.ended_at), interrupted=entry.interrupted,
            ))  # fmt: skip
        elif isinstance(entry, ToolCallEntry):
            call = ToolCall(id=entry.id, name=entry.name, arguments=entry.arguments)
            last = messages[-1] if messages else None
            if last is not None and last.tool_calls and not last.message:
                last.tool_calls.append(call)
            else:
                messages.append(ReportMessage(
                    role="assistant", message="", tool_calls=[call],
                    start_seconds=offset(entry.called_at),
                ))  # fmt: skip
        elif isinstance(entry, ToolResultEntry):
            messages.append(_tool_result(entry.call, offset))
    return messages


def _tool_result(
    call: ToolCallEntry, offset: Callable[[float | None], float | None]
) -> ReportMessage:
    if call.error is not None:
        text = f"error: {call.error}"
    elif isinstance(call.result, str):
        text = call.result
    else:
        text = json.dumps(call.result, ensure_ascii=False)
    return ReportMessage(
        role="tool",
        message=text,
        tool_call_id=call.id,
        name=call.name,
        result=call.result,
        error=call.error,
        tool_ms=call.tool_ms,
        start_seconds=offset(call.called_at),
        end_seconds=offset(call.finished_at),
    )


def report_metrics(record: CallRecord, start: datetime) -> CallMetrics:
    turns = record.turns()
    rows = [_turn_metrics(t) for t in turns]
    percentiles: dict[str, Percentiles] = {}
    for figure in LATENCY_FIGURES:
        values = [v for row in rows if (v := getattr(row, figure)) is not None]
        percentiles[figure] = Percentiles(
            count=len(values), p50=percentile(values, 50), p95=percentile(values, 95)
        )
    return CallMetrics(
        turns=rows,
        interruptions=[_interruption(e, start) for e in record.interruptions],
        percentiles=percentiles,
        callmissed_turns=[_callmissed(t) for t in turns],
    )


def _interruption(entry: InterruptionEntry, start: datetime) -> InterruptionMetrics:
    def ms_from(at: float | None, since: float) -> float | None:
        return None if at is None else round((at - since) * 1000, 1)

    return InterruptionMetrics(
        at_seconds=seconds_since(start, entry.started_at),
        outcome=entry.outcome,
        words=entry.words,
        quiet_ms=ms_from(entry.quiet_at, entry.started_at),
        resumed_ms=(
            ms_from(entry.resumed_at, entry.quiet_at) if entry.quiet_at is not None else None
        ),
    )


def _turn_metrics(turn: Turn) -> TurnMetrics:
    return TurnMetrics(
        turn_index=turn.index,
        stt_ms=turn.stt_ms,
        end_of_turn_ms=turn.end_of_turn_ms,
        end_of_turn_rule=turn.end_of_turn_rule,
        end_of_turn_wait_ms=turn.end_of_turn_wait_ms,
        llm_ttft_ms=turn.llm_ttft_ms,
        tts_ttfb_ms=turn.tts_ttfb_ms,
        e2e_ms=turn.e2e_ms,
        tool_ms=turn.tool_ms,
        interrupted=turn.interrupted,
    )


def _callmissed(turn: Turn) -> CallMissedTurn:
    return CallMissedTurn(
        turn_index=turn.index,
        user_transcript=turn.user_text,
        agent_response=turn.agent_text,
        interrupted=turn.interrupted,
        stt_ms=turn.stt_ms,
        first_token_ms=turn.llm_ttft_ms,
        first_audio_ms=turn.e2e_ms,
        total_ms=turn.total_ms,
        llm_model=turn.llm_model,
        created_at=turn_created_at(turn.agent_ended_at or turn.user_ended_at),
    )


def report_usage(record: CallRecord) -> list[UsageEntry]:
    return [
        UsageEntry(
            kind=kind,
            provider=provider,
            model=model,
            prompt_tokens=totals.prompt_tokens,
            completion_tokens=totals.completion_tokens,
            characters=totals.characters,
            audio_seconds=round(totals.audio_seconds, 3),
        )
        for (kind, provider, model), totals in sorted(record.usage().items())
    ]


def redact_report(report: EndOfCallReport) -> EndOfCallReport:
    """``gdpr_mode``: personal data out of everything but the metadata the backend sent."""
    analysis = report.analysis.model_copy(
        update={
            "summary": redact(report.analysis.summary) if report.analysis.summary else None,
            "structured_data": redact_data(report.analysis.structured_data),
        }
    )
    messages = [
        m.model_copy(update={
            "message": redact(m.message),
            "tool_calls": [c.model_copy(update={"arguments": redact_data(c.arguments)})
                           for c in m.tool_calls] if m.tool_calls else m.tool_calls,
            "result": redact_data(m.result),
            "error": redact(m.error) if m.error else m.error,
        })
        for m in report.messages
    ]  # fmt: skip
    metrics = report.metrics.model_copy(update={"callmissed_turns": [
        t.model_copy(update={"user_transcript": redact(t.user_transcript),
                             "agent_response": redact(t.agent_response)})
        for t in report.metrics.callmissed_turns
    ]})  # fmt: skip
    customer = report.customer
    if customer is not None and customer.number:
        customer = customer.model_copy(update={"number": PHONE})
    # A SIP participant's identity is usually `sip_<their number>`: any run of digits long
    # enough to be a number goes, whatever is glued to it (the text scanner wants word edges).
    participants = [
        p.model_copy(update={"identity": _NUMBER_IN_IDENTITY.sub(PHONE, p.identity)})
        for p in report.participants
    ]
    # `agent_phone` is the business's own number, masked anyway like `destination` (which is
    # that number on an inbound call): the report never says who called whom.
    return report.model_copy(
        update={
            "participants": participants,
            "summary": analysis.summary,
            "transcript": redact(report.transcript),
            "messages": messages,
            "analysis": analysis,
            "metrics": metrics,
            "customer": customer,
            "destination": PHONE if report.destination else None,
            "caller_phone": PHONE if report.caller_phone else None,
            "agent_phone": PHONE if report.agent_phone else None,
            "error": redact(report.error) if report.error else None,
        }
    )


def _refs(target: ReportTarget | CallSpec, status: CallStatus) -> tuple[CallRef, AssistantRef]:
    if isinstance(target, CallSpec):
        return (
            CallRef(id=target.call_id, type=target.call.type, status=status),
            AssistantRef(name=target.assistant.name, metadata=target.assistant.metadata),
        )
    return (
        CallRef(id=target.call_id, type=CallType(target.call_type), status=status),
        AssistantRef(name=target.assistant_name, metadata=target.metadata),
    )


def _customer(record: CallRecord | None, spec: CallSpec) -> Customer | None:
    sent = spec.call.customer
    number = sent.number if sent else None
    if spec.call.type is CallType.INBOUND_PHONE and record is not None:
        number = record.caller_number or number
    elif spec.call.type is CallType.OUTBOUND_PHONE and spec.call.destination:
        number = number or (spec.call.destination if spec.call.destination[0] == "+" else None)
    if number is None and (sent is None or sent.name is None):
        return None
    return Customer(number=number, name=sent.name if sent else None)


def _destination(record: CallRecord, spec: CallSpec) -> str | None:
    if record.transfer_destination:
        return record.transfer_destination
    if spec.call.type is CallType.OUTBOUND_PHONE:
        return spec.call.destination
    if spec.call.type is CallType.INBOUND_PHONE:
        return record.called_number
    return None
