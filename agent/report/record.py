"""Everything about one call as it happens, for the end-of-call report.

The session binding feeds it plain method calls from the framework's events (conversation items,
tool executions, control commands, usage). Every method is an append or a dict update: nothing
here runs on the audio path longer than a few microseconds. Turns, percentiles and offsets are
worked out only when the report asks.

When the call started and how it ended are not kept here: the lifecycle holds the one end
record (``agent.call.lifecycle.ending.CallEnd``: reason, detail, start, end, duration), and the
report is built from both.

What enters here is made sendable on the way in (agent/contracts/encodable.py): vendor text
(transcripts, tool arguments) has any lone surrogate replaced by U+FFFD, and a tool's result,
error or arguments larger than :data:`MAX_TOOL_RESULT_BYTES` / :data:`MAX_TOOL_ERROR_BYTES`
is kept as its JSON text cut at the cap with a ``… [truncated: N bytes, …]`` marker, so no
tool server can grow the report without bound (64 tools x 256 KB answers).

Times are wall-clock epoch seconds (``time.time()``, what livekit stamps on chat items); the
report shows them as offsets from the call start (:func:`seconds_since`). ``record_chat_item`` and
``record_session_usage`` are the only places in the call-record/report area that read livekit
types.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, TypedDict

from livekit.agents import llm
from livekit.agents.metrics import AgentSessionUsage, LLMModelUsage, STTModelUsage, TTSModelUsage

from agent.contracts.encodable import capped_json, capped_text, clean_text
from agent.contracts.turn_plan import EndOfTurnRule, InterruptionOutcome

MAX_TOOL_RESULT_BYTES = 16 * 1024
"""What one tool call's result (or its arguments) may add to the record, as JSON."""
MAX_TOOL_ERROR_BYTES = 4 * 1024
MAX_CONTROL_TEXT_BYTES = 1024

UsageKind = Literal["llm", "tts", "stt"]


class MessageMetrics(TypedDict, total=False):
    """Per-message latency, milliseconds. User messages: ``stt_ms``, ``end_of_turn_ms``,
    ``end_of_turn_rule`` and ``end_of_turn_wait_ms``; assistant messages: ``llm_ttft_ms``,
    ``tts_ttfb_ms``, ``e2e_ms``, ``llm_model``."""

    stt_ms: float
    end_of_turn_ms: float
    end_of_turn_rule: EndOfTurnRule
    end_of_turn_wait_ms: float
    llm_ttft_ms: float
    tts_ttfb_ms: float
    e2e_ms: float
    llm_model: str


@dataclass(slots=True)
class MessageEntry:
    role: Literal["user", "assistant", "system"]
    text: str
    started_at: float | None
    ended_at: float | None
    interrupted: bool
    metrics: MessageMetrics


@dataclass(slots=True)
class ToolCallEntry:
    id: str
    name: str
    arguments: dict[str, Any] | str
    called_at: float
    finished_at: float | None = None
    result: Any = None
    error: str | None = None
    tool_ms: float | None = None

    @property
    def finished(self) -> bool:
        return self.finished_at is not None


@dataclass(slots=True)
class ToolResultEntry:
    call: ToolCallEntry


Entry = MessageEntry | ToolCallEntry | ToolResultEntry


TURN_ENDS_KEPT = 16
"""Endpointing decisions kept between two caller messages."""


@dataclass(slots=True)
class TurnEnd:
    """What ended a caller turn: the endpointing rule and the wait it chose."""

    transcript: str
    """The transcript the decision was made on ("" where the decision reads no words)."""
    rule: EndOfTurnRule
    wait_seconds: float | None
    """None: the wait is the STT's own (``stt`` mode)."""


@dataclass(slots=True)
class InterruptionEntry:
    """Caller speech that began while the agent was speaking, and what it did (no words kept)."""

    started_at: float
    """When the VAD heard the caller start."""
    outcome: InterruptionOutcome
    words: int = 0
    """The most words the STT heard in it (backchannel phrases included; 0: noise)."""
    quiet_at: float | None = None
    """When the agent stopped or paused (None: it kept talking)."""
    resumed_at: float | None = None
    """When a false interruption's pause ended and the agent went on."""


@dataclass(slots=True)
class ControlRecord:
    command: str
    outcome: str
    at: float


REFUSED_CONTROLS_KEPT = 5
"""Refused control packets kept in the record (and listed in the report): the first few say
who tried what. Any participant can publish packets, so the rest are only counted
(``CallRecord.controls_refused``): a flood cannot grow the report."""


@dataclass(slots=True)
class UsageTotals:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    characters: int = 0
    audio_seconds: float = 0.0


