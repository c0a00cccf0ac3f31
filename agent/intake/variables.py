"""Variables in prompts: `{{business_name}}`, `{{customer.number}}`, `{{metadata.KEY}}`, the date.

Backends personalise a saved assistant per call without building a document per call (Vapi,
Retell and Bolna have the same): the system prompt says "You answer for {{business_name}};
the caller's plan is {{metadata.plan}}; today is {{date}}". The variables are filled once, at
call start, when the caller's number is known (an inbound phone call learns it from the room),
in every text the assistant says or is instructed with:

    first_message, system_prompt and the system messages, max_duration_message,
    end_call_message, error_message, the silence prompts and final message, the voicemail
    message, tool messages (request_start / _delayed / _failed), transfer messages.

Few-shot user/assistant/tool turns are examples and stay as written, as does a live `say`
command (the backend's own text). Variables:

- `business_name`, `assistant.name`: from the assistant;
- `customer.number`, `customer.name`: `call.customer`; the number, else the SIP caller's, else
  the outbound destination;
- `call.id`, `call.type`: the call;
- `metadata.KEY`: the assistant's metadata, the key as written first (case kept; it may contain
  dots), else a nested path `metadata.a.b`; non-text values as JSON;
- `now`, `date`, `time`, `weekday`, `timezone`: call start in the assistant's `timezone`
  (`2026-03-29T14:05:00+02:00`, `2026-03-29`, `14:05`, `Sunday`, `Europe/Amsterdam`).

An unknown variable, or one with no value on this call, is left as written and warned about
once by name (the warning reaches the log and the report's `warnings`). Nothing else is ever
read: no environment, no settings (a tenant's prompt cannot reach the worker's secrets). Filled
text is never logged: it may hold the caller's number.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from agent.contracts.assistant import AssistantConfig
from agent.contracts.tool_definitions import FunctionTool, TransferCallTool
from agent.intake.dispatch import CallSpec
from agent.intake.document import CallType

VARIABLE = re.compile(r"\{\{\s*([A-Za-z0-9_.\-]+)\s*\}\}")
"""`{{name}}`, spaces inside the braces allowed."""


def wall_now() -> datetime:
    return datetime.now(UTC)


class _Filler:
    """Fills templates from one call's values, remembering which names it could not fill."""

    def __init__(self, values: Mapping[str, str | None], metadata: Mapping[str, Any]) -> None:
        self._values = values
        self._metadata = metadata
        self.unknown: dict[str, str] = {}
        """name -> why it was left as written, in the order met."""
        self.filled = False

    def __call__(self, text: str | None) -> str | None:
        if not text or "{{" not in text:
            return text
        return VARIABLE.sub(self._one, text)

    def _one(self, match: re.Match[str]) -> str:
        name = match.group(1)
        if name in self._values:
            value = self._values[name]
            why = "has no value on this call"
        elif name.startswith("metadata."):
            value = _metadata_value(self._metadata, name.removeprefix("metadata."))
            why = "is not in the assistant's metadata"
        else:
            value, why = None, "is unknown"
        if value is None:
            self.unknown.setdefault(name, why)
            return match.group(0)
        self.filled = True
        return value


def _metadata_value(metadata: Mapping[str, Any], key: str) -> str | None:
    if key in metadata:
        found: Any = metadata[key]
    else:
        found = metadata
        for part in key.split("."):
            if not isinstance(found, Mapping) or part not in found:
                return None
            found = found[part]
    if found is None:
        return None
    return found if isinstance(found, str) else json.dumps(found, ensure_ascii=False)


def call_values(
    spec: CallSpec, *, caller_number: str | None, now: datetime
) -> dict[str, str | None]:
    """The variables of one call (`metadata.*` aside), None where this call has no value."""
    assistant, call = spec.assistant, spec.call
    customer = call.customer
    number = customer.number if customer and customer.number else None
    if number is None and call.type is CallType.INBOUND_PHONE:
        number = caller_number
    if number is None and call.type is CallType.OUTBOUND_PHONE and call.destination:
        number = call.destination if call.destination.startswith("+") else None
    local = now.astimezone(ZoneInfo(assistant.timezone))
    return {
        "business_name": assistant.business_name,
        "assistant.name": assistant.name,
        "customer.number": number,
        "customer.name": customer.name if customer else None,
        "call.id": spec.call_id,
        "call.type": call.type.value,
        "now": local.isoformat(timespec="seconds"),
        "date": local.date().isoformat(),
        "time": local.strftime("%H:%M"),
        "weekday": local.strftime("%A"),
        "timezone": assistant.timezone,
    }


def fill_variables(
    spec: CallSpec,
    *,
    caller_number: str | None = None,
    now: Callable[[], datetime] = wall_now,
) -> CallSpec:
    """`spec` with every variable of its assistant's texts filled for this call."""
    fill = _Filler(
        call_values(spec, caller_number=caller_number, now=now()), spec.assistant.metadata
    )
    greeting = fill(spec.assistant.first_message)
    greeting_personalised = fill.filled
    assistant = _filled(spec.assistant, fill).model_copy(update={"first_message": greeting})
    warnings = [
        f"variable {{{{{name}}}}} {why}; left as written" for name, why in fill.unknown.items()
    ]
    spec = replace(spec, assistant=assistant, greeting_personalised=greeting_personalised)
    return spec.with_warnings(warnings)


def _filled(assistant: AssistantConfig, fill: _Filler) -> AssistantConfig:
    llm = assistant.llm_config
    messages = [
        m.model_copy(update={"content": fill(m.content)}) if m.role == "system" else m
        for m in llm.messages
    ]
    silence = assistant.autonomous_silence_handling
    voicemail = assistant.voicemail_detection
    return assistant.model_copy(
        update={
            "system_prompt": fill(assistant.system_prompt),
            "llm_config": llm.model_copy(update={"messages": messages}),
            "max_duration_message": fill(assistant.max_duration_message),
            "end_call_message": fill(assistant.end_call_message),
            "error_message": fill(assistant.error_message),
            "autonomous_silence_handling": silence.model_copy(
                update={
                    "prompts": [fill(p) or p for p in silence.prompts],
                    "final_message": fill(silence.final_message),
                }
            ),
            "voicemail_detection": voicemail.model_copy(
                update={"voicemail_message": fill(voicemail.voicemail_message)}
            ),
            "tools": [_filled_tool(tool, fill) for tool in assistant.tools],
        }
    )


def _filled_tool(tool: Any, fill: _Filler) -> Any:
    if isinstance(tool, FunctionTool):
        m = tool.messages
        return tool.model_copy(
            update={
                "messages": m.model_copy(
                    update={
                        "request_start": fill(m.request_start),
                        "request_delayed": fill(m.request_delayed),
                        "request_failed": fill(m.request_failed),
                    }
                )
            }
        )
    if isinstance(tool, TransferCallTool):
        destinations = [
            d.model_copy(update={"message": fill(d.message)}) for d in tool.destinations
        ]
        return tool.model_copy(update={"destinations": destinations})
    return tool
