"""Worker keys go only to the worker's endpoints.

A document that chooses its own provider endpoint (`base_url`, or an LLM preset naming a third
party) must bring its own `api_key`: refused at parse time naming the field, so `check` reports
it. The provider module holds the same line on its own, and a real plugin, pointed at a fake
vendor on 127.0.0.1, is shown to send the tenant's key to the tenant's endpoint and the worker's
key only to the operator's.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiohttp import web

from agent.call.providers import build_llm, build_stt, build_tts
from agent.contracts.assistant import AssistantConfig
from agent.contracts.provider_configs import LLMConfig
from agent.errors import ConfigError
from agent.intake.dispatch import parse_dispatch
from agent.worker.settings import WorkerSettings

WORKER_OPENAI_KEY = "sk-WORKER-sentinel-never-to-tenant-endpoints-77a1"
TENANT_KEY = "tenant-own-key-3c9e"


def assistant(**configs: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "stt_config": {"provider": "deepgram"},
        "llm_config": {"model": "gpt-4.1-mini"},
        "tts_config": {"provider": "elevenlabs", "voice_id": "v"},
    }
    return {"assistant": doc | configs}


@pytest.mark.parametrize(
    ("configs", "field"),
    [
        (
            {"stt_config": {"provider": "deepgram", "base_url": "https://dg.evil.example/v1"}},
            "assistant.stt_config.api_key",
        ),
        (
            {"stt_config": {"provider": "openai", "base_url": "https://evil.example/v1"}},
            "assistant.stt_config.api_key",
        ),
        (
            {"stt_config": {"provider": "sarvam", "base_url": "https://evil.example"}},
            "assistant.stt_config.api_key",
        ),
        (
            {"llm_config": {"model": "m", "base_url": "http://169.254.169.254/v1"}},
            "assistant.llm_config.api_key",
        ),
        (
            {
                "llm_config": {
                    "provider": "openai-compatible",
                    "model": "m",
                    "base_url": "https://x.example",
                }
            },
            "assistant.llm_config.api_key",
        ),
        ({"llm_config": {"provider": "groq", "model": "m"}}, "assistant.llm_config.api_key"),
        ({"llm_config": {"provider": "xai", "model": "m"}}, "assistant.llm_config.api_key"),
        (
            {
                "tts_config": {
                    "provider": "elevenlabs",
                    "voice_id": "v",
                    "base_url": "https://e.example",
                }
            },
            "assistant.tts_config.api_key",
        ),
        (
            {"tts_config": {"provider": "openai", "base_url": "https://evil.example/v1"}},
            "assistant.tts_config.api_key",
        ),
        (
            {"tts_config": {"provider": "sarvam", "base_url": "https://evil.example"}},
            "assistant.tts_config.api_key",
        ),
    ],
)
async def test_an_own_endpoint_without_an_own_key_is_refused_at_parse_time(
    configs: dict[str, Any], field: str
) -> None:
    with pytest.raises(ConfigError) as refused:
        await parse_dispatch(assistant(**configs), room_name="r")
    assert refused.value.fields == [field]
    assert "api_key" in str(refused.value)


async def test_an_own_endpoint_with_an_own_key_parses() -> None:
    spec = await parse_dispatch(
        assistant(
            llm_config={"provider": "groq", "model": "m", "api_key": TENANT_KEY},
            tts_config={"provider": "openai", "base_url": "https://t.example/v1", "api_key": "k"},
        ),
        room_name="r",
    )
    assert spec.assistant.llm_config.provider == "groq"


def settings_with(monkeypatch: pytest.MonkeyPatch, **env: str) -> WorkerSettings:
    monkeypatch.setenv("OPENAI_API_KEY", WORKER_OPENAI_KEY)
    monkeypatch.setenv("DEEPGRAM_API_KEY", "dg-WORKER-sentinel")
    monkeypatch.setenv("ELEVEN_API_KEY", "el-WORKER-sentinel")
    monkeypatch.setenv("SARVAM_API_KEY", "sv-WORKER-sentinel")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return WorkerSettings()


@pytest.mark.parametrize(
    "part", ["stt_config", "llm_config", "tts_config"], ids=["stt", "llm", "tts"]
)
def test_providers_never_pair_a_worker_key_with_a_document_endpoint(
    part: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The contract refuses this document; model_construct builds it anyway, to show the
    # provider module does not rely on the contract alone.
    settings = settings_with(monkeypatch)
    parsed = AssistantConfig.model_validate(assistant()["assistant"])
    config = getattr(parsed, part)
    hostile = type(config).model_construct(
        **(dict(config) | {"base_url": "https://evil.example/v1", "api_key": None})
    )
    spec = parsed.model_copy(update={part: hostile})
    builders: dict[str, Callable[[], object]] = {
        "stt_config": lambda: build_stt(spec, settings),
        "llm_config": lambda: build_llm(spec.llm_config, settings),
        "tts_config": lambda: build_tts(spec, settings),
    }
    with pytest.raises(ConfigError) as refused:
        builders[part]()
    assert refused.value.fields == [f"assistant.{part}.api_key"]
    assert "sentinel" not in str(refused.value).lower()


class FakeOpenAI:
    """A chat-completions endpoint on 127.0.0.1 that records who called with which key."""

    def __init__(self) -> None:
        self.authorizations: list[str] = []
        self.raw_requests: list[str] = []
        self.url = ""

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.authorizations.append(request.headers.get("Authorization", ""))
        self.raw_requests.append(repr(dict(request.headers)) + await request.text())
        chunk = {
            "id": "c1",
            "object": "chat.completion.chunk",
            "created": 0,
            "model": "m",
            "choices": [{"index": 0, "delta": {"role": "assistant", "content": "hi"}}],
        }
        body = f"data: {json.dumps(chunk)}\n\ndata: [DONE]\n\n"
        return web.Response(body=body.encode(), content_type="text/event-stream")


@pytest.fixture
async def fake_openai() -> AsyncIterator[FakeOpenAI]:
    fake = FakeOpenAI()
    app = web.Application()
    app.router.add_post("/{tail:.*}", fake.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    fake.url = f"http://127.0.0.1:{runner.addresses[0][1]}/v1"
    yield fake
    await runner.cleanup()


async def one_reply(cfg: LLMConfig, settings: WorkerSettings) -> str:
    from livekit.agents import APIConnectOptions
    from livekit.agents.llm import ChatContext

    engine = build_llm(cfg, settings)
    ctx = ChatContext()
    ctx.add_message(role="user", content="hello")
    text = ""
    async with engine.chat(chat_ctx=ctx, conn_options=APIConnectOptions(max_retry=0)) as stream:
        async for chunk in stream:
            if chunk.delta is not None and chunk.delta.content:
                text += chunk.delta.content
    await engine.aclose()
    return text


async def test_a_real_plugin_sends_each_key_only_to_its_own_endpoint(
    fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = settings_with(monkeypatch, VOICE_AGENT_OPENAI_BASE_URL=fake_openai.url)
    # The operator's endpoint, no per-call key: the worker's key, as configured.
    assert await one_reply(LLMConfig(model="m"), settings) == "hi"
    # The tenant's endpoint (the same fake, under another name) with the tenant's key.
    tenant_url = fake_openai.url.replace("127.0.0.1", "localhost")
    tenant = LLMConfig.model_validate({"model": "m", "base_url": tenant_url, "api_key": TENANT_KEY})
    assert await one_reply(tenant, settings) == "hi"
    assert fake_openai.authorizations == [f"Bearer {WORKER_OPENAI_KEY}", f"Bearer {TENANT_KEY}"]
    assert WORKER_OPENAI_KEY not in fake_openai.raw_requests[1]
