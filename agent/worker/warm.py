"""The warm process image: everything a call needs, loaded before the call arrives.

A call used to pay for its own start-up: the job process imported the call path and the vendor
plugins when the call arrived (0.7-1.3 s of CPU on the job's event loop, which the framework's
loop monitor reported as a 0.7-1.2 s stall at the start of every call, before the greeting), then
built TLS contexts, pydantic schemas and the VAD session on first use. Here that work is done
once, where its result is shared:

- one job process per call (`VOICE_AGENT_EXECUTOR=process`): in the forkserver, which imports
  `agent.worker.warm_preload` (AgentServer `preload_modules`) ahead of the framework's own
  `_preload_freeze`; every job process is forked from the warmed image and shares it
  copy-on-write (the freeze keeps the garbage collector from touching it);
- calls in threads (`thread`): in the worker's process, on the main thread, before the server
  starts (a plugin registers itself only on the main thread).

Everything in :func:`warm_image` is fork-safe: imports, TLS contexts, pydantic schemas, one
ONNX inference session (silero runs it with one intra-op thread: no thread pool is started), the
transcript-pacing replacement. What cannot cross a fork (the livekit-rtc runtime starts
threads) is :func:`warm_process`, run by each job process in its setup, off the call path.

Each step names the call-start cost it removes (measured on fake jobs of a real AgentServer with
`LIVEKIT_AGENTS_LOOP_BLOCK_WARN_MS=50`; tests/worker/test_warm_start.py keeps it that way).
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Coroutine
from typing import Any

PLUGINS = ("deepgram", "elevenlabs", "openai", "sarvam", "silero")
"""Every vendor plugin agent/call/providers.py may build (each registers on import)."""

CALL_PATH_MODULES = (
    "agent.worker.main",
    "agent.worker.job",
    # the openai plugin's realtime package, imported with it but lazily in parts
    "livekit.plugins.openai.realtime",
    # what the openai client imports on its first request (the plugin's `models.list()`
    # prewarm at session start) and the httpx2 transport under it: 60-290 ms stalls
    "anyio._backends._asyncio",
    "anyio._core._synchronization",
    "anyio._core._testing",
    "anyio.abc._testing",
    "openai.pagination",
    "openai.resources",
    "openai.resources.models",
    # the framework's own lazy imports at session start (the agent's toolsets) and in the
    # first speaking-rate window (numpy's FFT)
    "livekit.agents.llm.async_toolset",
    "numpy.fft",
)

steps_ms: dict[str, float] = {}
"""How long each step of :func:`warm_image` took in this image (for the start-up log)."""
failures: dict[str, str] = {}
"""Steps that raised (the call then pays that cost itself, or reports the error itself)."""


def warm_image() -> dict[str, float]:
    """Run every step once per process image (idempotent); returns the steps' durations."""
    if steps_ms:
        return steps_ms
    for name, step in (
        ("imports", _imports),
        ("clients", _clients),
        ("schemas", _schemas),
        ("entry_points", _entry_points),
        ("vad", _vad),
        ("transcript_pacing", _transcript_pacing),
    ):
        started = time.perf_counter()
        try:
            step()
        except Exception as exc:  # never stop the image: the call's own first use will tell
            failures[name] = f"{type(exc).__name__}: {exc}"[:200]
        steps_ms[name] = round((time.perf_counter() - started) * 1000, 1)
    return steps_ms


def freeze_image() -> None:
    """Keep the garbage collector off the image from now on (thread executor; the forkserver's
    own `_preload_freeze` does it for job processes). The calls share one process there, and
    every full collection walked the whole image: a 120 ms stall (124 ms of it GC) measured on
    a call's loop at call start."""
    import gc

    gc.collect()
    gc.freeze()


