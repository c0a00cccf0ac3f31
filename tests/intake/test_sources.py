"""Config sources: dispatch/room metadata, assistant-request to a real 127.0.0.1 backend,
selection from settings and through the `voice_agent.config_sources` entry-point group."""

from __future__ import annotations

import asyncio
import json
import sys
import textwrap
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from agent.delivery.target_policy import TargetPolicy
from agent.entry_points import plugin_group
from agent.errors import ConfigError
from agent.intake.dispatch import parse_dispatch
from agent.intake.document import CallType
from agent.intake.sources import (
    AssistantRequestSource,
    CallFacts,
    ConfigSource,
    DispatchMetadataSource,
    RoomFacts,
    load_config_source,
    room_facts,
)
from agent.worker.settings import WorkerSettings
from tests.support.receiver import SECRET, Receiver, Reply

ASSISTANT: dict[str, Any] = {
    "name": "front desk",
    "stt_config": {"provider": "deepgram"},
    "llm_config": {"model": "gpt-4.1-mini", "messages": [{"role": "system", "content": "Hi"}]},
    "tts_config": {"provider": "elevenlabs", "voice_id": "v1"},
}
SIP_CALLER = {
    "sip.phoneNumber": "+31612345678",
    "sip.trunkPhoneNumber": "+31201234567",
    "sip.callID": "SCL_abc",
}


class AnsweringBackend(Receiver):
    """The seed-verifying receiver, answering each assistant-request with a JSON body."""

    def __init__(self) -> None:
        super().__init__()
        self.answer: Any = {"assistant": ASSISTANT}
        self.raw: bytes | None = None
        """Sent byte for byte instead of ``answer`` (invalid JSON, any size)."""
        self.chunk_bytes = 0
        """When set, the body is streamed in writes of this size, each sent on its own."""

    async def _handle(self, request: Any) -> Any:
        reply = await super()._handle(request)
        if reply.status != 200:
            return reply
        body = self.raw if self.raw is not None else json.dumps(self.answer).encode()
        if not self.chunk_bytes:
            return web.Response(body=body, content_type="application/json")
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        for start in range(0, len(body), self.chunk_bytes):
            await response.write(body[start : start + self.chunk_bytes])
            await asyncio.sleep(0.001)  # let each chunk leave on its own
        await response.write_eof()
        return response


@pytest.fixture(autouse=True)
def _fresh_plugin_groups() -> Iterator[None]:
    """Entry points are read once per process: a test that installs a plugin on sys.path
    must not leave it cached for the tests after it (their sys.path no longer has it)."""
    plugin_group.cache_clear()
    yield
    plugin_group.cache_clear()


@pytest.fixture
async def backend() -> AsyncIterator[AnsweringBackend]:
    b = AnsweringBackend()
    await b.start()
    yield b
    await b.stop()


def facts(*, dispatch: str = "", room: RoomFacts | None = None) -> tuple[CallFacts, list[int]]:
    joins: list[int] = []

    async def join() -> RoomFacts:
        joins.append(1)
        return room or RoomFacts()

    return CallFacts(
        job_id="AJ_1", room_name="sip-room-1", dispatch_metadata=dispatch, room=join
    ), joins


def source_for(backend: AnsweringBackend, *, timeout: float = 5.0) -> AssistantRequestSource:
    return AssistantRequestSource(
        backend.url("/assistant"),
        secret=SECRET,
        policy=TargetPolicy.loopback_allowed(),
        timeout=timeout,
    )


# ---- dispatch / room metadata ---------------------------------------------------------------


async def test_dispatch_metadata_wins_and_the_room_is_not_joined_for_it() -> None:
    call, joins = facts(dispatch='{"assistant": {}}', room=RoomFacts(metadata="{}"))
    raw, origin = await DispatchMetadataSource().load(call)
    assert (raw, origin) == ('{"assistant": {}}', "dispatch")
    assert joins == []


async def test_room_metadata_when_the_dispatch_carries_none() -> None:
    call, joins = facts(room=RoomFacts(metadata='{"x": 1}'))
    assert await DispatchMetadataSource().load(call) == ('{"x": 1}', "room")
    assert joins == [1]
    empty, _ = facts()
    assert await DispatchMetadataSource().load(empty) == (None, "room")


def test_room_facts_read_the_sip_participant() -> None:
    web = room_facts("{}", [{"lk.agent.state": "listening"}])
    assert (web.sip, web.caller_number) == (False, None)
    sip = room_facts(None, [{}, SIP_CALLER])
    assert sip == RoomFacts("", "+31612345678", "+31201234567", sip=True, participants=2)
    assert web.web_caller
    assert not sip.web_caller
    assert not room_facts("", []).web_caller  # nobody there yet: not known to be a web call


# ---- assistant-request ------------------------------------------------------------------------


