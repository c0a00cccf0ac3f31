"""Post-call analysis against a fake LLM (the vendor boundary): parts, timeouts, repair."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from livekit.agents import llm
from livekit.agents.types import (
    DEFAULT_API_CONNECT_OPTIONS,
    NOT_GIVEN,
    APIConnectOptions,
    NotGivenOr,
)

from agent.contracts.analysis_plan import AnalysisPlan
from agent.report.analysis import REPAIR_PROMPT, SUMMARY_PROMPT, analyse_call

HANG = object()
"""A reply that never comes."""

Reply = str | Exception | object
Script = Callable[[str, int], Reply]
"""(system prompt, how many requests with this prompt came before) -> reply."""


class FakeLLM(llm.LLM[Any]):
    """Answers each request from a script keyed on the system prompt."""

    def __init__(self, script: Script) -> None:
        super().__init__()
        self.script = script
        self.requests: list[list[tuple[str, str]]] = []

    def chat(
        self,
        *,
        chat_ctx: llm.ChatContext,
        tools: list[llm.Tool] | None = None,
        conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS,
        parallel_tool_calls: NotGivenOr[bool] = NOT_GIVEN,
        tool_choice: NotGivenOr[llm.ToolChoice] = NOT_GIVEN,
        extra_kwargs: NotGivenOr[dict[str, Any]] = NOT_GIVEN,
    ) -> FakeStream:
        messages: list[tuple[str, str]] = [
            (item.role, item.text_content or "")
            for item in chat_ctx.items
            if isinstance(item, llm.ChatMessage)
        ]
        system = messages[0][1]
        before = sum(1 for r in self.requests if r[0][1] == system)
        self.requests.append(messages)
        reply = self.script(system, before)
        return FakeStream(self, reply, chat_ctx=chat_ctx, conn_options=conn_options)


class FakeStream(llm.LLMStream):
    def __init__(
        self,
        fake: FakeLLM,
        reply: Reply,
        *,
        chat_ctx: llm.ChatContext,
        conn_options: APIConnectOptions,
    ) -> None:
        super().__init__(fake, chat_ctx=chat_ctx, tools=[], conn_options=conn_options)
        self.reply = reply

    async def _run(self) -> None:
        if self.reply is HANG:
            await asyncio.Event().wait()
        if isinstance(self.reply, Exception):
            raise self.reply
        assert isinstance(self.reply, str)
        for word in self.reply.split(" "):
            delta = llm.ChoiceDelta(role="assistant", content=word + " ")
            self._event_ch.send_nowait(llm.ChatChunk(id="fake", delta=delta))
        # a provider's closing usage chunk: 4 characters a token
        prompt = sum(len(item.text_content or "") for item in self.chat_ctx.messages()) // 4
        completion = len(self.reply) // 4
        usage = llm.CompletionUsage(
            prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion
        )
        self._event_ch.send_nowait(llm.ChatChunk(id="fake", usage=usage))


TRANSCRIPT = "AI: Good evening.\nUser: A table for two on Friday, name Jansen.\nAI: Booked."
SCHEMA = {
    "type": "object",
    "properties": {
        "party_size": {"type": "integer", "minimum": 1},
        "day": {"type": "string", "enum": ["friday", "saturday"]},
        "name": {"type": "string"},
    },
    "required": ["party_size", "day"],
}


def plan(**parts: Any) -> AnalysisPlan:
    return AnalysisPlan.model_validate(
        {
            "summary_plan": {"enabled": True},
            "structured_data_plan": {"enabled": True, "schema": SCHEMA},
            "success_evaluation_plan": {"enabled": True, "rubric": "pass_fail"},
        }
        | parts
    )


def by_prompt(summary: Reply, structured: list[Reply], success: Reply) -> Script:
    def script(system: str, before: int) -> Reply:
        if "Summarise" in system or system.startswith("SUMMARY"):
            return summary
        if "JSON" in system:
            return structured[min(before, len(structured) - 1)]
        return success

    return script


async def test_all_parts_ok() -> None:
    model = FakeLLM(
        by_prompt("Jansen booked a table.", ['{"party_size": 2, "day": "friday"}'], "true")
    )
    analysis = await analyse_call(plan(), transcript=TRANSCRIPT, user_messages=1, model=model)

    assert analysis.summary == "Jansen booked a table."
    assert analysis.structured_data == {"party_size": 2, "day": "friday"}
    assert analysis.success_evaluation is True
    assert {p.status for p in (analysis.parts.summary, analysis.parts.structured_data,
                               analysis.parts.success_evaluation)} == {"ok"}  # fmt: skip
    assert all(request[-1] == ("user", TRANSCRIPT) for request in model.requests)


async def test_a_part_that_never_answers_times_out_and_the_rest_still_go_out() -> None:
    model = FakeLLM(by_prompt("Booked.", ['{"party_size": 2, "day": "friday"}'], HANG))
    quick = plan(success_evaluation_plan={"enabled": True, "timeout_seconds": 0.05})
    analysis = await analyse_call(quick, transcript=TRANSCRIPT, user_messages=1, model=model)

    assert analysis.parts.success_evaluation.status == "timeout"
    assert analysis.parts.success_evaluation.error == "no answer within 0.05 s"
    assert analysis.success_evaluation is None
    assert (analysis.parts.summary.status, analysis.summary) == ("ok", "Booked.")
    assert analysis.parts.structured_data.status == "ok"


async def test_a_failing_llm_fails_only_its_part() -> None:
    model = FakeLLM(by_prompt(RuntimeError("upstream 500"), ['{"party_size": 2, "day": "friday"}'],
                              "false"))  # fmt: skip
    analysis = await analyse_call(plan(), transcript=TRANSCRIPT, user_messages=1, model=model)
    assert analysis.parts.summary.status == "failed"
    assert "upstream 500" in (analysis.parts.summary.error or "")
    assert analysis.success_evaluation is False
    assert analysis.parts.structured_data.status == "ok"


async def test_structured_data_gets_one_repair_with_the_errors() -> None:
    first = 'Sure! ```json\n{"party_size": "two", "day": "friday"}\n```'
    model = FakeLLM(by_prompt("s", [first, '{"party_size": 2, "day": "friday"}'], "true"))
    analysis = await analyse_call(plan(), transcript=TRANSCRIPT, user_messages=1, model=model)

    assert analysis.parts.structured_data.status == "ok"
    assert analysis.structured_data == {"party_size": 2, "day": "friday"}
    repair = next(r for r in model.requests if len(r) == 4)
    assert repair[2] == ("assistant", first)
    assert repair[3][0] == "user"
    assert repair[3][1].startswith(REPAIR_PROMPT.split("{errors}")[0])
    assert "$.party_size: 'two' is not of type 'integer'" in repair[3][1]


async def test_structured_data_fails_when_the_repair_does_not_validate() -> None:
    model = FakeLLM(by_prompt("s", ["not json at all", '{"day": "monday"}'], "true"))
    analysis = await analyse_call(plan(), transcript=TRANSCRIPT, user_messages=1, model=model)

    part = analysis.parts.structured_data
    assert part.status == "failed"
    assert "$: 'party_size' is a required property" in (part.error or "")
    assert "monday" in (part.error or "")
    assert analysis.structured_data is None
    assert sum(1 for r in model.requests if "JSON" in r[0][1]) == 2  # one repair, no more


@pytest.mark.parametrize(
    ("answer", "status", "value"),
    [
        ("7", "ok", 7),
        ("Score: 10/10", "ok", 10),
        ("0", "failed", None),
        ("11", "failed", None),
        ("great call", "failed", None),
    ],
)
async def test_numeric_scale_is_an_integer_from_1_to_10(
    answer: str, status: str, value: int | None
) -> None:
    model = FakeLLM(by_prompt("s", ['{"party_size": 2, "day": "friday"}'], answer))
    numeric = plan(success_evaluation_plan={"enabled": True, "rubric": "numeric_scale"})
    analysis = await analyse_call(numeric, transcript=TRANSCRIPT, user_messages=1, model=model)
    assert analysis.parts.success_evaluation.status == status
    assert analysis.success_evaluation == value


async def test_custom_summary_prompt_is_used() -> None:
    model = FakeLLM(by_prompt("custom", ["{}"], "true"))
    custom = plan(summary_plan={"prompt": "SUMMARY in Dutch please"})
    analysis = await analyse_call(custom, transcript=TRANSCRIPT, user_messages=1, model=model)
    assert analysis.summary == "custom"
    assert any(r[0] == ("system", "SUMMARY in Dutch please") for r in model.requests)


async def test_below_the_caller_message_threshold_everything_is_skipped() -> None:
    model = FakeLLM(by_prompt("never", ["{}"], "true"))
    strict = plan(min_messages_threshold=2)
    analysis = await analyse_call(strict, transcript=TRANSCRIPT, user_messages=1, model=model)
    assert analysis.parts.summary.status == "skipped"
    assert analysis.parts.structured_data.status == "skipped"
    assert analysis.parts.success_evaluation.status == "skipped"
    assert analysis.summary is None
    assert model.requests == []


async def test_disabled_parts_are_skipped_and_cost_no_request() -> None:
    model = FakeLLM(by_prompt("Booked.", ["{}"], "true"))
    analysis = await analyse_call(AnalysisPlan(), transcript=TRANSCRIPT, user_messages=1,
                                  model=model)  # fmt: skip
    assert analysis.parts.summary.status == "ok"  # summary is on by default
    assert analysis.parts.structured_data.status == "skipped"
    assert analysis.parts.success_evaluation.status == "skipped"
    assert len(model.requests) == 1


async def test_each_answered_request_reports_its_tokens() -> None:
    model = FakeLLM(by_prompt("Jansen booked.", ['{"party_size": 2, "day": "friday"}'], "true"))
    spent: list[tuple[int, int]] = []
    await analyse_call(
        plan(), transcript=TRANSCRIPT, user_messages=1, model=model,
        on_usage=lambda prompt, completion: spent.append((prompt, completion)),
    )  # fmt: skip
    assert len(spent) == 3
    summary_prompt = (len(SUMMARY_PROMPT) + len(TRANSCRIPT)) // 4
    assert (summary_prompt, len("Jansen booked.") // 4) in spent
