"""The dispatch document (input contract, version 1) and its parsing into a `CallSpec`.

A platform backend puts one JSON document in the agent dispatch metadata (or, less safely, the
room metadata). This module is the single entry point that turns those bytes into a validated
`CallSpec` or a `ConfigError` listing every problem with its field path. Nothing here raises
anything else, whatever the input (a property-based test holds it to that).

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

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from itertools import pairwise
from typing import Any, Literal

from pydantic import Field, ValidationError

from agent.contracts.assistant import (
    DEFAULT_MAX_DURATION,
    MAX_METADATA_BYTES,
    MAX_METADATA_DEPTH,
    NEEDS_OWN_KEY,
    WEB_CALL_MAX_DURATION,
    AssistantConfig,
    ContractModel,
    FunctionTool,
)
from agent.contracts.turn_plan import EndpointingMode
from agent.contracts.untrusted_json import Duplicates, JsonRefused, bounds_problem, read_json
from agent.contracts.wire import WireFormat, WireFormatSetting, choose_wire_format
from agent.errors import ConfigError, ConfigProblem
from agent.intake.dialects import (
    CALLMISSED_ONLY,
    FLAT_DURATION_MAX,
    FLAT_DURATION_MIN,
    FLAT_PROMPT_MAX,
    HMS_MARKERS,
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
from agent.intake.operator_defaults import OperatorDefaults
from agent.intake.saved import NoSavedAssistants, SavedAssistants
from agent.intake.secret_fields import CONTEXT_KEY
from agent.intake.secrets import ResolvesSecrets, SecretNotFound, SecretResolver, is_reference
from agent.worker.settings import NumberRoute

MAX_DOCUMENT_BYTES = 256 * 1024
"""A dispatch document is a config, not a payload; anything bigger is refused before parsing."""
MAX_DOCUMENT_DEPTH = 64
"""The document's own structure is about 6 deep; metadata and schemas inside it have their own
limit of 32 (agent/contracts/assistant.py), so 64 is reached only by something hostile."""

E164 = r"^\+[1-9]\d{6,14}$"
DEFAULT_JOIN_TIMEOUT_SECONDS = 60.0
"""The seed's "room auto-deleted if nobody joins: 60 seconds"."""
SECRET_KEYS = frozenset({"api_key", "webhook_secret", "secret"})

ConfigOrigin = Literal["dispatch", "room", "file", "assistant-request"]
UnknownFields = Literal["refuse", "warn"]


class CallType(StrEnum):
    WEB = "web_call"
    INBOUND_PHONE = "inbound_phone_call"
    OUTBOUND_PHONE = "outbound_phone_call"


class Customer(ContractModel):
    number: str | None = Field(None, pattern=E164)
    name: str | None = Field(None, max_length=200)


class CallInfo(ContractModel):
    """Facts about the call itself (not about the assistant)."""

    id: str | None = Field(None, min_length=1, max_length=200)
    """The backend's call id; falls back to the room name."""
    type: CallType = CallType.WEB
    customer: Customer | None = None
    destination: str | None = Field(None, pattern=r"^(\+[1-9]\d{6,14}|sips?:\S+)$")
    """Outbound calls: the number (E.164) or SIP URI to dial."""
    sip_trunk_id: str | None = Field(None, min_length=1, max_length=200)
    """Outbound calls: the LiveKit outbound SIP trunk to dial through. Default: the trunk of
    `number_id` in the operator's number table, else the operator's default outbound trunk."""
    number_id: str | None = Field(None, min_length=1, max_length=200)
    """Outbound calls: the platform's number to call from (seed 002 `number_id`), mapped to a
    trunk and caller id by the operator's `VOICE_AGENT_SIP_NUMBER_TRUNKS`."""
    answer_timeout_seconds: float = Field(30.0, ge=5.0, le=120.0)
    """Outbound calls: ring this long before ending with `no_answer`."""
    caller_identity: str | None = Field(None, min_length=1, max_length=256)
    """The caller's LiveKit participant identity (the one in the token the backend issued).
    Given, only that participant is the caller; absent, the first SIP participant (phone calls)
    or the first standard/SIP/connector participant (web calls)."""
    join_timeout_seconds: float | None = Field(None, ge=5.0, le=600.0)
    """How long the agent waits in the room for the caller (their participant and audio)
    before ending with `no_answer` / `caller_did_not_join`. Absent: the worker's default
    (`VOICE_AGENT_JOIN_TIMEOUT_SECONDS`, 60 s), which is also the most a call may ask for."""