async def test_sip_call_without_metadata_gets_its_assistant(backend: AnsweringBackend) -> None:
    call, _ = facts(room=room_facts("", [SIP_CALLER]))
    raw, origin = await source_for(backend).load(call)
    assert origin == "assistant-request"

    (request,) = backend.at("/assistant")
    assert request.signature_ok is True  # the seed verifier, as for webhooks
    assert request.headers["X-Webhook-Event"] == "assistant-request"
    message = json.loads(request.body)["message"]
    assert message["type"] == "assistant-request"
    assert message["call"] == {
        "id": "sip-room-1",
        "type": "inbound_phone_call",
        "customer": {"number": "+31612345678"},
    }
    assert message["room"] == "sip-room-1"
    assert message["phone_number"] == "+31201234567"

    spec = await parse_dispatch(raw, room_name="sip-room-1", origin=origin)
    assert spec.assistant.name == "front desk"
    assert spec.call.type is CallType.INBOUND_PHONE
    assert spec.call.customer is not None
    assert spec.call.customer.number == "+31612345678"
    assert spec.call_id == "sip-room-1"


async def test_assistant_request_never_fires_for_a_web_call(backend: AnsweringBackend) -> None:
    # seed 000: "assistant-request does not fire for web calls ... All metadata must be passed
    # at session creation time."
    web = room_facts('{"system_prompt": "From the room."}', [{"lk.agent.state": "idle"}])
    call, _ = facts(room=web)
    raw, origin = await source_for(backend).load(call)
    assert (raw, origin) == ('{"system_prompt": "From the room."}', "room")

    dispatched, joins = facts(dispatch='{"system_prompt": "Dispatched."}', room=web)
    assert await source_for(backend).load(dispatched) == ('{"system_prompt": "Dispatched."}',
                                                          "dispatch")  # fmt: skip
    assert joins == []

    bare, _ = facts(room=room_facts("", [{"lk.agent.state": "idle"}]))
    with pytest.raises(ConfigError, match="web calls never use assistant-request"):
        await source_for(backend).load(bare)
    assert backend.at("/assistant") == []  # the backend was never asked


async def test_answer_forms_assistant_id_flat_and_whole_document(
    backend: AnsweringBackend,
) -> None:
    call, _ = facts()
    backend.answer = {"assistant_id": "front-desk", "assistant_override": {"name": "x"}}
    raw, _ = await source_for(backend).load(call)
    assert isinstance(raw, dict)
    assert raw["assistant_id"] == "front-desk"
    # Nobody in the room yet: a SIP dispatch rule's room, whose caller is still ringing in.
    assert raw["call"] == {"id": "sip-room-1", "type": "inbound_phone_call"}

    backend.answer = {"system_prompt": "You book tables.", "llm_model": "gpt-4.1-mini"}
    raw, origin = await source_for(backend).load(call)
    spec = await parse_dispatch(raw, room_name="sip-room-1", origin=origin)
    assert spec.assistant.llm_config.model == "gpt-4.1-mini"

    backend.answer = ASSISTANT  # an HMS assistant body, bare (its `name` marks it HMS)
    raw, origin = await source_for(backend).load(call)
    spec = await parse_dispatch(raw, room_name="sip-room-1", origin=origin)
    assert (spec.dialect, spec.assistant.name) == ("hms", "front desk")

    backend.answer = {"call": {"id": "backend-call-9"}, "assistant": ASSISTANT}
    raw, origin = await source_for(backend).load(call)
    spec = await parse_dispatch(raw, room_name="sip-room-1", origin=origin)
    assert spec.call_id == "backend-call-9"


@pytest.mark.parametrize(
    ("reply", "answer", "fragment"),
    [
        (Reply(500), None, "answered HTTP 500"),
        (Reply(302, headers={"Location": "http://169.254.169.254/"}), None, "HTTP 302"),
        (Reply(), {"error": "number not in service"}, "refused the call: number not in service"),
        (Reply(), {"hello": "world"}, "neither `assistant` nor `assistant_id`"),
        (Reply(), ["not", "an", "object"], "not a JSON object"),
    ],
)
async def test_backend_failures_are_config_errors_naming_the_source(
    backend: AnsweringBackend, reply: Reply, answer: Any, fragment: str
) -> None:
    backend.script("/assistant", reply)
    backend.answer = answer
    call, _ = facts()
    with pytest.raises(ConfigError) as caught:
        await source_for(backend).load(call)
    assert caught.value.fields == ["assistant-request"]
    assert "assistant-request to 127.0.0.1" in str(caught.value)
    assert fragment in str(caught.value)


async def test_an_answer_spread_over_many_chunks_is_read_whole(
    backend: AnsweringBackend,
) -> None:
    # Far more than one network read returns: a partial read would not be JSON.
    prompt = "You take bookings. " * 5000  # 95 KB, under the 100 000 characters of a message
    backend.answer = {"assistant": ASSISTANT | {"llm_config": {"model": "m", "messages": [
        {"role": "system", "content": prompt}]}}}  # fmt: skip
    backend.chunk_bytes = 1000
    raw, origin = await source_for(backend).load(facts()[0])
    spec = await parse_dispatch(raw, room_name="sip-room-1", origin=origin)
    assert spec.assistant.llm_config.messages[0].content == prompt