@dataclass(slots=True)
class Turn:
    """One caller turn and the reply to it (index 0 may be a greeting with no caller text)."""

    index: int
    user_text: str = ""
    agent_text: str = ""
    user_ended_at: float | None = None
    agent_ended_at: float | None = None
    stt_ms: float | None = None
    end_of_turn_ms: float | None = None
    llm_ttft_ms: float | None = None
    tts_ttfb_ms: float | None = None
    e2e_ms: float | None = None
    tool_ms: float | None = None
    interrupted: bool = False
    llm_model: str | None = None
    has_reply: bool = False
    end_of_turn_rule: EndOfTurnRule | None = None
    end_of_turn_wait_ms: float | None = None

    @property
    def total_ms(self) -> float | None:
        """Caller stopped speaking -> agent finished speaking."""
        if self.user_ended_at is None or self.agent_ended_at is None:
            return None
        return round((self.agent_ended_at - self.user_ended_at) * 1000, 1)


@dataclass
class CallRecord:
    """One call's transcript, tool calls, control commands, usage and numbers."""

    call_id: str
    llm_model: str | None = None
    """Configured model, for turns whose metrics do not name one."""
    now: Callable[[], float] = time.time
    caller_number: str | None = None
    called_number: str | None = None
    transfer_destination: str | None = None
    entries: list[Entry] = field(default_factory=list)
    controls: list[ControlRecord] = field(default_factory=list)
    controls_refused: int = 0
    """Every refused control packet of the call, the ones not kept in ``controls`` included."""
    interruptions: list[InterruptionEntry] = field(default_factory=list)
    turn_end_default: TurnEnd | None = None
    """What ended a caller turn when no decision was noted for it: the mode's own rule
    (``vad``: its fixed wait; ``stt``: the STT's)."""
    _turn_ends: list[TurnEnd] = field(default_factory=list, repr=False)
    _tools: dict[str, ToolCallEntry] = field(default_factory=dict, repr=False)
    _usage: dict[tuple[UsageKind, str, str], UsageTotals] = field(default_factory=dict, repr=False)
    _session_usage: dict[tuple[UsageKind, str, str], UsageTotals] = field(
        default_factory=dict, repr=False
    )

    # --- feeding ------------------------------------------------------------------------------

    def set_numbers(self, *, caller: str | None = None, called: str | None = None) -> None:
        self.caller_number = caller or self.caller_number
        self.called_number = called or self.called_number

    def add_message(
        self,
        role: Literal["user", "assistant", "system"],
        text: str,
        started_at: float | None = None,
        ended_at: float | None = None,
        interrupted: bool = False,
        metrics: MessageMetrics | None = None,
    ) -> None:
        self.entries.append(
            MessageEntry(role, clean_text(text), started_at, ended_at, interrupted, metrics or {})
        )

    def add_tool_call(
        self, id: str, name: str, arguments: dict[str, Any] | str, at: float | None = None
    ) -> None:
        """A tool call the LLM made; ``arguments`` as text are parsed when they are JSON."""
        if id in self._tools:
            return  # the same call seen from two events
        kept = capped_json(_parse_arguments(arguments), MAX_TOOL_RESULT_BYTES)
        entry = ToolCallEntry(clean_text(id), clean_text(name), kept, at or self.now())
        self._tools[id] = entry
        self.entries.append(entry)

    def finish_tool_call(
        self,
        id: str,
        *,
        result: Any = None,
        error: str | None = None,
        tool_ms: float | None = None,
        at: float | None = None,
    ) -> None:
        """The tool's answer (or error). The first report of a call's end wins."""
        entry = self._tools.get(id)
        if entry is None or entry.finished:
            return
        entry.finished_at = at or self.now()
        entry.result = capped_json(result, MAX_TOOL_RESULT_BYTES)
        entry.error = capped_text(error, MAX_TOOL_ERROR_BYTES) if error is not None else None
        if tool_ms is None:
            tool_ms = round((entry.finished_at - entry.called_at) * 1000, 1)
        entry.tool_ms = tool_ms
        self.entries.append(ToolResultEntry(entry))

    def note_turn_end(self, decision: TurnEnd) -> None:
        """An endpointing decision; the caller message it ended takes it when it is recorded
        (the last decision made on that message's transcript, else the last one made on no
        words, else ``turn_end_default``). Only the last few are kept: a turn re-decides at
        each STT final, and only its last decisions can be the one that ended it."""
        self._turn_ends.append(decision)
        del self._turn_ends[:-TURN_ENDS_KEPT]

    def add_interruption(self, entry: InterruptionEntry) -> None:
        self.interruptions.append(entry)

    def add_control(self, command: str, outcome: str, at: float | None = None) -> bool:
        """Keep a control command's outcome; a refused one only among the first
        ``REFUSED_CONTROLS_KEPT`` refused (every one is counted). True if it was kept."""
        if outcome.startswith("refused"):
            self.controls_refused += 1
            if self.controls_refused > REFUSED_CONTROLS_KEPT:
                return False
        command = capped_text(command, MAX_CONTROL_TEXT_BYTES)
        outcome = capped_text(outcome, MAX_CONTROL_TEXT_BYTES)
        self.controls.append(ControlRecord(command, outcome, at or self.now()))
        return True

    def add_usage(
        self,
        kind: UsageKind,
        provider: str,
        model: str,
        *,
        prompt_tokens: int = 0,
        completion_tokens: int = 0,
        characters: int = 0,
        audio_seconds: float = 0.0,
    ) -> None:
        """Add to the totals of one provider and model (e.g. the post-call analysis LLM)."""
        totals = self._usage.setdefault((kind, provider, model), UsageTotals())
        totals.prompt_tokens += prompt_tokens
        totals.completion_tokens += completion_tokens
        totals.characters += characters
        totals.audio_seconds += audio_seconds

    # --- livekit adapters -----------------------------------------------------------------

    def record_chat_item(
        self, item: llm.ChatMessage | llm.FunctionCall | llm.FunctionCallOutput
    ) -> None:
        """Map one livekit chat item (``conversation_item_added``, ``function_tools_executed``)."""
        if isinstance(item, llm.FunctionCall):
            self.add_tool_call(item.call_id, item.name, item.arguments, at=item.created_at)
        elif isinstance(item, llm.FunctionCallOutput):
            if item.is_error:
                self.finish_tool_call(item.call_id, error=item.output, at=item.created_at)
            else:
                self.finish_tool_call(item.call_id, result=item.output, at=item.created_at)
        elif isinstance(item, llm.ChatMessage) and item.role in ("user", "assistant"):
            reported = item.metrics
            metrics = _metrics_from_livekit(reported)
            if item.role == "user":
                self._take_turn_end(item.text_content or "", metrics)
            self.add_message(
                "user" if item.role == "user" else "assistant",
                item.text_content or "",
                started_at=reported.get("started_speaking_at", item.created_at),
                ended_at=reported.get("stopped_speaking_at"),
                interrupted=item.interrupted,
                metrics=metrics,
            )

    def _take_turn_end(self, text: str, metrics: MessageMetrics) -> None:
        decisions, self._turn_ends = self._turn_ends, []
        said = text.strip()
        chosen = next((d for d in reversed(decisions) if d.transcript.strip() == said), None)
        chosen = chosen or next((d for d in reversed(decisions) if not d.transcript), None)
        chosen = chosen or self.turn_end_default
        if chosen is None:
            return
        metrics["end_of_turn_rule"] = chosen.rule
        if chosen.wait_seconds is not None:
            metrics["end_of_turn_wait_ms"] = round(chosen.wait_seconds * 1000, 1)

    def record_session_usage(self, usage: AgentSessionUsage) -> None:
        """Take ``session.usage`` (a running total: each call replaces the previous one)."""
        self._session_usage = {}
        for model_usage in usage.model_usage:
            if isinstance(model_usage, LLMModelUsage):
                key: tuple[UsageKind, str, str] = ("llm", model_usage.provider, model_usage.model)
                self._session_usage[key] = UsageTotals(
                    prompt_tokens=model_usage.input_tokens,
                    completion_tokens=model_usage.output_tokens,
                )
            elif isinstance(model_usage, TTSModelUsage):
                key = ("tts", model_usage.provider, model_usage.model)
                self._session_usage[key] = UsageTotals(
                    characters=model_usage.characters_count,
                    audio_seconds=model_usage.audio_duration,
                )
            elif isinstance(model_usage, STTModelUsage):
                key = ("stt", model_usage.provider, model_usage.model)
                self._session_usage[key] = UsageTotals(audio_seconds=model_usage.audio_duration)

    # --- reading (report time) ----------------------------------------------------------------

    def tool_calls(self) -> list[ToolCallEntry]:
        return list(self._tools.values())

    def messages(self) -> Iterable[MessageEntry]:
        return (e for e in self.entries if isinstance(e, MessageEntry))

    @property
    def user_message_count(self) -> int:
        return sum(1 for m in self.messages() if m.role == "user" and m.text.strip())

    def transcript_text(self) -> str:
        """``User: …`` / ``AI: …`` lines, the plain transcript of the report and the analysis."""
        lines = [
            f"{'User' if m.role == 'user' else 'AI'}: {m.text.strip()}"
            for m in self.messages()
            if m.role in ("user", "assistant") and m.text.strip()
        ]
        return "\n".join(lines)

    def usage(self) -> dict[tuple[UsageKind, str, str], UsageTotals]:
        merged: dict[tuple[UsageKind, str, str], UsageTotals] = {}
        for source in (self._session_usage, self._usage):
            for key, totals in source.items():
                into = merged.setdefault(key, UsageTotals())
                into.prompt_tokens += totals.prompt_tokens
                into.completion_tokens += totals.completion_tokens
                into.characters += totals.characters
                into.audio_seconds += totals.audio_seconds
        return merged

    def turns(self) -> list[Turn]:
        """Caller turns with the reply to each. Consecutive caller messages are one turn; an
        agent message before any caller message (the greeting) is turn 0 with no caller text."""
        turns: list[Turn] = []
        for entry in self.entries:
            if isinstance(entry, ToolResultEntry):
                if turns and entry.call.tool_ms is not None:
                    turns[-1].tool_ms = (turns[-1].tool_ms or 0.0) + entry.call.tool_ms
                continue
            if not isinstance(entry, MessageEntry) or entry.role == "system":
                continue
            if entry.role == "user":
                if not turns or turns[-1].has_reply:
                    turns.append(Turn(index=len(turns), llm_model=self.llm_model))
                _add_user(turns[-1], entry)
            else:
                if not turns:
                    turns.append(Turn(index=0, llm_model=self.llm_model))
                _add_reply(turns[-1], entry)
        return turns


