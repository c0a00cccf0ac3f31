"""Saved assistants from the backend, and the seed's hybrid outbound example (issue 12, point 5).

A real aiohttp backend on 127.0.0.1 answers `GET {url}/{id}`; the worker's store reaches it
through the target policy (loopback allowed only where the test's policy allows it), with a
bearer token or a signature the seed's own verifier accepts over the empty body. The cache
runs on a virtual clock. A store that does not know the id makes the call a `config_error`;
one that cannot answer is an `error` naming the stage (the simulated call is in
tests/simulator/test_dropin_calls.py). `check` reads the same store when it is configured.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from pydantic import SecretStr

from agent.call.telephony.outbound import dial
from agent.call.telephony.sip import SipGateway
from agent.clock import VirtualClock
from agent.delivery.target_policy import TargetPolicy
from agent.errors import ConfigError
from agent.intake.dispatch import ParseOptions, parse_dispatch
from agent.intake.options import parse_options
from agent.intake.saved import HttpAssistants, SavedAssistantUnavailable, StaticAssistants
from agent.worker.settings import NumberRoute, WorkerSettings
from tests.support.paths import EXAMPLES, REPO
from tests.support.receiver import verify_webhook_signature  # the seed's, verbatim
from tests.support.telephony import FakeLiveKit, start_sim_call

ASSISTANT_ID = "17a0cb75-fa09-4bdd-9a44-92a70d829c88"
SAVED_BODY = (EXAMPLES / "assistants" / f"{ASSISTANT_ID}.json").read_bytes()
TOKEN = "store-token-9f2c"
SECRET = "store-signing-secret-51ab"
CREATE = "livekit.SIP/CreateSIPParticipant"


@dataclass
class Store:
    """The backend's saved-assistant API: answers from `replies` by path, keeps every request."""

    url: str = ""
    requests: list[web.Request] = field(default_factory=list)
    replies: dict[str, tuple[int, bytes, dict[str, str]]] = field(default_factory=dict)

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append(request)
        status, body, headers = self.replies.get(request.path, (404, b"{}", {}))
        return web.Response(status=status, body=body, headers=headers,
                            content_type="application/json")  # fmt: skip


