"""The assistant's analysis plan: what is worked out from the conversation once a call ends.

A summary, structured data validated against the backend's JSON Schema, and a success
evaluation, each with its own prompt and timeout (`analysis_plan` in the dispatch document).
agent/report/analysis.py runs the plan; this module is what a backend may ask for.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from agent.contracts.base import ContractModel
from agent.contracts.field_bounds import usable_schema


class SummaryPlan(ContractModel):
    enabled: bool = True
    prompt: str | None = None
    timeout_seconds: float = Field(15.0, gt=0, le=120)


class StructuredDataPlan(ContractModel):
    enabled: bool = False
    schema_: dict[str, Any] = Field(default_factory=dict, alias="schema")
    """JSON Schema the extracted data must validate against (checked against the meta-schema
    when the document is parsed; at most 32 levels deep and 32 KB)."""
    prompt: str | None = None
    timeout_seconds: float = Field(15.0, gt=0, le=120)

    @field_validator("schema_")
    @classmethod
    def _schema_is_usable(cls, schema: dict[str, Any]) -> dict[str, Any]:
        return usable_schema(schema) if schema else schema

    @model_validator(mode="after")
    def _schema_when_enabled(self) -> StructuredDataPlan:
        if self.enabled and not self.schema_:
            raise ValueError("structured_data_plan.enabled needs a non-empty `schema`")
        return self


class SuccessEvaluationPlan(ContractModel):
    enabled: bool = False
    rubric: Literal["pass_fail", "numeric_scale"] = "pass_fail"
    """`pass_fail`: true/false. `numeric_scale`: a score from 1 to 10."""
    prompt: str | None = None
    timeout_seconds: float = Field(15.0, gt=0, le=120)


class AnalysisPlan(ContractModel):
    summary_plan: SummaryPlan = Field(default_factory=SummaryPlan)
    structured_data_plan: StructuredDataPlan = Field(default_factory=StructuredDataPlan)
    success_evaluation_plan: SuccessEvaluationPlan = Field(default_factory=SuccessEvaluationPlan)
    min_messages_threshold: int = Field(1, ge=0, le=100)
    """Analysis is skipped when the caller said fewer messages than this."""