class DispatchDocument(ContractModel):
    """The document a backend sends (nested dialect), as validated."""

    version: Literal[1] = 1
    call: CallInfo = Field(default_factory=CallInfo)
    assistant: AssistantConfig | None = None
    """Transient mode: the whole assistant inline."""
    assistant_id: str | None = Field(None, min_length=1, max_length=200)
    """Reference/hybrid mode: a saved assistant, resolved by the worker's config source."""
    assistant_override: dict[str, Any] | None = None
    """Hybrid mode: partial AssistantConfig deep-merged onto the saved one."""


_FLAT_MARKS: dict[str, Any] = {
    # What marks a document as flat: a key only the flat dialect uses, or `system_prompt`
    # without any field only an HMS assistant has (agent/intake/dialects.py).
    "anyOf": [
        *({"required": [key]} for key in sorted(CALLMISSED_ONLY)),
        {
            "required": ["system_prompt"],
            "not": {"anyOf": [{"required": [key]} for key in sorted(HMS_MARKERS)]},
        },
    ],
    "not": {"anyOf": [{"required": ["assistant"]}, {"required": ["assistant_id"]}]},
}


class FlatSessionConfig(ContractModel):
    """The flat (CallMissed-style) session config, accepted as the whole document or as
    `assistant`. Other AssistantConfig fields may be mixed in."""

    model_config = ContractModel.model_config | {"extra": "allow", "json_schema_extra": _FLAT_MARKS}

    system_prompt: str | None = Field(None, max_length=FLAT_PROMPT_MAX)
    voice: str | None = None
    language: str | None = None
    llm_model: str | None = None
    tts_provider: Literal["sarvam", "elevenlabs", "openai"] | None = None
    max_duration_seconds: int | None = Field(None, ge=FLAT_DURATION_MIN, le=FLAT_DURATION_MAX)
    """Default 300."""
    webhook_url: str | None = None
    metadata: dict[str, Any] | None = None
    bot_id: str | None = None


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


def load_json(
    raw: str | bytes | Mapping[str, Any] | None, *, duplicates: Duplicates = "refuse"
) -> dict[str, Any]:
    """Bytes or text to a JSON object, or a ConfigError saying why not.

    Read by the strict reader every outside document goes through (size, depth, duplicate
    keys, lone surrogates: agent/contracts/untrusted_json.py). A mapping handed over already
    parsed (a config-source plugin, a scenario file) is written out as JSON and read back the
    same way, so it gets the same limits and nothing that is not JSON gets through.
    """
    if raw is None or (isinstance(raw, str | bytes) and not raw.strip()):
        raise ConfigError("no dispatch document: the dispatch and room metadata are both empty")
    if isinstance(raw, Mapping):
        try:
            raw = json.dumps(raw, ensure_ascii=False, allow_nan=False)
        except (TypeError, ValueError, RecursionError) as exc:
            raise ConfigError(f"the document is not plain JSON ({type(exc).__name__})") from None
    try:
        data = read_json(
            raw, max_bytes=MAX_DOCUMENT_BYTES, max_depth=MAX_DOCUMENT_DEPTH, duplicates=duplicates
        )
    except JsonRefused as exc:
        raise ConfigError(f"document refused: {exc.reason}", path=exc.path) from None
    if not isinstance(data, dict):
        raise ConfigError(f"the document must be a JSON object, not {type(data).__name__}")
    return data


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
        warnings += [
            f"literal secret at {path} in room metadata, which every participant can read; "
            + (
                "use a secret:NAME reference"
                if _takes_reference(path)
                else "send the document as agent dispatch metadata (only the agent reads it)"
            )
            for path in literal_secret_paths(doc)
        ]
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
                found = _problems(exc, doc, flat=flat)
                said = {p.path for p in problems}
                raise ConfigError(problems + [p for p in found if p.path not in said]) from None
            for err in unknown:
                path = _sent_path(_path(err["loc"], doc), flat=flat)
                _drop(doc, err["loc"])
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
    call, agent_number = _outbound_route(call, options, warnings, transient="assistant" in sent)
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


def _outbound_route(
    call: CallInfo, options: ParseOptions, warnings: list[str], *, transient: bool
) -> tuple[CallInfo, str | None]:
    """The trunk an outbound call dials through, and the caller id it shows.

    An explicit `call.sip_trunk_id` wins; else `number_id` through the operator's number table
    (with no table, `number_id` is taken as the trunk id itself, as before the table existed);
    else the operator's default outbound trunk.
    """
    if call.type is not CallType.OUTBOUND_PHONE:
        return call, None
    if not call.destination:
        raise ConfigError("an outbound_phone_call needs `destination`", path="call.destination")
    route: NumberRoute | None = None
    trunk = call.sip_trunk_id
    if call.number_id is not None and options.number_trunks:
        route = options.number_trunks.get(call.number_id)
        if route is None and trunk is None:
            raise ConfigError(
                "not in the worker's number table (VOICE_AGENT_SIP_NUMBER_TRUNKS)",
                path="number_id",
            )
    if trunk is None:
        trunk = route.trunk_id if route else call.number_id or options.outbound_trunk_id
    if trunk is None:
        raise ConfigError(
            "an outbound_phone_call needs `number_id`, `call.sip_trunk_id` or the worker's "
            "VOICE_AGENT_SIP_OUTBOUND_TRUNK_ID",
            path="call.sip_trunk_id",
        )
    if transient and call.number_id is None and call.sip_trunk_id is None:
        warnings.append(
            "number_id is missing (the platform requires it with a transient assistant); "
            "dialling through the worker's default outbound trunk"
        )
    return call.model_copy(update={"sip_trunk_id": trunk}), route.number if route else None


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