@pytest.fixture
async def store() -> AsyncIterator[Store]:
    s = Store()
    s.replies[f"/assistants/{ASSISTANT_ID}"] = (200, SAVED_BODY, {})
    app = web.Application()
    app.router.add_get("/assistants/{id}", s.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    s.url = f"http://127.0.0.1:{runner.addresses[0][1]}/assistants"
    yield s
    await runner.cleanup()


def http(store: Store, **kwargs: Any) -> HttpAssistants:
    return HttpAssistants(store.url, policy=TargetPolicy.loopback_allowed(), **kwargs)


async def test_bearer_lookup_resolves_the_seed_reference_example(store: Store) -> None:
    saved = http(store, token=TOKEN)
    doc = (EXAMPLES / "hms-reference-web-call.json").read_text()
    spec = await parse_dispatch(doc, room_name="r", options=ParseOptions(saved=saved))
    assert spec.assistant.name == "Customer Support Assistant"
    (request,) = store.requests
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert request.headers["Accept"] == "application/json"


async def test_signed_lookup_passes_the_seed_verifier_over_the_empty_body(store: Store) -> None:
    assert await http(store, secret=SECRET).get(ASSISTANT_ID) == json.loads(SAVED_BODY)
    (request,) = store.requests
    assert "Authorization" not in request.headers
    assert request.headers["X-Webhook-Event"] == "assistant-lookup"
    assert verify_webhook_signature(
        "", request.headers["X-Webhook-Timestamp"], request.headers["X-Webhook-Signature"], SECRET
    )


async def test_answers_are_cached_for_a_while(store: Store) -> None:
    clock = VirtualClock()
    saved = http(store, token=TOKEN, cache_seconds=30, monotonic=clock.now)
    await saved.get(ASSISTANT_ID)
    clock.advance(29.0)
    await saved.get(ASSISTANT_ID)
    assert len(store.requests) == 1  # within 30 s: from the cache
    clock.advance(1.5)
    await saved.get(ASSISTANT_ID)
    assert len(store.requests) == 2
    # "not found" is cached for at most 5 s: an assistant saved a moment ago must work
    assert await saved.get("not-saved-yet") is None
    store.replies["/assistants/not-saved-yet"] = (200, SAVED_BODY, {})
    clock.advance(4.0)
    assert await saved.get("not-saved-yet") is None
    clock.advance(1.5)
    assert await saved.get("not-saved-yet") is not None


async def test_an_unknown_id_is_the_tenants_config_error(store: Store) -> None:
    options = ParseOptions(saved=http(store, token=TOKEN))
    with pytest.raises(ConfigError) as info:
        await parse_dispatch({"assistant_id": "nope"}, room_name="r", options=options)
    assert info.value.problems[0].path == "assistant_id"
    with pytest.raises(ConfigError):  # an id that cannot be saved is never sent
        await parse_dispatch({"assistant_id": "../admin"}, room_name="r", options=options)
    assert [r.path for r in store.requests] == ["/assistants/nope"]


@pytest.mark.parametrize(
    ("reply", "fragment"),
    [
        ((500, b"{}", {}), "answered HTTP 500"),
        ((302, b"", {"Location": "http://127.0.0.1:1/elsewhere"}), "answered HTTP 302"),
        ((200, b"[1, 2]", {}), "not a JSON object"),
        ((200, b"not json", {}), "not JSON"),
        ((200, b'{"name": "' + b"x" * 300_000 + b'"}', {}), "over 262144 bytes"),
        # the strict reader every outside JSON goes through
        ((200, b'{"name": "a", "name": "b"}', {}), "duplicate key 'name'"),
        ((200, b"[" * 100_000, {}), "nested more than 64 levels deep"),
        ((200, b'{"name": "\xff"}', {}), "not UTF-8"),
    ],
)
async def test_a_store_that_cannot_answer_is_unavailable_not_a_config_error(
    store: Store, reply: tuple[int, bytes, dict[str, str]], fragment: str
) -> None:
    store.replies[f"/assistants/{ASSISTANT_ID}"] = reply
    with pytest.raises(SavedAssistantUnavailable, match=fragment) as info:
        await http(store, token=TOKEN).get(ASSISTANT_ID)
    assert TOKEN not in str(info.value)
    assert info.value.stage == "assistant_store"
    assert len(store.requests) == 1  # a redirect is not followed


async def test_loopback_is_refused_unless_the_operator_allows_it(store: Store) -> None:
    refused = HttpAssistants(store.url, policy=TargetPolicy(), token=TOKEN)
    with pytest.raises(SavedAssistantUnavailable, match="refused by the target policy"):
        await refused.get(ASSISTANT_ID)
    assert store.requests == []
    allowed = parse_options(
        WorkerSettings(assistants_url=store.url, assistants_token=SecretStr(TOKEN),
                       allowed_targets=["127.0.0.0/8"])
    )  # fmt: skip
    assert await allowed.saved.get(ASSISTANT_ID) is not None


def test_a_store_url_needs_a_way_to_authenticate() -> None:
    with pytest.raises(ValueError, match="VOICE_AGENT_ASSISTANTS_TOKEN"):
        WorkerSettings(assistants_url="https://backend.example/assistants")


def check(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own CLI with fixed arguments
        [sys.executable, "-m", "agent", "check", *args],
        cwd=REPO, capture_output=True, text=True, timeout=60, check=False,
        env={"PATH": "/usr/bin:/bin", **(env or {})},
    )  # fmt: skip


async def test_check_uses_the_configured_store(store: Store) -> None:
    env = {
        "VOICE_AGENT_ASSISTANTS_URL": store.url,
        "VOICE_AGENT_ASSISTANTS_TOKEN": TOKEN,
        "VOICE_AGENT_ALLOWED_TARGETS": "127.0.0.0/8",
    }
    # subprocess.run would block this loop, where the store runs: run it in a thread.
    ok = await asyncio.to_thread(check, "config/examples/hms-hybrid-web-call.json", env=env)
    assert ok.returncode == 0, ok.stderr
    store.replies[f"/assistants/{ASSISTANT_ID}"] = (503, b"", {})
    down = await asyncio.to_thread(check, "config/examples/hms-hybrid-web-call.json", env=env)
    assert down.returncode == 2  # could not check: not the document's fault
    assert "assistant store 127.0.0.1 answered HTTP 503" in down.stderr


# ---- outbound: the seed's hybrid example names no number_id ------------------------------------

OUTBOUND = json.loads((EXAMPLES / "hms-outbound-hybrid.json").read_text())


async def route(doc: dict[str, Any], **settings: Any) -> tuple[str | None, str | None]:
    options = ParseOptions(saved=_static(), **settings)
    spec = await parse_dispatch(doc, room_name="r", options=options)
    return spec.call.sip_trunk_id, spec.agent_number


def _static() -> StaticAssistants:
    return StaticAssistants({ASSISTANT_ID: json.loads(SAVED_BODY)})


async def test_outbound_trunk_comes_from_the_document_the_table_or_the_default() -> None:
    assert await route(OUTBOUND, outbound_trunk_id="ST_default") == ("ST_default", None)
    with pytest.raises(ConfigError, match="VOICE_AGENT_SIP_OUTBOUND_TRUNK_ID"):
        await route(OUTBOUND)
    table = {"num-1": NumberRoute(trunk_id="ST_acme", number="+31850835037")}
    numbered = OUTBOUND | {"number_id": "num-1"}
    assert await route(numbered, number_trunks=table) == ("ST_acme", "+31850835037")
    with pytest.raises(ConfigError) as info:
        await route(OUTBOUND | {"number_id": "num-2"}, number_trunks=table)
    assert info.value.problems[0].path == "number_id"
    explicit = numbered | {"call": {"sip_trunk_id": "ST_explicit"}}
    assert (await route(explicit, number_trunks=table))[0] == "ST_explicit"
    # no table: a number_id is itself the trunk id (the worker's behaviour before the table)
    assert await route(numbered) == ("num-1", None)


def test_the_number_table_reads_as_json_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(
        "VOICE_AGENT_SIP_NUMBER_TRUNKS",
        '{"num-1": "ST_a", "num-2": {"trunk_id": "ST_b", "number": "+31850835037"}}',
    )
    assert WorkerSettings().sip_number_trunks == {
        "num-1": NumberRoute(trunk_id="ST_a"),
        "num-2": NumberRoute(trunk_id="ST_b", number="+31850835037"),
    }


@pytest.mark.parametrize(
    ("number_id", "trunk", "caller_id"),
    [(None, "ST_default", ""), ("num-1", "ST_acme", "+31850835037")],
)
async def test_the_hybrid_outbound_example_dials_its_trunk(
    livekit_server: FakeLiveKit, number_id: str | None, trunk: str, caller_id: str
) -> None:
    doc = OUTBOUND | ({"number_id": number_id} if number_id else {})
    options = ParseOptions(
        saved=_static(), outbound_trunk_id="ST_default",
        number_trunks={"num-1": NumberRoute(trunk_id="ST_acme", number="+31850835037")},
    )  # fmt: skip
    async with livekit_server.api() as lkapi:
        sim = await start_sim_call(doc, options=options, start=False)
        try:
            await dial(sim.call, sim.call.spec, SipGateway(lkapi, "telephony-room"))
        finally:
            await sim.room.aclose()
    (request,) = livekit_server.requests(CREATE)
    assert request.sip_trunk_id == trunk
    assert request.sip_call_to == "+31612345678"
    assert request.sip_number == caller_id  # "": the trunk's own caller id
