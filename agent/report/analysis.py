"""Post-call analysis: summary, structured data and success evaluation, by an LLM.

Runs after the call, before the end-of-call report, with the assistant's ``analysis_plan``.
The three parts run side by side, each under its own timeout, and each fails alone: a part
that errors or runs out of time is reported as ``failed``/``timeout`` and the others still go
out, so the report waits at most the longest part timeout (15 s by default), never their sum.

The LLM is any livekit ``llm.LLM`` (the operator's analysis model, or the call's own).
Structured data is checked against the plan's JSON Schema with ``jsonschema`` (Draft 2020-12,
checked against the meta-schema when the document was parsed; see
agent/contracts/json_schema.py); output that does not validate gets one repair request with
the errors listed.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable, Coroutine
from functools import partial
from typing import Any, Literal

import structlog
from livekit.agents import llm

from agent.contracts.analysis_plan import AnalysisPlan, StructuredDataPlan, SuccessEvaluationPlan
from agent.contracts.events import Analysis, AnalysisPart, AnalysisParts
from agent.contracts.json_schema import validation_errors

log = structlog.get_logger(__name__)

AnalysisLLM = llm.LLM[Any]
"""Any livekit LLM (its event type parameter does not matter here)."""
Messages = list[tuple[Literal["system", "user", "assistant"], str]]

SUMMARY_PROMPT = (
    "You are an expert note-taker. Summarise the following phone call between a caller (User) "
    "and an AI assistant (AI) in 2-3 sentences: what the caller wanted and what was agreed."
)
STRUCTURED_PROMPT = (
    "Extract the requested data from the following call transcript. Answer with one JSON "
    "value only, no prose and no code fences, valid against this JSON Schema:\n{schema}"
)
REPAIR_PROMPT = (
    "Your answer did not validate against the schema:\n{errors}\nAnswer again with corrected "
    "JSON only."
)
VERDICT_PROMPT = (
    "Decide whether the AI assistant achieved the caller's goal in the following call. "
    "Answer with exactly one word: true or false."
)
NUMERIC_PROMPT = (
    "Rate how well the AI assistant handled the following call on a scale from 1 to 10 "
    "(1 = failed the caller entirely, 5 = partly helped, 10 = fully resolved the request "
    "efficiently and politely). Answer with the integer only."
)


class AnalysisFailed(Exception):
    """A part's answer was unusable; the message says why (it goes into the report)."""


UsageCallback = Callable[[int, int], None]
"""Called with (prompt_tokens, completion_tokens) after each answered request."""


async def analyse_call(
    plan: AnalysisPlan,
    *,
    transcript: str,
    user_messages: int,
    model: AnalysisLLM,
    on_usage: UsageCallback | None = None,
) -> Analysis:
    """Run the enabled parts of ``plan`` on ``transcript``; never raises for a part.
    ``on_usage`` sees the tokens each request cost (e.g. ``CallRecord.add_usage``)."""
    threshold = plan.min_messages_threshold
    if user_messages < threshold:
        skipped = AnalysisPart(
            status="skipped", error=f"{user_messages} caller message(s), fewer than {threshold}"
        )
        return Analysis(
            parts=AnalysisParts(
                summary=skipped, structured_data=skipped, success_evaluation=skipped
            )
        )
    ask = partial(_ask, model, on_usage)
    summary, structured, success = await asyncio.gather(
        _part(plan.summary_plan.enabled, plan.summary_plan.timeout_seconds,
              _summary(plan.summary_plan.prompt, transcript, ask)),
        _part(plan.structured_data_plan.enabled, plan.structured_data_plan.timeout_seconds,
              _structured_data(plan.structured_data_plan, transcript, ask)),
        _part(plan.success_evaluation_plan.enabled, plan.success_evaluation_plan.timeout_seconds,
              _success(plan.success_evaluation_plan, transcript, ask)),
    )  # fmt: skip
    return Analysis(
        summary=summary[0],
        structured_data=structured[0],
        success_evaluation=success[0],
        parts=AnalysisParts(
            summary=summary[1], structured_data=structured[1], success_evaluation=success[1]
        ),
    )


async def _part(
    enabled: bool, seconds: float, work: Coroutine[Any, Any, Any]
) -> tuple[Any, AnalysisPart]:
    if not enabled:
        work.close()  # never started: close it so it is not reported as never awaited
        return None, AnalysisPart(status="skipped", error="not enabled")
    try:
        return await asyncio.wait_for(work, seconds), AnalysisPart(status="ok")
    except TimeoutError:
        return None, AnalysisPart(status="timeout", error=f"no answer within {seconds:g} s")
    except Exception as exc:
        log.warning("analysis_part_failed", error_type=type(exc).__name__)
        return None, AnalysisPart(status="failed", error=f"{type(exc).__name__}: {exc}"[:500])


Ask = Callable[[Messages], Awaitable[str]]


async def _ask(model: AnalysisLLM, on_usage: UsageCallback | None, messages: Messages) -> str:
    chat_ctx = llm.ChatContext.empty()
    for role, content in messages:
        chat_ctx.add_message(role=role, content=content)
    response = await model.chat(chat_ctx=chat_ctx).collect()
    if on_usage is not None and response.usage is not None:
        on_usage(response.usage.prompt_tokens, response.usage.completion_tokens)
    return response.text.strip()


async def _summary(prompt: str | None, transcript: str, ask: Ask) -> str:
    text = await ask([("system", prompt or SUMMARY_PROMPT), ("user", transcript)])
    if not text:
        raise AnalysisFailed("empty summary")
    return text


async def _structured_data(plan: StructuredDataPlan, transcript: str, ask: Ask) -> Any:
    schema_text = json.dumps(plan.schema_, ensure_ascii=False)
    system = (plan.prompt + "\n\n" if plan.prompt else "") + STRUCTURED_PROMPT.format(
        schema=schema_text
    )
    messages: Messages = [("system", system), ("user", transcript)]
    answer = await ask(messages)
    value, errors = _parse_and_validate(answer, plan.schema_)
    if not errors:
        return value
    # One repair attempt: show the model its answer and what is wrong with it.
    messages += [("assistant", answer), ("user", REPAIR_PROMPT.format(errors="\n".join(errors)))]
    value, errors = _parse_and_validate(await ask(messages), plan.schema_)
    if errors:
        raise AnalysisFailed("invalid after one repair: " + "; ".join(errors[:5]))
    return value


def _parse_and_validate(answer: str, schema: dict[str, Any]) -> tuple[Any, list[str]]:
    fenced = re.search(r"```(?:json)?\s*(.*?)```", answer, re.DOTALL)
    try:
        value = json.loads(fenced.group(1) if fenced else answer)
    except ValueError as exc:
        return None, [f"not JSON: {exc}"]
    return value, validation_errors(value, schema)


async def _success(plan: SuccessEvaluationPlan, transcript: str, ask: Ask) -> bool | int:
    default = VERDICT_PROMPT if plan.rubric == "pass_fail" else NUMERIC_PROMPT
    answer = await ask([("system", plan.prompt or default), ("user", transcript)])
    if plan.rubric == "pass_fail":
        word = re.search(r"\b(true|false|pass|fail|yes|no)\b", answer, re.IGNORECASE)
        if word is None:
            raise AnalysisFailed(f"expected true or false, got {answer[:80]!r}")
        return word.group(1).lower() in ("true", "pass", "yes")
    number = re.search(r"-?\d+", answer)
    if number is None or not 1 <= int(number.group()) <= 10:
        raise AnalysisFailed(f"expected an integer from 1 to 10, got {answer[:80]!r}")
    return int(number.group())
