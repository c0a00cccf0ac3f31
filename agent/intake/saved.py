"""Saved assistants: where reference and hybrid mode find an `assistant_id`.

Two stores, usable together: a directory of `<assistant_id>.json` files (a mounted ConfigMap,
pinned by the operator) and the backend itself, `GET {VOICE_AGENT_ASSISTANTS_URL}/{id}`
answered with the saved assistant's JSON, as the platform's own API serves it (seed 001 `GET
/api/v1/assistants`). With both, the directory answers first.

The backend store is reached like every other outside URL, through the one guarded client
(agent/delivery/http_post.py): the target policy (private, loopback and link-local addresses
only where the operator allowed them), no redirects, the answer read whole up to the dispatch
document's size cap and by the strict JSON reader, and one time bound for the whole exchange.
It authenticates with a bearer token (`VOICE_AGENT_ASSISTANTS_TOKEN`), else signs the request
like a webhook (`X-Webhook-Signature` over `"{timestamp}."` and the empty body, so the seed's
verifier accepts it with an empty payload). A GET has no body, so a signature covers
only the timestamp, not the id asked for: the bearer token is the better choice.

An id the store does not know (404, 410) is the tenant's mistake: `None`, which the parser turns
into `config_error`. A store that cannot answer (any other status, a timeout, a body that is not
a JSON object or is too big) is the operator's problem: `SavedAssistantUnavailable`, which the
job reports as `error` at stage `assistant_store`. Answers are cached per process for a short
time (30 s by default; "not found" for at most 5 s, failures never), so a burst of calls to one
assistant costs one request. Job processes each run a call or a few, so the cache helps `check`
loops and repeated calls in one process more than it spares the backend.
"""

from __future__ import annotations

import copy
import re
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote

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
from agent.delivery.signing import USER_AGENT, delivery_headers
from agent.delivery.target_policy import TargetPolicy
from agent.errors import ConfigError

log = structlog.get_logger(__name__)

MAX_ASSISTANT_BYTES = 256 * 1024
"""The dispatch document's own cap: a saved assistant is the same kind of thing."""
NOT_FOUND_CACHE_SECONDS = 5.0
"""A "not found" is cached for at most this long: an assistant saved a moment ago must work."""

ASSISTANT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,199}$")


def valid_assistant_id(assistant_id: str) -> bool:
    return bool(ASSISTANT_ID.match(assistant_id)) and ".." not in assistant_id


class SavedAssistants(Protocol):
    """Where reference and hybrid mode find `assistant_id`s. `None`: no such assistant."""

    async def get(self, assistant_id: str) -> Mapping[str, Any] | None: ...


class SavedAssistantUnavailable(Exception):
    """The store could not say (down, slow, a broken answer): not the tenant's mistake.
    The message names the store's host, never its path, query or token."""

    stage = "assistant_store"


class NoSavedAssistants:
    """The default: this worker knows no saved assistants."""

    async def get(self, assistant_id: str) -> Mapping[str, Any] | None:
        return None


@dataclass
class StaticAssistants:
    """Saved assistants held in memory (`check --assistant FILE`, tests)."""

    assistants: Mapping[str, Mapping[str, Any]]

    async def get(self, assistant_id: str) -> Mapping[str, Any] | None:
        found = self.assistants.get(assistant_id)
        return copy.deepcopy(dict(found)) if found is not None else None


@dataclass
class DirectoryAssistants:
    """Saved assistants as `<assistant_id>.json` files (a mounted ConfigMap, for example)."""

    directory: Path

    async def get(self, assistant_id: str) -> Mapping[str, Any] | None:
        if not valid_assistant_id(assistant_id):
            return None
        path = self.directory / f"{assistant_id}.json"
        try:
            data = read_json(path.read_bytes(), max_bytes=MAX_ASSISTANT_BYTES)
        except FileNotFoundError:
            return None
        except (OSError, JsonRefused) as exc:
            raise ConfigError(
                f"saved assistant {assistant_id!r} is unreadable: {exc}", path="assistant_id"
            ) from None
        if not isinstance(data, dict):
            raise ConfigError(
                f"saved assistant {assistant_id!r} is not an object", path="assistant_id"
            )
        return data


@dataclass
class ChainedAssistants:
    """The first store that knows the id answers (the operator's directory before the backend)."""

    stores: Sequence[SavedAssistants]

    async def get(self, assistant_id: str) -> Mapping[str, Any] | None:
        for store in self.stores:
            found = await store.get(assistant_id)
            if found is not None:
                return found
        return None


