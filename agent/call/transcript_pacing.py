"""Transcript pacing: the framework's speaking-rate estimate, computed in array operations.

While the agent speaks, livekit-agents paces the text it publishes on `lk.transcription` to the
audio the caller hears (RoomIO's `TranscriptSynchronizer`, `sync_transcription=True`). For that
it estimates the agent's speaking rate from the audio: every 100 ms, over the last second, the
spectral flux of 25 ms frames (`SpeakingRateStream._spectral_flux` and `_stft`,
livekit/agents/voice/transcription/_speaking_rate.py). Its 1.8.9 code runs one `np.fft.rfft`
per frame and a second Python loop over frame pairs: 9-17 ms of CPU per second of agent speech
(16-48 kHz), 11-22 % of a call's CPU in the bench. :func:`spectral_flux` does the same
arithmetic in the same order as one batched FFT over a strided view of the frames, 3-6x faster,
and returns the **same value** (tests/call/test_transcript_pacing.py proves it on random audio
against the framework's own method). So the text the caller sees, and when, is unchanged.

The replacement is installed only on the code it was proven against: livekit-agents 1.8.9 with
the original's source hash below. Anything else (an upgrade, an image without .py sources)
leaves the framework's own method in place and :func:`not_applied_reason` says why (the worker
logs it once at start-up). A test pins that it *is* applied on the locked version, so an
upgrade fails CI instead of silently losing the speed-up.

Turning transcript sync off would remove the estimate altogether, but it changes what callers
see (`lk.transcription` would run ahead of the audio and not be cut where an interruption cut
the speech), so it is not offered.
"""

from __future__ import annotations

import hashlib
import inspect
from collections.abc import Callable
from typing import Any

import numpy as np
import structlog

log = structlog.get_logger(__name__)

PATCHED_VERSION = "1.8.9"
"""The only livekit-agents version whose code the replacement was proven equal to."""
ORIGINAL_SHA256 = "1cede1fda1d86761d438aaab7215821fcecdd8140addcd8376054623751c9d1e"
"""sha256 of the source of `SpeakingRateStream._spectral_flux`, a newline, and `_stft` (1.8.9)."""

_MARK = "__voice_agent_transcript_pacing__"


def spectral_flux(audio: np.ndarray[Any, Any], sample_rate: int) -> float:
    """`SpeakingRateStream._spectral_flux(audio, sample_rate)` of livekit-agents 1.8.9.

    The arithmetic as the original does it, so the value is equal, not just close: float32
    frames times the float64 Hann window, one rfft per frame (complex128) scaled by
    1/sqrt(sum(window^2)), magnitudes, the L1 norm of each consecutive pair's difference, mean.
    """
    frame_length = int(sample_rate * 0.025)  # 25 ms frames
    hop_length = frame_length // 2  # 50 % overlap
    num_frames = (len(audio) - frame_length) // hop_length + 1
    if num_frames < 0:
        # the original's np.zeros((bins, num_frames)) refuses it (the stream never gets here:
        # it analyses at least half of its 1 s window)
        raise ValueError("negative dimensions are not allowed")
    if num_frames < 2:
        return 0.0  # no pair of frames: the original's empty flux list
    window = np.hanning(frame_length)
    scale_factor = 1.0 / np.sqrt(np.sum(window**2))
    windows = np.lib.stride_tricks.sliding_window_view(audio, frame_length)
    frames = windows[::hop_length][:num_frames]
    magnitudes = np.abs(np.fft.rfft(frames * window, axis=1) * scale_factor)
    flux = np.sum(np.abs(magnitudes[1:] - magnitudes[:-1]), axis=1)
    return float(np.mean(flux))


def _stream_class() -> Any:
    from livekit.agents.voice.transcription._speaking_rate import SpeakingRateStream

    return SpeakingRateStream


def framework_spectral_flux() -> Callable[..., float]:
    """The framework's own method (unbound: ``(stream, audio, sample_rate)``), installed or not."""
    method = _stream_class().__dict__["_spectral_flux"]
    return getattr(method, "__wrapped__", method)  # type: ignore[no-any-return]


def source_sha256() -> str:
    """The hash :data:`ORIGINAL_SHA256` pins, of the installed framework's code."""
    text = "\n".join(
        inspect.getsource(f) for f in (framework_spectral_flux(), _stream_class()._stft)
    )
    return hashlib.sha256(text.encode()).hexdigest()


def not_applied_reason() -> str | None:
    """Why the replacement would not be installed here (None: it would be, or it is)."""
    from livekit.agents import version

    if version.__version__ != PATCHED_VERSION:
        return f"livekit-agents {version.__version__} is not {PATCHED_VERSION}"
    try:
        digest = source_sha256()
    except (OSError, TypeError) as exc:  # no .py sources in the image
        return f"the framework's source is not readable ({type(exc).__name__})"
    if digest != ORIGINAL_SHA256:
        return "SpeakingRateStream._spectral_flux/_stft differ from the code it was proven on"
    return None


def installed() -> bool:
    return bool(getattr(_stream_class().__dict__["_spectral_flux"], _MARK, False))


def install() -> bool:
    """Put :func:`spectral_flux` in place of the framework's method when (and only when) it is
    the proven code. Idempotent; never raises; returns whether it is in place."""
    if installed():
        return True
    if not_applied_reason() is not None:
        return False
    original = framework_spectral_flux()

    def _spectral_flux(self: Any, audio: np.ndarray[Any, Any], sample_rate: int) -> float:
        return spectral_flux(audio, sample_rate)

    setattr(_spectral_flux, _MARK, True)
    _spectral_flux.__wrapped__ = original  # type: ignore[attr-defined]
    _stream_class()._spectral_flux = _spectral_flux
    return True


_told = False


def tell_if_not_applied() -> None:
    """Log once per process that the framework's own (slower) method stays in place, and why.
    Never from the forkserver (it has no logging of its own): the worker calls this at start-up,
    the simulator before its first call."""
    global _told
    reason = not_applied_reason()
    if reason is None or _told:
        return
    _told = True
    log.warning(
        "transcript_pacing_not_sped_up",
        reason=reason,
        effect="the framework's own speaking-rate estimate runs (same text, more CPU)",
    )
