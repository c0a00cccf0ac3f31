"""Config sources: where a call's dispatch document comes from.

Most backends put the document in the agent dispatch metadata (or the room metadata) when they
create the call. Some calls have no such backend moment: an inbound phone call whose room is
created by a LiveKit SIP dispatch rule arrives with empty metadata. For those, the worker asks
a backend itself (`assistant-request`: a signed POST with what the worker knows about the call,
answered with the assistant). Operators with other stores (a database, a config service) plug
in their own source through the `voice_agent.config_sources` entry-point group.

A source only *finds* the raw document; `agent.intake.dispatch.parse_dispatch` still validates
it, so every source gets the same checks and the same field-naming `config_error` reports.
A source that cannot produce a document raises `ConfigError` naming itself.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol, runtime_checkable

import structlog

from agent.contracts.untrusted_json import JsonRefused, read_json
from agent.delivery.attempt import url_host
from agent.delivery.base import Delivery
from agent.delivery.http_post import (
    PostFailed,
    PostFailure,
    SessionFactory,
    SignedPost,
    default_session,
)
from agent.delivery.target_policy import TargetPolicy
from agent.entry_points import plugin_group
from agent.errors import ConfigError
from agent.intake.dialects import is_assistant_body, is_flat
from agent.intake.dispatch import ConfigOrigin
from agent.intake.reading import MAX_DOCUMENT_BYTES, MAX_DOCUMENT_DEPTH
from agent.report.redaction import mask_numbers
from agent.worker.settings import WorkerSettings

log = structlog.get_logger(__name__)

ENTRY_POINT_GROUP = "voice_agent.config_sources"

RawDocument = str | bytes | Mapping[str, Any] | None

# LiveKit SIP participant attributes: the caller's number and the number that was dialled.
SIP_CALLER_ATTRIBUTE = "sip.phoneNumber"
SIP_CALLED_ATTRIBUTE = "sip.trunkPhoneNumber"
_E164 = re.compile(r"^\+[1-9]\d{6,14}$")


@dataclass(frozen=True)
class RoomFacts:
    """What the room tells once the job has joined it."""

    metadata: str = ""
    caller_number: str | None = None
    called_number: str | None = None
    sip: bool = False
    """A SIP participant is in the room: the call is a phone call."""
    participants: int = 0
    """Remote participants in the room when it was read (0: the caller is not there yet)."""

    @property
    def web_caller(self) -> bool:
        """Someone is in the room and it is not a SIP leg: a web call."""
        return self.participants > 0 and not self.sip


def room_facts(
    metadata: str | None, participant_attributes: Iterable[Mapping[str, str]]
) -> RoomFacts:
    """RoomFacts from the room's metadata and its remote participants' attributes."""
    everyone = list(participant_attributes)
    for attributes in everyone:
        if any(key.startswith("sip.") for key in attributes):
            return RoomFacts(
                metadata=metadata or "",
                caller_number=attributes.get(SIP_CALLER_ATTRIBUTE) or None,
                called_number=attributes.get(SIP_CALLED_ATTRIBUTE) or None,
                sip=True,
                participants=len(everyone),
            )
    return RoomFacts(metadata=metadata or "", participants=len(everyone))


async def _no_room() -> RoomFacts:
    return RoomFacts()


@dataclass(frozen=True)
class CallFacts:
    """What the job knows about a call before it has a config.

    ``room`` joins the room on first use (the job's `ctx.connect()`), so a source that finds its
    document in the dispatch metadata never waits for the room.
    """

    job_id: str
    room_name: str
    dispatch_metadata: str = ""
    room: Callable[[], Awaitable[RoomFacts]] = _no_room


@runtime_checkable
class ConfigSource(Protocol):
    """Finds the raw dispatch document of one call, and says where it came from.

    The origin matters: `room` metadata is readable by every participant, so literal secrets
    found there are warned about. Raise `ConfigError` (naming the source) when no document
    can be had; the call then ends with `config_error`.
    """

    async def load(self, facts: CallFacts) -> tuple[RawDocument, ConfigOrigin]: ...


class DispatchMetadataSource:
    """The default: the agent dispatch metadata, else the room metadata."""

    async def load(self, facts: CallFacts) -> tuple[RawDocument, ConfigOrigin]:
        if facts.dispatch_metadata:
            return facts.dispatch_metadata, "dispatch"
        room = await facts.room()
        return room.metadata or None, "room"


class AssistantRequestSource:
    """Asks a backend for the call's assistant with a signed `assistant-request` POST.

    Only for inbound phone calls, as the platform documents it (seed 000: "assistant-request
    does not fire for web calls ... All metadata must be passed at session creation time"): a
    call dispatched with a document uses that document, and a room whose caller is a web
    participant uses the room metadata. The request goes out when the caller is a SIP leg, or
    when nobody is in the room yet (a SIP dispatch rule's room, whose caller is still ringing
    in).

    The request goes through the same SSRF policy and is signed the same way as a webhook
    (`X-Webhook-Signature` over `"{timestamp}.{body}"`), so a backend verifies it with the code
    it already runs. The answer is `{"assistant": {...}}`, `{"assistant_id": "..."}`, a flat
    session config, or a whole dispatch document; `{"error": "..."}` refuses the call.
    """

    def __init__(
        self,
        url: str,
        *,
        secret: str | None,
        policy: TargetPolicy,
        timeout: float = 5.0,
        session_factory: SessionFactory = default_session,
    ) -> None:
        self.url = url
        self._secret = secret
        self._policy = policy
        self._timeout = timeout
        self._session_factory = session_factory

    def _fail(self, why: str) -> ConfigError:
        return ConfigError(
            f"assistant-request to {url_host(self.url)} {why}", path="assistant-request"
        )

    async def load(self, facts: CallFacts) -> tuple[RawDocument, ConfigOrigin]:
        if facts.dispatch_metadata:
            return facts.dispatch_metadata, "dispatch"
        room = await facts.room()
        if room.web_caller:
            if room.metadata:
                return room.metadata, "room"
            raise ConfigError(
                "no dispatch document: a web call must carry its document in the dispatch or "
                "room metadata (web calls never use assistant-request)",
                path="assistant-request",
            )
        call = _call_facts(facts, room)
        body = json.dumps(
            {
                "message": {
                    "type": "assistant-request",
                    "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds"),
                    "call": call,
                    "room": facts.room_name,
                    "job_id": facts.job_id,
                    **({"phone_number": room.called_number} if room.called_number else {}),
                }
            },
            ensure_ascii=False,
        ).encode()
        request = Delivery(
            delivery_id=str(uuid.uuid4()),
            call_id=str(call["id"]),
            event_type="assistant-request",
            seq=0,
            body=body,
            url=self.url,
            secret=self._secret,
        )
        answer = await self._post(request)
        # The call id is the room name here, which may hold the caller's number.
        log.info(
            "assistant_request_answered",
            host=url_host(self.url),
            call_id=mask_numbers(str(call["id"])),
        )
        return answer_document(answer, call, self._fail), "assistant-request"

    async def _post(self, request: Delivery) -> bytes:
        poster = SignedPost(self._policy, session_factory=self._session_factory)
        try:
            # One bound for the whole exchange: resolve, connect, send, read the answer.
            answer = await poster.post(request, max_body=MAX_DOCUMENT_BYTES, timeout=self._timeout)
        except PostFailed as exc:
            if exc.failure is PostFailure.REFUSED:
                raise self._fail(f"refused by the target policy: {exc.detail}") from None
            if exc.failure is PostFailure.TIMEOUT:
                raise self._fail(f"timed out after {self._timeout} s") from None
            raise self._fail(f"failed: {exc.detail}") from None
        finally:
            await poster.aclose()
        if not 200 <= answer.status <= 299:
            raise self._fail(f"answered HTTP {answer.status}")
        if answer.too_large:
            raise self._fail(f"answer is over {MAX_DOCUMENT_BYTES} bytes")
        return answer.body


def _call_facts(facts: CallFacts, room: RoomFacts) -> dict[str, Any]:
    call: dict[str, Any] = {"id": facts.room_name, "type": "inbound_phone_call"}
    if room.caller_number and _E164.match(room.caller_number):
        call["customer"] = {"number": room.caller_number}
    return call


def answer_document(
    body: bytes, call: Mapping[str, Any], fail: Callable[[str], ConfigError]
) -> dict[str, Any]:
    """The backend's answer body as a dispatch document carrying the call facts we sent, or
    the ``ConfigError`` ``fail`` makes (and nothing else, whatever the bytes).

    Read by the same strict reader as every outside document (agent/contracts/untrusted_json.py:
    UTF-8 only, no key given twice, bounded nesting); ``parse_dispatch`` then validates it."""
    try:
        answer = read_json(body, max_bytes=MAX_DOCUMENT_BYTES, max_depth=MAX_DOCUMENT_DEPTH)
    except JsonRefused as exc:
        raise fail(f"answer refused: {exc}") from None
    if not isinstance(answer, dict):
        raise fail("answer is not a JSON object")
    error = answer.get("error")
    if error:
        # The backend's own words, shortened: it chose to refuse this call.
        raise fail(f"refused the call: {str(error)[:200]}")
    # A bare assistant (flat, or an HMS body such as the Create Assistant one) is the assistant.
    bare = is_flat(answer) or is_assistant_body(answer)
    document = {"assistant": answer} if bare else dict(answer)
    if "assistant" not in document and "assistant_id" not in document:
        raise fail("answer has neither `assistant` nor `assistant_id`")
    if not isinstance(document.get("call"), Mapping):
        document["call"] = dict(call)
    return document


# ---- selection ----------------------------------------------------------------------------

ConfigSourceFactory = Callable[[WorkerSettings], ConfigSource]


def _dispatch(settings: WorkerSettings) -> ConfigSource:
    return DispatchMetadataSource()


def _assistant_request(settings: WorkerSettings) -> ConfigSource:
    if not settings.assistant_request_url:
        raise ConfigError(
            "config source `assistant-request` needs VOICE_AGENT_ASSISTANT_REQUEST_URL",
            path="VOICE_AGENT_ASSISTANT_REQUEST_URL",
        )
    secret = settings.assistant_request_secret or settings.webhook_secret
    return AssistantRequestSource(
        settings.assistant_request_url,
        secret=secret.get_secret_value() if secret else None,
        policy=TargetPolicy(settings.allowed_targets),
        timeout=settings.assistant_request_timeout_seconds,
    )


BUILT_IN_SOURCES: dict[str, ConfigSourceFactory] = {
    "dispatch": _dispatch,
    "assistant-request": _assistant_request,
}


def load_config_source(settings: WorkerSettings) -> ConfigSource:
    """The source named by `VOICE_AGENT_CONFIG_SOURCE`: built in, or an entry point.

    A built-in name wins over a plugin of the same name. Raises `ConfigError` for an unknown
    name or a plugin factory that does not return a ConfigSource.
    """
    name = settings.config_source
    plugins = {ep.name: ep for ep in plugin_group(ENTRY_POINT_GROUP)}
    if name in BUILT_IN_SOURCES:
        if name in plugins:
            log.warning("config_source_plugin_shadowed", source=name)
        return BUILT_IN_SOURCES[name](settings)
    if name not in plugins:
        known = sorted(BUILT_IN_SOURCES.keys() | plugins.keys())
        raise ConfigError(
            f"unknown config source {name!r} (known: {', '.join(known)})",
            path="VOICE_AGENT_CONFIG_SOURCE",
        )
    source = plugins[name].load()(settings)
    if not isinstance(source, ConfigSource):
        raise ConfigError(
            f"config source plugin {name!r} ({plugins[name].value}) did not return a ConfigSource",
            path="VOICE_AGENT_CONFIG_SOURCE",
        )
    return source