def seconds_since(start: datetime, at: float | None) -> float | None:
    """Epoch seconds ``at`` as seconds from ``start`` (the call's start), to the millisecond."""
    if at is None:
        return None
    return round(at - start.timestamp(), 3)


def _add_user(turn: Turn, entry: MessageEntry) -> None:
    turn.user_text = f"{turn.user_text} {entry.text}".strip()
    turn.user_ended_at = entry.ended_at or turn.user_ended_at
    # The figures of the last caller message are the ones the reply waited on.
    turn.stt_ms = entry.metrics.get("stt_ms", turn.stt_ms)
    turn.end_of_turn_ms = entry.metrics.get("end_of_turn_ms", turn.end_of_turn_ms)
    turn.end_of_turn_rule = entry.metrics.get("end_of_turn_rule", turn.end_of_turn_rule)
    turn.end_of_turn_wait_ms = entry.metrics.get("end_of_turn_wait_ms", turn.end_of_turn_wait_ms)


def _add_reply(turn: Turn, entry: MessageEntry) -> None:
    turn.agent_text = f"{turn.agent_text} {entry.text}".strip()
    turn.agent_ended_at = entry.ended_at or turn.agent_ended_at
    turn.interrupted = turn.interrupted or entry.interrupted
    if not turn.has_reply:
        # Latency is the first reply's: "One moment." is what the caller heard first.
        turn.has_reply = True
        turn.llm_ttft_ms = entry.metrics.get("llm_ttft_ms")
        turn.tts_ttfb_ms = entry.metrics.get("tts_ttfb_ms")
        turn.e2e_ms = entry.metrics.get("e2e_ms")
    turn.llm_model = entry.metrics.get("llm_model", turn.llm_model)