def literal_secret_paths(doc: Any, prefix: str = "") -> list[str]:
    """Paths of secrets given as literals, anywhere in the document: the secret fields
    (``api_key``, ``webhook_secret``, ``secret``) not written as `secret:NAME` references, and
    any value under a key that names a credential (``Authorization``, ``X-API-Key``,
    ``access_token``, ``password``: a tool server's ``headers``, the ``metadata``), or that is
    one (``Bearer ...``)."""
    found: list[str] = []
    if isinstance(doc, Mapping):
        for key, value in doc.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            if isinstance(value, str):
                if value and not is_reference(value) and _names_credential(str(key), value):
                    found.append(path)
            else:
                found += literal_secret_paths(value, path)
    elif isinstance(doc, list):
        for i, item in enumerate(doc):
            found += literal_secret_paths(item, f"{prefix}.{i}")
    return found


_CREDENTIAL_WORDS = frozenset(
    {"secret", "token", "password", "passwd", "authorization", "cookie", "credential",
     "credentials", "apikey", "bearer"}
)  # fmt: skip
_CREDENTIAL_PAIRS = frozenset({("api", "key"), ("private", "key"), ("access", "key")})
_AUTH_SCHEME = re.compile(r"^(?:Bearer|Basic|Token|Digest)\s+\S", re.IGNORECASE)
_WORD = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|[0-9]+")


def _names_credential(key: str, value: str) -> bool:
    if key in SECRET_KEYS or _AUTH_SCHEME.match(value):
        return True
    words = [word.lower() for word in _WORD.findall(key)]
    return any(word in _CREDENTIAL_WORDS for word in words) or any(
        pair in _CREDENTIAL_PAIRS for pair in pairwise(words)
    )


def _takes_reference(path: str) -> bool:
    """Whether the field at ``path`` resolves `secret:NAME`: a secret field of the contract, or a
    tool server's header value (metadata is passed through as written)."""
    parts = path.split(".")
    if "metadata" in parts:
        return False
    return (len(parts) >= 2 and parts[-2] == "headers") or (
        parts[-1] in SECRET_KEYS and "headers" not in parts
    )


# Where a flat-dialect field ends up after normalisation, so errors name what was sent.
_FLAT_PATHS = {
    "assistant.llm_config.model": "llm_model",
    "assistant.llm_config.messages.0.content": "system_prompt",
    "assistant.tts_config.voice": "voice",
    "assistant.tts_config.voice_id": "voice",
    "assistant.tts_config.provider": "tts_provider",
    "assistant.tts_config": "tts_provider",
    "assistant.tts_config.language": "language",
    "assistant.stt_config.language": "language",
}


def _sent_path(path: str, *, flat: bool) -> str:
    """A path of the normalised document as the backend wrote it."""
    return _FLAT_PATHS.get(path, path.removeprefix("assistant.")) if flat else path


def _drop(doc: Any, loc: Sequence[int | str]) -> None:
    """Delete the key at pydantic's `loc` from `doc`, walking it as `_path` does."""
    current: Any = doc
    keys = _walk(loc, doc)
    for item in keys[:-1]:
        if isinstance(current, Mapping):
            current = current.get(item)
        elif isinstance(current, list) and isinstance(item, int) and 0 <= item < len(current):
            current = current[item]
        else:
            return
    if isinstance(current, dict) and keys:
        current.pop(keys[-1], None)


def _problems(exc: ValidationError, doc: Mapping[str, Any], *, flat: bool) -> list[ConfigProblem]:
    problems: list[ConfigProblem] = []
    for err in exc.errors(include_url=False, include_input=False):
        path = _sent_path(_path(err["loc"], doc), flat=flat)
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == NEEDS_OWN_KEY:
            path = f"{path}.api_key"  # raised by the provider config as a whole
        if err["type"] == "extra_forbidden":
            message = "unknown field"
        elif err["type"] == "missing":
            message = "required field is missing"
        elif err["type"] == "union_tag_invalid":
            ctx = err.get("ctx", {})
            message = (
                f"unknown {ctx.get('discriminator', 'kind').strip(chr(39))} "
                f"{ctx.get('tag')!r}; expected one of: {ctx.get('expected_tags')}"
            )
        elif err["type"] == "union_tag_not_found":
            ctx = err.get("ctx", {})
            message = f"missing {ctx.get('discriminator', 'tag')} (which kind of config this is)"
        problems.append(ConfigProblem(path, message))
    return problems


