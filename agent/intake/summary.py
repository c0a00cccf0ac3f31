"""One line that says what a CallSpec will do, for `check` and the call-start log line.

It names vendors, models and limits, never prompts, numbers or secrets.
"""

from __future__ import annotations

from agent.contracts.assistant import AssistantConfig
from agent.contracts.tool_definitions import FunctionTool
from agent.intake.dispatch import CallSpec


def _model(cfg: object) -> str:
    provider = getattr(cfg, "provider", "?")
    model = getattr(cfg, "model", None)
    return f"{provider}/{model}" if model else str(provider)


def describe_assistant(assistant: AssistantConfig) -> str:
    functions = sum(isinstance(t, FunctionTool) for t in assistant.tools)
    parts = [
        f"stt {_model(assistant.stt_config)}",
        f"llm {_model(assistant.llm_config)}",
        f"tts {_model(assistant.tts_config)}",
        f"first message: {assistant.effective_first_message_mode.value}",
        f"{functions} function tool(s)",
        f"max {assistant.max_duration_seconds} s",
    ]
    if assistant.autonomous_silence_handling.enabled:
        silence = assistant.autonomous_silence_handling
        parts.append(f"silence {silence.timeout_seconds:g} s x{silence.max_prompts}")
    if assistant.gdpr_mode:
        parts.append("gdpr")
    return ", ".join(parts)


def describe(spec: CallSpec) -> str:
    name = spec.assistant.name or "unnamed"
    return (
        f"{spec.call.type.value} call {spec.call_id!r}, assistant {name!r}: "
        f"{describe_assistant(spec.assistant)}, webhooks {spec.webhook_format}"
    )
