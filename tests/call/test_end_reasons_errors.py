"""error: providers that fail for good or never answer (config/scenarios/end-llm-*, end-tts-*).

The offline vendors raise the framework's own API errors, so the framework's retries run (with
the scenario's small retry settings) before the call gives up.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.contracts.assistant import AssistantConfig
from tests.support.end_reasons import (
    Receiver,
    agent_lines,
    exact_duration,
    scenario_file,
    simulate,
)

DEFAULT_ERROR_MESSAGE = AssistantConfig.model_fields["error_message"].default

pytestmark = pytest.mark.simulated_call


async def test_llm_down_apologises_and_ends_in_error(receiver: Receiver, tmp_path: Path) -> None:
    result = await simulate(scenario_file("end-llm-fail", receiver), tmp_path)

    report = receiver.only_report()
    assert result.end_reason == report["end_reason"] == "error"
    assert report["end_detail"].startswith("llm: APIStatusError")
    assert "503" in report["end_detail"]
    assert agent_lines(report)[-1] == DEFAULT_ERROR_MESSAGE


async def test_tts_down_ends_in_error_without_goodbye(receiver: Receiver, tmp_path: Path) -> None:
    result = await simulate(scenario_file("end-tts-fail", receiver), tmp_path)

    report = receiver.only_report()
    assert result.end_reason == report["end_reason"] == "error"
    assert report["end_detail"].startswith("tts: ")
    assert DEFAULT_ERROR_MESSAGE not in report["transcript"]


async def test_stalled_llm_times_out_into_error(receiver: Receiver, tmp_path: Path) -> None:
    result = await simulate(scenario_file("end-llm-stall", receiver), tmp_path)

    report = receiver.only_report()
    assert result.end_reason == report["end_reason"] == "error"
    assert report["end_detail"].startswith("llm: APITimeoutError")
    assert agent_lines(report)[-1] == DEFAULT_ERROR_MESSAGE


async def test_llm_stuck_past_the_limit_ends_at_max_duration(
    receiver: Receiver, tmp_path: Path
) -> None:
    result = await simulate(scenario_file("end-llm-stall-forever", receiver), tmp_path)

    report = receiver.only_report()
    assert result.end_reason == report["end_reason"] == "max_duration"
    print(f"stuck LLM: limit 10 s, ended at {exact_duration(report):.3f} s")
