"""The dispatch document (input contract, version 1) and its parsing into a `CallSpec`.

A platform backend puts one JSON document in the agent dispatch metadata (or, less safely, the
room metadata). This module is the single entry point that turns those bytes into a validated
`CallSpec` or a `ConfigError` listing every problem with its field path. Nothing here raises
anything else, whatever the input (a property-based test holds it to that).

Configuration modes, as in the platform documentation:
- transient: `assistant` holds the whole config (`stt_config`, `llm_config`, `tts_config` required);
- reference: `assistant_id` alone, resolved by a `SavedAssistants` store;
- hybrid: `assistant_id` + `assistant_override`, deep-merged onto the saved assistant.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal, Protocol

from pydantic import Field, ValidationError, model_validator

from agent.contracts.assistant import NEEDS_OWN_KEY, AssistantConfig, ContractModel
from agent.errors import ConfigError, ConfigProblem
from agent.intake.dialects import FLAT_KEYS, deep_merge, is_flat, normalise
from agent.intake.secret_fields import CONTEXT_KEY
from agent.intake.secrets import ResolvesSecrets, SecretNotFound, SecretResolver, is_reference

MAX_DOCUMENT_BYTES = 256 * 1024
"""A dispatch document is a config, not a payload; anything bigger is refused before parsing."""

E164 = r"^\+[1-9]\d{6,14}$"
SECRET_KEYS = frozenset({"api_key", "webhook_secret", "secret"})

ConfigOrigin = Literal["dispatch", "room", "file", "assistant-request"]


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
    """Outbound calls: the LiveKit outbound SIP trunk to dial through."""
    answer_timeout_seconds: float = Field(30.0, ge=5.0, le=120.0)
    """Outbound calls: ring this long before ending with `no_answer`."""

    @model_validator(mode="after")
    def _outbound_needs_destination(self) -> CallInfo:
        if self.type is CallType.OUTBOUND_PHONE and (not self.destination or not self.sip_trunk_id):
            raise ValueError("an outbound_phone_call needs `destination` and `sip_trunk_id`")
        return self


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


class FlatSessionConfig(ContractModel):
    """The flat (CallMissed-style) session config, accepted as the whole document or as
    `assistant`. Other AssistantConfig fields may be mixed in."""

    model_config = ContractModel.model_config | {
        "extra": "allow",
        # What marks a document as flat: at least one key only the flat dialect uses.
        "json_schema_extra": {
            "anyOf": [{"required": [key]} for key in sorted(FLAT_KEYS)],
            "not": {"anyOf": [{"required": ["assistant"]}, {"required": ["assistant_id"]}]},
        },
    }

    system_prompt: str | None = Field(None, max_length=4096)
    voice: str | None = None
    language: str | None = None
    llm_model: str | None = None
    tts_provider: Literal["sarvam", "elevenlabs", "openai"] | None = None
    max_duration_seconds: int | None = Field(None, ge=10, le=43200)
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

    @property
    def call_id(self) -> str:
        return self.call.id or self.room_name


class SavedAssistants(Protocol):
    """Where reference and hybrid mode find `assistant_id`s."""

    async def get(self, assistant_id: str) -> Mapping[str, Any] | None: ...


class NoSavedAssistants:
    """The default: this worker knows no saved assistants."""

    async def get(self, assistant_id: str) -> Mapping[str, Any] | None:
        return None


_ASSISTANT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,199}$")


@dataclass
class DirectoryAssistants:
    """Saved assistants as `<assistant_id>.json` files (a mounted ConfigMap, for example)."""

    directory: Path

    async def get(self, assistant_id: str) -> Mapping[str, Any] | None:
        if not _ASSISTANT_ID.match(assistant_id) or ".." in assistant_id:
            return None
        path = self.directory / f"{assistant_id}.json"
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise ConfigError(
                f"saved assistant {assistant_id!r} is unreadable: {exc}", path="assistant_id"
            ) from None
        if not isinstance(data, dict):
            raise ConfigError(
                f"saved assistant {assistant_id!r} is not an object", path="assistant_id"
            )
        return data


@dataclass
class ParseOptions:
    resolver: ResolvesSecrets = field(default_factory=SecretResolver)
    saved: SavedAssistants = field(default_factory=NoSavedAssistants)
    max_call_seconds: int | None = None
    """Operator cap: a longer `max_duration_seconds` is clamped to it (with a warning)."""


def load_json(raw: str | bytes | Mapping[str, Any] | None) -> dict[str, Any]:
    """Bytes or text to a JSON object, or a ConfigError saying why not."""
    if raw is None or (isinstance(raw, str | bytes) and not raw.strip()):
        raise ConfigError("no dispatch document: the dispatch and room metadata are both empty")
    if isinstance(raw, Mapping):
        return dict(raw)
    if len(raw) > MAX_DOCUMENT_BYTES:
        raise ConfigError(f"document is {len(raw)} bytes; the limit is {MAX_DOCUMENT_BYTES}")
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise ConfigError(f"not valid JSON: {exc}") from None
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
    flat = is_flat(sent) or (
        isinstance(sent.get("assistant"), Mapping) and is_flat(sent["assistant"])
    )
    doc = normalise(sent)
    _check_mode(doc)
    warnings: list[str] = []
    if origin == "room":
        warnings += [
            f"literal secret at {path} in room metadata, which every participant can read; "
            "use a secret:NAME reference"
            for path in literal_secret_paths(doc)
        ]
    if doc.get("assistant_id") is not None:
        doc = await _resolve_saved(doc, options.saved)
    context = {CONTEXT_KEY: options.resolver}
    try:
        parsed = DispatchDocument.model_validate(doc, context=context)
    except ValidationError as exc:
        raise ConfigError(_problems(exc, doc, flat=flat)) from None
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
    call = parsed.call if parsed.call.id else parsed.call.model_copy(update={"id": room_name})
    return CallSpec(
        call=call, assistant=assistant, room_name=room_name, origin=origin, warnings=tuple(warnings)
    )


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


async def _resolve_saved(doc: dict[str, Any], saved: SavedAssistants) -> dict[str, Any]:
    assistant_id = doc["assistant_id"]
    if not isinstance(assistant_id, str):
        raise ConfigError("must be a string", path="assistant_id")
    base = await saved.get(assistant_id)
    if base is None:
        raise ConfigError(
            f"no saved assistant {assistant_id!r}: this worker's config source knows no saved "
            "assistant by that id; send the full `assistant` (transient mode) or configure "
            "VOICE_AGENT_ASSISTANTS_DIR",
            path="assistant_id",
        )
    override = doc.get("assistant_override") or {}
    if not isinstance(override, Mapping):
        raise ConfigError("must be an object", path="assistant_override")
    merged = deep_merge(normalise({"assistant": base})["assistant"], override)
    return {k: v for k, v in doc.items() if k not in {"assistant_id", "assistant_override"}} | {
        "assistant": merged
    }


def literal_secret_paths(doc: Any, prefix: str = "") -> list[str]:
    """Paths of secrets given as literals instead of `secret:NAME` references."""
    found: list[str] = []
    if isinstance(doc, Mapping):
        for key, value in doc.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            if key in SECRET_KEYS and isinstance(value, str) and value and not is_reference(value):
                found.append(path)
            elif key != "metadata":
                found += literal_secret_paths(value, path)
    elif isinstance(doc, list):
        for i, item in enumerate(doc):
            found += literal_secret_paths(item, f"{prefix}.{i}")
    return found


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


def _problems(exc: ValidationError, doc: Mapping[str, Any], *, flat: bool) -> list[ConfigProblem]:
    problems: list[ConfigProblem] = []
    for err in exc.errors(include_url=False, include_input=False):
        path = _path(err["loc"], doc)
        if flat:
            path = _FLAT_PATHS.get(path, path.removeprefix("assistant."))
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
    parts: list[str] = []
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
        parts.append(str(item))
        if isinstance(current, Mapping):
            current = current.get(item)
        elif isinstance(current, list) and isinstance(item, int) and 0 <= item < len(current):
            current = current[item]
        else:
            current = None
    return ".".join(parts)


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


def salvage_report_target(
    raw: str | bytes | Mapping[str, Any] | None,
    *,
    room_name: str,
    resolver: ResolvesSecrets | None = None,
) -> ReportTarget:
    """Best effort, never raising: read what is needed to report a config error."""
    try:
        sent = load_json(raw)
        doc = normalise(sent)
    except (ConfigError, RecursionError, TypeError, ValueError):
        doc = {}
    assistant = doc.get("assistant") or doc.get("assistant_override") or {}
    call = doc.get("call") if isinstance(doc.get("call"), Mapping) else {}
    assert isinstance(call, Mapping)
    if not isinstance(assistant, Mapping):
        assistant = {}

    def text(value: object) -> str | None:
        return value if isinstance(value, str) and value else None

    requested = assistant.get("webhook_secret") is not None
    secret = text(assistant.get("webhook_secret"))
    if secret is not None:
        try:
            secret = (resolver or SecretResolver()).resolve(secret)
        except SecretNotFound:  # refused names included: never a worker setting's value
            secret = None
    call_type = text(call.get("type"))
    metadata = assistant.get("metadata")
    return ReportTarget(
        call_id=text(call.get("id")) or room_name,
        call_type=call_type if call_type in set(CallType) else CallType.WEB.value,
        webhook_url=text(assistant.get("webhook_url")),
        webhook_secret=secret,
        signature_requested=requested,
        assistant_name=text(assistant.get("name")),
        metadata=dict(metadata) if isinstance(metadata, Mapping) else {},
    )