def warm_process() -> None:
    """In each job process (its setup), before it takes a call: the livekit-rtc runtime.

    Its first request at call start (RoomIO publishing the agent's track) would otherwise pay the
    runtime's start-up (up to ~575 ms measured with four calls starting). It starts threads, so it
    cannot be part of the forked image."""
    from livekit.rtc._ffi_client import FfiClient

    FfiClient.instance  # noqa: B018 - a class property: the first access starts the runtime


def _imports() -> None:
    for name in PLUGINS:
        importlib.import_module(f"livekit.plugins.{name}")
    for name in CALL_PATH_MODULES:
        importlib.import_module(name)


def _clients() -> None:
    """What a call's vendor clients set up on first use: the openai client's TLS context (the
    plugin's own client parses the CA bundle for every call: 18-20 ms of CPU idle, 370-495 ms
    stalls with four calls starting), livekit's aiohttp one (cached per process; its first use
    cost 113-196 ms) and the openai SDK's platform header."""
    from livekit.agents.utils import http_context

    from agent.call.providers import client_tls_context, openai_platform

    client_tls_context()
    http_context._create_ssl_context()
    openai_platform()  # the SDK's first request would work it out in a new thread


_WARM_DOCUMENT = {
    "call": {"id": "warm-image", "type": "web_call"},
    "assistant": {
        "name": "warm image",
        "first_message": "Hello.",
        "stt_config": {"provider": "deepgram", "model": "nova-3", "language": "en"},
        "llm_config": {"provider": "openai", "model": "gpt-4.1-mini"},
        "tts_config": {"provider": "elevenlabs", "voice_id": "warm-image"},
    },
}
"""A transient dispatch document: parsing it touches every schema a call's document does."""


def _schemas() -> None:
    """First uses of the pydantic models a call builds, each of which completes its schema on
    first use: the dispatch document (a 416 ms stall), livekit's ChatMessage (511 ms), the
    lifecycle settings dumped from the assistant (177-191 ms), the call's events; and the
    prompt variables' time zone."""
    from livekit.agents import llm

    from agent.call.lifecycle.settings import LifecycleSettings
    from agent.delivery.call_events import CallEvents
    from agent.delivery.logsink import LogSink
    from agent.intake.dispatch import parse_dispatch
    from agent.intake.options import parse_options
    from agent.intake.variables import fill_variables
    from agent.worker.settings import WorkerSettings

    llm.ChatMessage(role="system", content=["warm"])
    options = parse_options(WorkerSettings())
    spec = _complete(parse_dispatch(_WARM_DOCUMENT, room_name="warm-image", options=options))
    # the prompt variables read the assistant's time zone from disk (zoneinfo caches it)
    spec = fill_variables(spec, caller_number=None)
    LifecycleSettings.model_validate(spec.assistant.model_dump())
    events = CallEvents.for_call(spec, LogSink(), default_secret=None)
    events.status_update("in-progress").model_dump_json()


def _complete(coroutine: Coroutine[Any, Any, Any]) -> Any:
    """The result of a coroutine that never waits (a transient document's parse reads no saved
    assistant), without an event loop: there is none in the forkserver, and on the main thread
    of a thread-executed worker this runs inside the worker's own."""
    try:
        coroutine.send(None)
    except StopIteration as done:
        return done.value
    coroutine.close()
    raise RuntimeError("the warm-up document's parse waited for something")


def _entry_points() -> None:
    """Config sources and sinks look their plugins up per call (~40 ms each: every installed
    distribution's metadata read from disk)."""
    from agent.delivery.base import ENTRY_POINT_GROUP as SINKS
    from agent.entry_points import plugin_group
    from agent.intake.sources import ENTRY_POINT_GROUP as SOURCES

    plugin_group(SOURCES)
    plugin_group(SINKS)


def _vad() -> None:
    """The silero ONNX session every call's VAD runs on (agent/call/providers.py): ~10 MB and
    30-60 ms once per image instead of once per job process."""
    from agent.call.providers import silero_template

    silero_template()


def _transcript_pacing() -> None:
    from agent.call import transcript_pacing

    transcript_pacing.install()  # the worker logs it at start-up if it was not applied
