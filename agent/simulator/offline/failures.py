"""Broken vendors on purpose: the failures a scenario injects into the offline stand-ins.

A call must end with ``error`` (and a report) when a provider is down for good, and must not
hang when a request is stuck. To exercise that path the stand-ins fail the way real plugins
fail, by raising the framework's own ``APIStatusError`` / ``APITimeoutError`` /
``APIConnectionError`` from inside their stream, so the framework's retry loop runs exactly as
in production; only its retry settings are made small, so a scenario fails in about a second
instead of the defaults' 3 retries spaced 2 s apart:

    attempts = max_retry + 1
    given up after = attempts * (time to fail) + 0.1 + (max_retry - 1) * retry_interval
    defaults here: 2 attempts; an LLM failing after its 0.25 s TTFT: 2 * 0.25 + 0.1 = 0.6 s

A stall never answers at all; like the OpenAI plugin, whose read timeout is the session's
``conn_options.timeout``, it gives up with ``APITimeoutError`` after ``timeout_seconds``
(``stall_timeout_seconds`` here when set, the framework's conn_options otherwise) and is retried.
"""

from __future__ import annotations

from typing import Literal

from livekit.agents.types import APIConnectOptions
from pydantic import Field

from .latencies import OfflineLatencies


class OfflineProviders(OfflineLatencies):
    """A scenario's ``providers`` section: the vendors' waits and, optionally, their failures."""

    llm_fail: bool = False
    """Every LLM attempt fails with HTTP 503 after ``llm_ttft_ms`` (retried, then given up)."""
    llm_stall: bool = False
    """Every LLM attempt sends nothing until its timeout (then ``APITimeoutError``, retried)."""
    stall_timeout_seconds: float | None = Field(default=None, gt=0)
    """A stalled attempt's timeout; None: the session's ``conn_options.timeout``."""
    tts_fail_after: int | None = Field(default=None, ge=0)
    """Syntheses after the first N fail to connect (0: even the greeting fails)."""
    max_retry: int = Field(default=1, ge=0)
    """Retries the framework makes for a failing vendor, when a failure is injected."""
    retry_interval: float = Field(default=0.1, ge=0)
    """Seconds between retries after the first (which the framework makes after 0.1 s)."""
    sip_transfer: Literal["ok", "fail"] = "ok"
    """How the offline SIP gateway answers a transfer (REFER): done, or rejected (486 Busy)."""
    sip_transfer_ms: float = Field(default=0.0, ge=0)
    """How long the REFER takes to come back (the far end ringing, then answering or not)."""

    @property
    def injects_failure(self) -> bool:
        return self.llm_fail or self.llm_stall or self.tts_fail_after is not None

    def conn_options(self, given: APIConnectOptions) -> APIConnectOptions:
        """The retry settings a failing vendor is retried with: small ones when a failure is
        injected (the scenario's), the session's own otherwise."""
        if not self.injects_failure:
            return given
        return APIConnectOptions(
            max_retry=self.max_retry,
            retry_interval=self.retry_interval,
            timeout=self.stall_timeout_seconds or given.timeout,
        )