def _parse_arguments(arguments: dict[str, Any] | str) -> dict[str, Any] | str:
    if isinstance(arguments, dict):
        return arguments
    try:
        parsed = json.loads(arguments or "{}")
    except (ValueError, RecursionError):
        return arguments
    return parsed if isinstance(parsed, dict) else arguments


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)


def _metrics_from_livekit(reported: llm.MetricsReport) -> MessageMetrics:
    metrics: MessageMetrics = {}
    pairs: tuple[tuple[str, str], ...] = (
        ("transcription_delay", "stt_ms"),
        ("end_of_turn_delay", "end_of_turn_ms"),
        ("llm_node_ttft", "llm_ttft_ms"),
        ("tts_node_ttfb", "tts_ttfb_ms"),
        ("e2e_latency", "e2e_ms"),
    )
    source: dict[str, Any] = dict(reported)
    for theirs, ours in pairs:
        value = _ms(source.get(theirs))
        if value is not None:
            metrics[ours] = value  # type: ignore[literal-required]
    model = (source.get("llm_metadata") or {}).get("model_name")
    if model:
        metrics["llm_model"] = model
    return metrics


def percentile(values: Iterable[float], p: float) -> float | None:
    """Linear interpolation between closest ranks (numpy's default): p50 of 100, 200, 300, 400
    is 250; p95 is 300 + 0.85 * 100 = 385."""
    ordered = sorted(values)
    if not ordered:
        return None
    rank = (len(ordered) - 1) * p / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return round(ordered[low] + (ordered[high] - ordered[low]) * (rank - low), 1)
