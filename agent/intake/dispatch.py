"""Parsing a dispatch document into a `CallSpec`: the one entry point, its options, its result.

A platform backend puts one JSON document in the agent dispatch metadata (or, less safely, the
room metadata). `parse_dispatch` is the single entry point that turns those bytes into a
validated `CallSpec` or a `ConfigError` listing every problem with its field path. Nothing here
raises anything else, whatever the input (a property-based test holds it to that). The document's
models are in agent/intake/document.py; reading the bytes, the literal-secret walk, the error
paths and the outbound route each have a module of their own, called from here in this order.

Configuration modes, as in the platform documentation:
- transient: `assistant` holds the whole config (`stt_config`, `llm_config`, `tts_config` required);
- reference: `assistant_id` alone, resolved by a `SavedAssistants` store (agent/intake/saved.py);
- hybrid: `assistant_id` + `assistant_override`, deep-merged onto the saved assistant.
A saved HMS assistant that names no vendor gets the operator's (agent/intake/operator_defaults.py).

Unknown fields: during a rolling upgrade the backend can be a version ahead of the worker pool,
and a call must not die because a field is new. So the live path (`unknown_fields="warn"`,
the operator's default) drops unknown fields, warns and lists them in the report's `warnings`,
while `check` (`"refuse"`, the API default) stays strict so the backend's CI catches a typo
before it ships. Invalid values of known fields are always a `config_error`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from pydantic import ValidationError

from agent.contracts.assistant import DEFAULT_MAX_DURATION, WEB_CALL_MAX_DURATION, AssistantConfig
from agent.contracts.tool_definitions import FunctionTool
from agent.contracts.turn_plan import EndpointingMode
from agent.contracts.wire import WireFormat, WireFormatSetting, choose_wire_format
from agent.errors import ConfigError, ConfigProblem
from agent.intake.dialects import (
    Dialect,
    deep_merge,
    dialect_of,
    flat_limit_problems,
    is_assistant_body,
    is_flat,
    mixed_dialect_fields,
    normalise,
    saved_base,
)
from agent.intake.document import (
    DEFAULT_JOIN_TIMEOUT_SECONDS,
    CallInfo,
    CallType,
    DispatchDocument,
)
from agent.intake.literal_secrets import room_metadata_warnings
from agent.intake.operator_defaults import OperatorDefaults
from agent.intake.outbound_route import outbound_route
from agent.intake.reading import load_json
from agent.intake.saved import NoSavedAssistants, SavedAssistants
from agent.intake.secret_fields import CONTEXT_KEY
from agent.intake.secrets import ResolvesSecrets, SecretResolver
from agent.intake.validation_problems import drop_at, loc_path, sent_path, validation_problems
from agent.worker.settings import NumberRoute

ConfigOrigin = Literal["dispatch", "room", "file", "assistant-request"]
UnknownFields = Literal["refuse", "warn"]


@dataclass(frozen=True)
class CallSpec:
    """Everything the worker needs to run one call: the call facts plus the assistant."""

    call: CallInfo
    assistant: AssistantConfig
    room_name: str
    origin: ConfigOrigin
    warnings: tuple[str, ...] = ()
    """Said once in the log and listed in the report's `warnings`: fields dropped, options a
    vendor lacks, variables left as written, limits clamped."""
    dialect: Dialect = "hms"
    """The dialect the document was written in (the CallMissed flat one, or HMS's nested one)."""
    webhook_format: WireFormat = "hms"
    """The format its webhooks are sent in: the operator's choice, else the document's
    `webhook_format`, else its dialect's."""
    assistant_id: str | None = None
    """The saved assistant (reference/hybrid mode, CallMissed `bot_id`) the call was built from."""
    agent_number: str | None = None
    """Our side's number when the document or the operator's number table tells it (outbound
    caller id); an inbound call learns it from the room."""
    greeting_personalised: bool = False
    """`first_message` had variables filled in: a per-caller greeting, never cached."""

    @property
    def call_id(self) -> str:
        return self.call.id or self.room_name

    def with_warnings(self, more: Sequence[str]) -> CallSpec:
        """This spec with `more` warnings (each said once)."""
        added = tuple(w for w in dict.fromkeys(more) if w not in self.warnings)
        return replace(self, warnings=self.warnings + added) if added else self

    @property
    def join_timeout_seconds(self) -> float:
        """The call's join timeout (parse_dispatch resolves it against the worker's)."""
        return self.call.join_timeout_seconds or DEFAULT_JOIN_TIMEOUT_SECONDS


@dataclass
class ParseOptions:
    resolver: ResolvesSecrets = field(default_factory=SecretResolver)
    saved: SavedAssistants = field(default_factory=NoSavedAssistants)
    max_call_seconds: int | None = None
    """Operator cap: a longer `max_duration_seconds` is clamped to it (with a warning)."""
    unknown_fields: UnknownFields = "refuse"
    """`warn`: drop unknown fields with a warning (the live path's default, see the module
    docstring); `refuse`: a `config_error` (`check`)."""
    defaults: OperatorDefaults = field(default_factory=OperatorDefaults)
    """Vendors for saved HMS assistants that name none."""
    outbound_trunk_id: str | None = None
    """The operator's default outbound SIP trunk (`VOICE_AGENT_SIP_OUTBOUND_TRUNK_ID`)."""
    number_trunks: Mapping[str, NumberRoute] = field(default_factory=dict)
    """`number_id` -> trunk (and caller id), the operator's `VOICE_AGENT_SIP_NUMBER_TRUNKS`."""
    webhook_format: WireFormatSetting = "auto"
    """The operator's `VOICE_AGENT_WEBHOOK_FORMAT`: `auto` lets each document decide."""
    join_timeout_seconds: float = DEFAULT_JOIN_TIMEOUT_SECONDS
    """Operator default join timeout, and the most `call.join_timeout_seconds` may ask for
    (a longer one is clamped to it, with a warning)."""


async def parse_dispatch(
    raw: str | bytes | Mapping[str, Any] | None,
    *,
    room_name: str,
    origin: ConfigOrigin = "dispatch",
    options: ParseOptions | None = None,
) -> CallSpec:
    """Validate a dispatch document (either dialect, any mode) into a CallSpec."""
    options = options or ParseOptions()
    try:
        return await _parse(raw, room_name=room_name, origin=origin, options=options)
    except ConfigError:
        raise
    except RecursionError:
        raise ConfigError("document is nested too deeply") from None


async def _parse(
    raw: str | bytes | Mapping[str, Any] | None,
    *,
    room_name: str,
    origin: ConfigOrigin,
    options: ParseOptions,
) -> CallSpec:
    sent = load_json(raw)
    sent_assistant = sent.get("assistant")
    flat_object: Mapping[str, Any] | None = None
    if is_flat(sent) and not any(k in sent for k in ("assistant", "assistant_id")):
        flat_object = sent
    elif isinstance(sent_assistant, Mapping) and is_flat(sent_assistant):
        flat_object = sent_assistant
    flat = flat_object is not None
    prefix = "" if flat_object is sent else "assistant."
    problems: list[ConfigProblem] = []
    if flat_object is not None:
        problems += [ConfigProblem(f"{prefix}{p}", m) for p, m in flat_limit_problems(flat_object)]
        problems += [
            ConfigProblem(f"{prefix}{key}", f"CallMissed field mixed with `{nested}`; use one "
                          "dialect (the flat fields, or stt_config/llm_config/tts_config)")
            for key, nested in mixed_dialect_fields(flat_object)
        ]  # fmt: skip
    if is_assistant_body(sent):
        raise ConfigError(
            "this is an assistant body, not a dispatch document: send it as `assistant` "
            "(transient mode) or save it and send its `assistant_id`",
            path="assistant",
        )
    dialect = dialect_of(sent)
    doc = normalise(sent)
    _check_mode(doc)
    assistant_id = doc.get("assistant_id")
    warnings: list[str] = []
    if origin == "room":
        warnings += room_metadata_warnings(doc)
    if doc.get("assistant_id") is not None:
        doc = await _resolve_saved(doc, options.saved, options.defaults)
    else:
        problems += _transient_problems(doc)
    _default_max_duration(doc, flat=flat)
    context = {CONTEXT_KEY: options.resolver}
    parsed: DispatchDocument | None = None
    for _ in range(_MAX_DROP_ROUNDS):
        try:
            parsed = DispatchDocument.model_validate(doc, context=context)
            break
        except ValidationError as exc:
            errors = exc.errors(include_url=False, include_input=False)
            unknown = [e for e in errors if e["type"] == "extra_forbidden"]
            if options.unknown_fields == "refuse" or not unknown:
                found = validation_problems(exc, doc, flat=flat)
                said = {p.path for p in problems}
                raise ConfigError(problems + [p for p in found if p.path not in said]) from None
            for err in unknown:
                path = sent_path(loc_path(err["loc"], doc), flat=flat)
                drop_at(doc, err["loc"])
                warnings.append(f"unknown field {path} ignored")
    if parsed is None:
        raise ConfigError(problems or "document could not be validated")
    if problems:
        raise ConfigError(problems)
    assistant = parsed.assistant
    if assistant is None:  # _check_mode guarantees one; keep the type checker honest
        raise ConfigError("no assistant", path="assistant")
    cap = options.max_call_seconds
    if cap is not None and assistant.max_duration_seconds > cap:
        warnings.append(
            f"max_duration_seconds {assistant.max_duration_seconds} exceeds the worker's cap "
            f"of {cap} s; the call is limited to {cap} s"
        )
        assistant = assistant.model_copy(update={"max_duration_seconds": cap})
    if (
        assistant.turn_config.endpointing_mode is EndpointingMode.TRANSCRIPT
        and not assistant.stt_config.punctuates
    ):
        warnings.append(
            f"turn_config.endpointing_mode `transcript` with a {assistant.stt_config.provider} "
            "STT not known to punctuate: a transcript without punctuation waits "
            "mid_phrase_seconds on every turn (leave endpointing_mode unset for `vad`)"
        )
    call = parsed.call if parsed.call.id else parsed.call.model_copy(update={"id": room_name})
    call, agent_number = outbound_route(
        call,
        number_trunks=options.number_trunks,
        default_trunk_id=options.outbound_trunk_id,
        warnings=warnings,
        transient="assistant" in sent,
    )
    warnings += _few_shot_warnings(assistant)
    join_cap = options.join_timeout_seconds
    asked = call.join_timeout_seconds
    if asked is not None and asked > join_cap:
        warnings.append(
            f"call.join_timeout_seconds {asked:g} exceeds the worker's join timeout of "
            f"{join_cap:g} s; the caller is waited for {join_cap:g} s"
        )
    call = call.model_copy(update={"join_timeout_seconds": min(asked or join_cap, join_cap)})
    return CallSpec(
        call=call,
        assistant=assistant,
        room_name=room_name,
        origin=origin,
        warnings=tuple(dict.fromkeys(warnings)),
        dialect=dialect,
        webhook_format=choose_wire_format(
            dialect, assistant.webhook_format, operator=options.webhook_format
        ),
        assistant_id=assistant_id if isinstance(assistant_id, str) else None,
        agent_number=agent_number,
    )


_MAX_DROP_ROUNDS = 6
"""Validation rounds in the lenient path: each drops the unknown fields pydantic found; an
unknown field inside another one's replacement needs a second round, nesting bounds the rest."""


def _transient_problems(doc: Mapping[str, Any]) -> list[ConfigProblem]:
    """Transient HMS mode needs all three configs (seed 000: "Transient assistant must
    provide: stt_config, llm_config, tts_config"); saved assistants get the operator's."""
    assistant = doc.get("assistant")
    if not isinstance(assistant, Mapping):
        return []  # the model says what is wrong with it
    return [
        ConfigProblem(f"assistant.{key}", "required field is missing: a transient assistant "
                      "must provide stt_config, llm_config and tts_config")
        for key in ("stt_config", "llm_config", "tts_config")
        if key not in assistant
    ]  # fmt: skip


def _default_max_duration(doc: dict[str, Any], *, flat: bool) -> None:
    """CallMissed sessions and web calls default to 300 s (the documented defaults), phone
    calls to 600 s."""
    assistant = doc.get("assistant")
    if not isinstance(assistant, dict) or "max_duration_seconds" in assistant:
        return
    call = doc.get("call")
    call_type = call.get("type") if isinstance(call, Mapping) else None
    web = call_type in (None, CallType.WEB.value)
    short = flat or web
    assistant["max_duration_seconds"] = WEB_CALL_MAX_DURATION if short else DEFAULT_MAX_DURATION


def _few_shot_warnings(assistant: AssistantConfig) -> list[str]:
    """Few-shot tool calls to a tool the assistant does not have: the framework leaves those
    out of what the model sees, and some servers refuse them."""
    known = {t.function.name for t in assistant.tools if isinstance(t, FunctionTool)}
    known |= {"end_call", "transfer_call", "send_dtmf"}
    return [
        f"llm_config.messages.{i}: few-shot tool call {call.function.name!r} is not one of the "
        "assistant's tools; the model may not see that exchange"
        for i, message in enumerate(assistant.llm_config.messages)
        for call in message.tool_calls or ()
        if call.function.name not in known
    ]


def _check_mode(doc: Mapping[str, Any]) -> None:
    has_assistant = doc.get("assistant") is not None
    has_id = doc.get("assistant_id") is not None
    has_override = doc.get("assistant_override") is not None
    if has_assistant and has_override:
        raise ConfigError(
            "cannot provide both `assistant` and `assistant_override`: send the whole assistant "
            "(transient) or assistant_id + assistant_override (hybrid)",
            path="assistant_override",
        )
    if has_override and not has_id:
        raise ConfigError("assistant_override requires assistant_id", path="assistant_override")
    if has_assistant and has_id:
        raise ConfigError("cannot provide both `assistant` and `assistant_id`", path="assistant_id")
    if not has_assistant and not has_id:
        raise ConfigError(
            "must provide `assistant` (transient mode) or `assistant_id` (reference/hybrid mode)",
            path="assistant",
        )


async def _resolve_saved(
    doc: dict[str, Any], saved: SavedAssistants, defaults: OperatorDefaults
) -> dict[str, Any]:
    assistant_id = doc["assistant_id"]
    if not isinstance(assistant_id, str):
        raise ConfigError("must be a string", path="assistant_id")
    base = await saved.get(assistant_id)
    if base is None:
        raise ConfigError(
            f"no saved assistant {assistant_id!r}: this worker's saved-assistant store knows "
            "none by that id; send the full `assistant` (transient mode), or configure "
            "VOICE_AGENT_ASSISTANTS_DIR or VOICE_AGENT_ASSISTANTS_URL",
            path="assistant_id",
        )
    override = doc.get("assistant_override") or {}
    if not isinstance(override, Mapping):
        raise ConfigError("must be an object", path="assistant_override")
    flat_base = is_flat(base)
    mixed = mixed_dialect_fields(base) if flat_base else []
    if mixed:
        raise ConfigError(
            f"saved assistant {assistant_id!r} mixes the CallMissed field `{mixed[0][0]}` with "
            f"`{mixed[0][1]}`; use one dialect",
            path="assistant_id",
        )
    merged = deep_merge(saved_base(base, override), override)
    if not flat_base:
        # HMS saved assistants get the operator's vendors where they name none (a CallMissed
        # one already has CallMissed's documented defaults).
        merged = defaults.apply(merged)
    return {k: v for k, v in doc.items() if k not in {"assistant_id", "assistant_override"}} | {
        "assistant": merged
    }
