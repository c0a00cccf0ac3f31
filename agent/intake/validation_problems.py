"""pydantic's validation errors as `ConfigProblem`s at the path the backend wrote.

pydantic locates an error in the normalised document, with the tags of discriminated unions and
the names of validator steps in its `loc`; a backend needs the field as it sent it (a flat
document's `voice`, not `assistant.tts_config.voice`) and a message in the contract's words.
This translation, and the dropping of unknown fields at such a path (the lenient path of
agent/intake/dispatch.py), is one job, kept apart from the parse steps that use it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from agent.contracts.provider_configs import NEEDS_OWN_KEY
from agent.errors import ConfigProblem

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


def sent_path(path: str, *, flat: bool) -> str:
    """A path of the normalised document as the backend wrote it."""
    return _FLAT_PATHS.get(path, path.removeprefix("assistant.")) if flat else path


def drop_at(doc: Any, loc: Sequence[int | str]) -> None:
    """Delete the key at pydantic's `loc` from `doc`, walking it as `loc_path` does."""
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


def validation_problems(
    exc: ValidationError, doc: Mapping[str, Any], *, flat: bool
) -> list[ConfigProblem]:
    problems: list[ConfigProblem] = []
    for err in exc.errors(include_url=False, include_input=False):
        path = sent_path(loc_path(err["loc"], doc), flat=flat)
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


def loc_path(loc: Sequence[int | str], doc: Any) -> str:
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