class HttpAssistants:
    """`GET {base_url}/{id}` on the backend, with a short per-process cache."""

    def __init__(
        self,
        base_url: str,
        *,
        policy: TargetPolicy,
        token: str | None = None,
        secret: str | None = None,
        timeout: float = 5.0,
        cache_seconds: float = 30.0,
        max_entries: int = 256,
        monotonic: Callable[[], float] = time.monotonic,
        session_factory: SessionFactory = default_session,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._policy = policy
        self._token = token
        self._secret = secret
        self._timeout = timeout
        self._cache_seconds = cache_seconds
        self._max_entries = max_entries
        self._monotonic = monotonic
        self._session_factory = session_factory
        self._cache: OrderedDict[str, tuple[float, dict[str, Any] | None]] = OrderedDict()
        self.requests = 0
        """Requests made (what the cache saved shows up here)."""

    async def get(self, assistant_id: str) -> Mapping[str, Any] | None:
        if not valid_assistant_id(assistant_id):
            return None  # never sent: an id that could not be saved cannot be found
        now = self._monotonic()
        cached = self._cache.get(assistant_id)
        if cached is not None and cached[0] > now:
            return copy.deepcopy(cached[1])
        found = await self._fetch(assistant_id)
        ttl = (
            self._cache_seconds
            if found is not None
            else min(self._cache_seconds, NOT_FOUND_CACHE_SECONDS)
        )
        if ttl > 0:
            self._cache[assistant_id] = (now + ttl, found)
            self._cache.move_to_end(assistant_id)
            while len(self._cache) > self._max_entries:
                self._cache.popitem(last=False)
        return copy.deepcopy(found)

    def _fail(self, why: str) -> SavedAssistantUnavailable:
        return SavedAssistantUnavailable(f"assistant store {url_host(self.base_url)} {why}")

    def _headers(self, url: str) -> dict[str, str]:
        if self._token:
            headers = {"Authorization": f"Bearer {self._token}", "User-Agent": USER_AGENT}
        else:
            lookup = Delivery(
                delivery_id=str(uuid.uuid4()), call_id="", event_type="assistant-lookup",
                seq=0, body=b"", url=url, secret=self._secret,
            )  # fmt: skip
            headers = delivery_headers(lookup, time.time())
            headers.pop("Content-Type")  # a GET sends no body
        return headers | {"Accept": "application/json"}

    async def _fetch(self, assistant_id: str) -> dict[str, Any] | None:
        url = f"{self.base_url}/{quote(assistant_id, safe='')}"
        self.requests += 1
        client = SignedPost(self._policy, session_factory=self._session_factory)
        try:
            # The guard every outside URL gets (agent/delivery/http_post.py), one time bound
            # for the whole exchange: resolve, connect, send, read the answer whole.
            answer = await client.get(
                url, headers=self._headers(url), max_body=MAX_ASSISTANT_BYTES,
                timeout=self._timeout,
            )  # fmt: skip
        except PostFailed as exc:
            if exc.failure is PostFailure.REFUSED:
                raise self._fail(f"refused by the target policy: {exc.detail}") from None
            if exc.failure is PostFailure.TIMEOUT:
                raise self._fail(f"timed out after {self._timeout} s") from None
            raise self._fail(f"failed: {exc.detail}") from None
        finally:
            await client.aclose()
        status = answer.status
        body = None if answer.too_large else answer.body
        if status in (404, 410):
            log.info("saved_assistant_not_found", host=url_host(self.base_url), status=status)
            return None
        if status != 200:
            raise self._fail(f"answered HTTP {status}")
        if body is None:
            raise self._fail(f"answer is over {MAX_ASSISTANT_BYTES} bytes")
        try:
            # The strict reader every outside JSON goes through (no key given twice, bounded
            # nesting, UTF-8 only): agent/contracts/untrusted_json.py.
            data = read_json(body, max_bytes=MAX_ASSISTANT_BYTES)
        except JsonRefused as exc:
            raise self._fail(f"answer is not JSON: {exc}") from None
        if isinstance(data, dict) and len(data) == 1 and isinstance(data.get("assistant"), dict):
            data = data["assistant"]  # `{"assistant": {...}}`, as some APIs wrap it
        if not isinstance(data, dict):
            raise self._fail("answer is not a JSON object")
        return data