def _path(loc: Sequence[int | str], doc: Any) -> str:
    """A dotted path of the sent document, dropping the union tags pydantic puts in `loc`."""
    return ".".join(str(item) for item in _walk(loc, doc))


def _walk(loc: Sequence[int | str], doc: Any) -> list[int | str]:
    """The keys of `loc` that are keys of `doc` (union tags and validator steps left out)."""
    parts: list[int | str] = []
    current: Any = doc
    for i, item in enumerate(loc):
        if isinstance(current, Mapping) and isinstance(item, str):
            after = loc[i + 1] if i + 1 < len(loc) else None
            if item in (current.get("provider"), current.get("type")) and (
                # a discriminated-union tag, not a key of the document; a `function` tool's
                # tag is also its key, so it is a tag when what follows is a key beside it
                item not in current or (after is not None and after in current)
            ):
                continue
            if item not in current and item.startswith("function-"):
                continue  # pydantic's name for a validator step
        parts.append(item)
        if isinstance(current, Mapping):
            current = current.get(item)
        elif isinstance(current, list) and isinstance(item, int) and 0 <= item < len(current):
            current = current[item]
        else:
            current = None
    return parts


@dataclass(frozen=True)
class ReportTarget:
    """What a failed parse can still tell: where to send the `config_error` report."""

    call_id: str
    call_type: str
    webhook_url: str | None
    webhook_secret: str | None
    """The document's own secret, resolved; None when it gave none or it did not resolve."""
    assistant_name: str | None
    metadata: dict[str, Any]
    signature_requested: bool = False
    """The document gave a `webhook_secret` (resolved or not): its deliveries must be signed."""
    webhook_format: WireFormat = "hms"
    """The format its backend verifies, chosen as for a document that parsed."""
    metadata_sent: bool = False
    """The document had `metadata` (CallMissed sends null when it had none)."""
    bot_id: str | None = None


def salvage_report_target(
    raw: str | bytes | Mapping[str, Any] | None,
    *,
    room_name: str,
    resolver: ResolvesSecrets | None = None,
    webhook_format: WireFormatSetting = "auto",
) -> ReportTarget:
    """Best effort, never raising: read what is needed to report a config error.

    Held to what the parser would accept, so the report built from it serialises: the same
    strict reader (a key given twice is left out, never guessed), a call id and a name within
    their limits, metadata within its bounds (else none)."""
    try:
        sent = load_json(raw, duplicates="drop")
        dialect = dialect_of(sent)
        doc = normalise(sent)
    except (ConfigError, RecursionError, TypeError, ValueError):
        doc, dialect = {}, "hms"
    assistant = doc.get("assistant") or doc.get("assistant_override") or {}
    call = doc.get("call") if isinstance(doc.get("call"), Mapping) else {}
    assert isinstance(call, Mapping)
    if not isinstance(assistant, Mapping):
        assistant = {}

    def text(value: object, limit: int = 2048) -> str | None:
        return value if isinstance(value, str) and value and len(value) <= limit else None

    requested = assistant.get("webhook_secret") is not None
    secret = text(assistant.get("webhook_secret"))
    if secret is not None:
        try:
            secret = (resolver or SecretResolver()).resolve(secret)
        except SecretNotFound:  # refused names included: never a worker setting's value
            secret = None
    call_type = text(call.get("type"))
    metadata = assistant.get("metadata")
    metadata_sent = isinstance(metadata, Mapping)
    if not isinstance(metadata, Mapping) or bounds_problem(
        metadata, max_depth=MAX_METADATA_DEPTH, max_bytes=MAX_METADATA_BYTES
    ):
        metadata = {}
    chosen = assistant.get("webhook_format")
    return ReportTarget(
        call_id=text(call.get("id"), 200) or room_name,
        call_type=call_type if call_type in set(CallType) else CallType.WEB.value,
        webhook_url=text(assistant.get("webhook_url")),
        webhook_secret=secret,
        signature_requested=requested,
        assistant_name=text(assistant.get("name"), 200),
        metadata=dict(metadata),
        webhook_format=choose_wire_format(
            dialect, chosen if chosen in ("hms", "callmissed") else None, operator=webhook_format
        ),
        metadata_sent=metadata_sent,
        bot_id=text(doc.get("assistant_id"), 200),
    )
