"""livekit's end-of-turn model for `endpointing_mode: model`: loaded only where the operator asks.

The model (``livekit.agents.inference.TurnDetector(version="v1-mini")``, an audio model that
scores the last 1.2 s of the caller's speech) has its weights inside the
``livekit-local-inference`` wheel, a hard dependency of livekit-agents, so it loads offline.
Loading it costs ~240 MB of RSS per process image (docs/benchmarks.md has the figures), so a
worker loads it only when ``VOICE_AGENT_TURN_MODEL`` is on: then the forkserver preloads it
(every job process shares the pages) and prewarm makes sure each job process has it
(:func:`load_turn_model`). Anywhere it is not loaded, a call asking for it is refused with
config_error naming the field before the call goes live (:func:`check_turn_model`), never
failed mid-call.

:class:`RecordedTurnDetector` is the model as a call uses it, telling the call record what
each prediction decided (the model's verdict is not surfaced by the framework).
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import time
from collections.abc import Callable

from livekit.agents import inference
from livekit.agents.inference.eot.base import _BaseStreamingTurnDetectorStream
from livekit.agents.inference.eot.transports import _LocalTransport
from livekit.agents.language import LanguageCode
from livekit.agents.types import DEFAULT_API_CONNECT_OPTIONS, APIConnectOptions
from livekit.agents.voice.turn import TurnDetectionEvent

from agent.call.endpointing import EndpointingDecision
from agent.contracts.assistant import AssistantConfig
from agent.contracts.turn_plan import EndpointingMode
from agent.errors import ConfigError

FIELD = "assistant.turn_config.endpointing_mode"
PRELOAD_ENV = "LIVEKIT_AGENTS_PRELOAD_LOCAL_INFERENCE"
"""The framework's switch for preloading local inference in the forkserver (``ipc/_preload.py``:
falsy never, any other value always; unset: only where no multiprocessing parent exists)."""

_loaded = False


def model_installed(module: str = "livekit.local_inference") -> bool:
    """Whether the package holding the weights is importable here."""
    return importlib.util.find_spec(module) is not None


def preload_in_forkserver(enabled: bool) -> None:
    """Tell the framework to preload the weights in the forkserver (shared by every job process)
    or not at all: set before the server starts its process pool."""
    os.environ[PRELOAD_ENV] = "1" if enabled else "0"


def load_turn_model() -> None:
    """Load the weights in this process (a no-op where the forkserver already did)."""
    global _loaded
    import livekit.local_inference as local_inference

    local_inference.init_eot()
    _loaded = True


def turn_model_loaded() -> bool:
    return _loaded


def check_turn_model(assistant: AssistantConfig, *, loaded: bool) -> None:
    """Refuse `endpointing_mode: model` where the model is not loaded."""
    if assistant.endpointing_mode is not EndpointingMode.MODEL:
        return
    if not loaded:
        raise ConfigError(
            "endpointing_mode `model`: this worker does not load livekit's end-of-turn model "
            "(VOICE_AGENT_TURN_MODEL is off); use `transcript`, or a worker that loads it",
            path=FIELD,
        )


class RecordedTurnStream(_BaseStreamingTurnDetectorStream):
    """The local model's stream, telling ``on_decision`` the wait each prediction chose."""

    def __init__(
        self,
        detector: RecordedTurnDetector,
        *,
        on_decision: Callable[[EndpointingDecision], None] | None,
    ) -> None:
        # as TurnDetector.stream() builds one for `turn-detector-v1-mini` (the local transport)
        super().__init__(
            detector=detector,
            opts=detector._opts,
            transport=_LocalTransport(opts=detector._opts),
            model=detector.model,
            local_fallback=detector._local_fallback,
        )
        self._recorded = detector
        self._on_decision = on_decision

    def predict(self) -> asyncio.Future[TurnDetectionEvent]:
        future = super().predict()
        future.add_done_callback(self._decided)
        return future

    def _decided(self, future: asyncio.Future[TurnDetectionEvent]) -> None:
        if self._on_decision is None or future.cancelled() or future.exception() is not None:
            return
        probability = future.result().end_of_turn_probability
        threshold = self._opts.thresholds.lookup(self._recorded.language)
        # the framework's own test (audio_recognition.py _bounce_eou_task): below the
        # language's threshold the turn is "unlikely" over and it waits max_delay
        likely = threshold is None or probability >= threshold
        self._on_decision(
            EndpointingDecision(
                transcript="",
                rule="model",
                wait_seconds=self._recorded.min_delay if likely else self._recorded.max_delay,
                decided_at=time.time(),
            )
        )


class RecordedTurnDetector(inference.TurnDetector):
    """``TurnDetector(version="v1-mini")`` (never the cloud ``v1``) whose predictions are
    recorded: ``min_delay`` when the turn is likely over, else ``max_delay``."""

    def __init__(
        self,
        *,
        language: str,
        min_delay: float,
        max_delay: float,
        on_decision: Callable[[EndpointingDecision], None] | None = None,
    ) -> None:
        super().__init__(version="v1-mini")
        self.language = LanguageCode(language)
        self.min_delay, self.max_delay = min_delay, max_delay
        self._on_decision = on_decision

    def stream(
        self, *, conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS
    ) -> RecordedTurnStream:
        return RecordedTurnStream(self, on_decision=self._on_decision)