@pytest.mark.parametrize("chunked", [False, True])
async def test_an_answer_over_the_cap_is_refused_as_too_large(
    backend: AnsweringBackend, chunked: bool
) -> None:
    backend.answer = {"assistant": ASSISTANT, "padding": "x" * 300_000}
    backend.chunk_bytes = 16_384 if chunked else 0
    with pytest.raises(ConfigError) as caught:
        await source_for(backend).load(facts()[0])
    assert "answer is over 262144 bytes" in str(caught.value)


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        (b'{"assistant": {"name": "a"}, "assistant": {"name": "b"}}', "duplicate key 'assistant'"),
        (b"[" * 100_000, "nested more than 64 levels deep"),
        (b'{"assistant": {"name": "\xff"}}', "not UTF-8"),
        (b'{"assistant": {"llm_config": {"temperature": Infinity}}}', "Infinity is not a JSON"),
        (b"<html>upstream down</html>", "not valid JSON"),
    ],
)
async def test_unreadable_answers_are_config_errors_naming_the_source(
    backend: AnsweringBackend, raw: bytes, fragment: str
) -> None:
    backend.raw = raw
    with pytest.raises(ConfigError) as caught:
        await source_for(backend).load(facts()[0])
    assert caught.value.fields == ["assistant-request"]
    assert "answer refused" in str(caught.value)
    assert fragment in str(caught.value)


async def test_a_backend_slower_than_the_timeout_is_a_config_error(
    backend: AnsweringBackend,
) -> None:
    backend.script("/assistant", Reply(hang=True))
    call, _ = facts()
    with pytest.raises(ConfigError, match=r"timed out after 0\.2 s"):
        await source_for(backend, timeout=0.2).load(call)


async def test_the_backend_url_goes_through_the_ssrf_policy(backend: AnsweringBackend) -> None:
    source = AssistantRequestSource(backend.url("/assistant"), secret=None, policy=TargetPolicy())
    call, _ = facts()
    with pytest.raises(ConfigError, match="refused by the target policy"):
        await source.load(call)
    assert backend.received == []


# ---- selection ----------------------------------------------------------------------------------


def test_default_source_is_dispatch_metadata() -> None:
    assert isinstance(load_config_source(WorkerSettings()), DispatchMetadataSource)


def test_assistant_request_from_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VOICE_AGENT_CONFIG_SOURCE", "assistant-request")
    with pytest.raises(ConfigError) as caught:
        load_config_source(WorkerSettings())
    assert caught.value.fields == ["VOICE_AGENT_ASSISTANT_REQUEST_URL"]
    monkeypatch.setenv("VOICE_AGENT_ASSISTANT_REQUEST_URL", "https://backend.example/assistant")
    monkeypatch.setenv("VOICE_AGENT_ASSISTANT_REQUEST_SECRET", "s3cret")
    source = load_config_source(WorkerSettings())
    assert isinstance(source, AssistantRequestSource)
    assert source.url == "https://backend.example/assistant"
    assert "s3cret" not in repr(WorkerSettings())


def test_unknown_source_names_the_known_ones() -> None:
    with pytest.raises(ConfigError, match=r"unknown config source 'vault'.*dispatch"):
        load_config_source(WorkerSettings(config_source="vault"))


def _install_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, body: str) -> None:
    """A real installed distribution on sys.path: a dist-info with entry_points.txt."""
    (tmp_path / "acme_sources.py").write_text(textwrap.dedent(body))
    dist = tmp_path / "acme_sources-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-sources\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(
        "[voice_agent.config_sources]\nacme = acme_sources:make_source\n"
        "dispatch = acme_sources:make_source\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "acme_sources", raising=False)
    plugin_group.cache_clear()  # read once per process: this one was just installed


async def test_third_party_source_through_the_entry_point_group(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _install_plugin(
        tmp_path,
        monkeypatch,
        """
        class AcmeSource:
            def __init__(self, settings):
                self.name = settings.name

            async def load(self, facts):
                return '{"assistant_id": "' + facts.room_name + '"}', "file"

        def make_source(settings):
            return AcmeSource(settings)
        """,
    )
    source = load_config_source(WorkerSettings(config_source="acme"))
    assert isinstance(source, ConfigSource)
    call, _ = facts()
    assert await source.load(call) == ('{"assistant_id": "sip-room-1"}', "file")
    # A plugin cannot take a built-in name.
    assert isinstance(load_config_source(WorkerSettings()), DispatchMetadataSource)


def test_a_plugin_that_returns_no_source_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _install_plugin(tmp_path, monkeypatch, "def make_source(settings):\n    return object()\n")
    with pytest.raises(ConfigError, match="did not return a ConfigSource"):
        load_config_source(WorkerSettings(config_source="acme"))
