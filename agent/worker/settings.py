"""Worker settings: everything the operator configures, validated once at start-up.

One class, read from the environment (and a `.env` file only when the CLI asks for it), so the
worker either starts with a coherent configuration or refuses to start and says why. Settings are
never built at import time: `WorkerSettings()` is called by the CLI and by tests.

Defaults are the `livekit-server --dev` values so local development needs zero configuration;
production mode refuses those dev credentials against anything but a local server.
"""

from __future__ import annotations

import ipaddress
import re
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import Annotated, Literal, Self
from urllib.parse import urlparse

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from agent.contracts.wire import WireFormatSetting

DEV_API_KEY = "devkey"
DEV_API_SECRET = "secret"  # noqa: S105 - the public livekit-server --dev secret, refused in production
DEFAULT_TENANT_SECRET_PREFIX = "VOICE_AGENT_TENANT_SECRET_"  # noqa: S105 - a name, not a secret
RESERVED_ENV_PREFIXES = ("LIVEKIT_", "VOICE_AGENT_")
"""A dispatch document's `secret:NAME` can never name an env var starting with these (the
tenant prefix is added by the worker, never written by the document)."""
_VENDOR_FALLBACK_ENV = frozenset(
    {
        # What the vendor plugins and the framework read by themselves when not handed a key:
        # the worker's even though WorkerSettings does not read them.
        "OPENAI_API_KEY",
        "AZURE_OPENAI_API_KEY",
        "DEEPGRAM_API_KEY",
        "ELEVEN_API_KEY",
        "ELEVENLABS_API_KEY",
        "SARVAM_API_KEY",
        "GROQ_API_KEY",
        "XAI_API_KEY",
        "OPENROUTER_API_KEY",
        "LIVEKIT_URL",
        "LIVEKIT_API_KEY",
        "LIVEKIT_API_SECRET",
    }
)
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_PROVIDER_HOST = re.compile(r"^(\*\.)?[a-z0-9_]([a-z0-9_.-]{0,251}[a-z0-9_])?$")


class WorkerMode(StrEnum):
    DEV = "dev"
    PRODUCTION = "production"


class Executor(StrEnum):
    """Where a worker runs its calls (docs/deployment.md "Calls per process": isolation
    versus density)."""

    PROCESS = "process"
    """One job process per call (forked from a warm image): a crash, an OOM kill or a stuck
    call ends that call only, the framework can kill a stuck call, and calls use every core."""
    THREAD = "thread"
    """Every call of the worker in its one process, one thread and event loop each: a fraction
    of the memory, but one crash ends every call of the worker, and the GIL caps the calls
    one process carries (THREAD_MAX_CONCURRENT_CALLS)."""


THREAD_MAX_CONCURRENT_CALLS = 16
"""Calls one thread-executed worker process may take. Measured (docs/benchmarks.md): one
thread and event loop per call, as the framework's thread executor runs them, keeps the turn
overhead's p95 under 50 ms up to 16 calls on a 2-core machine and not at 24 (the threads
contend for one GIL). More calls per pod: more worker processes (pods), not more threads."""


class LogFormat(StrEnum):
    AUTO = "auto"
    """JSON when stdout is not a terminal, a console renderer when it is."""
    JSON = "json"
    CONSOLE = "console"


def _split_csv(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


CsvList = Annotated[list[str], NoDecode]


def _is_local_url(url: str) -> bool:
    host = urlparse(url).hostname or ""
    if host in {"localhost", "livekit", "livekit-server"} or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class NumberRoute(BaseModel):
    """One entry of the operator's number table: the outbound trunk a platform number lives on,
    and the number itself (shown as caller id, reported as `agent_phone`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    trunk_id: str = Field(min_length=1, max_length=200)
    number: str | None = Field(None, pattern=r"^\+[1-9]\d{6,14}$")


def _route(value: object) -> object:
    return {"trunk_id": value} if isinstance(value, str) else value


class WorkerSettings(BaseSettings):
    """Operator settings. Env var names are given per field; `VOICE_AGENT_` is our prefix."""

    model_config = SettingsConfigDict(
        env_prefix="VOICE_AGENT_", extra="ignore", case_sensitive=False, validate_default=True
    )

    # --- LiveKit connection -------------------------------------------------------------
    livekit_url: str = Field(
        default="ws://localhost:7880", validation_alias=AliasChoices("LIVEKIT_URL", "livekit_url")
    )
    """LiveKit server URL (env `LIVEKIT_URL`). Default: a local `livekit-server --dev`."""
    livekit_api_key: str = Field(
        default=DEV_API_KEY, validation_alias=AliasChoices("LIVEKIT_API_KEY", "livekit_api_key")
    )
    """API key (env `LIVEKIT_API_KEY`). Default: the dev server's `devkey`."""
    livekit_api_secret: SecretStr = Field(
        default=SecretStr(DEV_API_SECRET),
        validation_alias=AliasChoices("LIVEKIT_API_SECRET", "livekit_api_secret"),
    )
    """API secret (env `LIVEKIT_API_SECRET`). Default: the dev server's `secret`."""

    turn_model: bool = False
    """Load livekit's local end-of-turn model for `turn_config.endpointing_mode: model` (env
    `VOICE_AGENT_TURN_MODEL=on`): ~240 MB per process image, preloaded in the forkserver so
    the job processes share it. Off: such a call is refused with config_error at call start,
    and no process loads the weights."""

    mode: WorkerMode = WorkerMode.DEV
    """`dev` or `production` (env `VOICE_AGENT_MODE`). Production refuses dev credentials."""
    name: str = Field("voice-agent", min_length=1)
    """Agent name for explicit dispatch (env `VOICE_AGENT_NAME`)."""

    # --- Provider keys (the vendors' usual env vars) and default endpoints ----------------
    deepgram_api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("DEEPGRAM_API_KEY", "deepgram_api_key")
    )
    openai_api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("OPENAI_API_KEY", "openai_api_key")
    )
    eleven_api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("ELEVEN_API_KEY", "eleven_api_key")
    )
    sarvam_api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("SARVAM_API_KEY", "sarvam_api_key")
    )
    openai_base_url: str = "https://api.openai.com/v1"
    """Default OpenAI-compatible endpoint for LLM, STT and TTS (env `VOICE_AGENT_OPENAI_BASE_URL`).
    A flat (CallMissed-style) `llm_model` of any name is sent here."""
    deepgram_base_url: str | None = None
    elevenlabs_base_url: str | None = None
    sarvam_base_url: str | None = None

    # --- Operations ---------------------------------------------------------------------
    log_format: LogFormat = LogFormat.AUTO
    log_level: str = "INFO"
    health_port: int = Field(8081, ge=0, le=65535)
    """The framework worker's health server (`GET /`)."""
    ready_port: int = Field(8082, ge=0, le=65535)
    """Our readiness/liveness server (`/readyz` fails while draining)."""
    prometheus_port: int = Field(9100, ge=0, le=65535)
    """`/metrics` of the whole worker, job processes included (livekit-agents serves it); 0: off."""
    prometheus_multiproc_dir: Path = Path("/tmp/voice-agent-metrics")  # noqa: S108 - tmpfs in k8s
    """Where every process writes its metrics for the scrape to merge; emptied at start. Must be
    writable (a tmpfs/emptyDir: the root filesystem is read-only)."""
    max_call_seconds: int = Field(3600, ge=10, le=43200)
    """Operator cap on any call's `max_duration_seconds`: a longer per-call limit is clamped."""
    join_timeout_seconds: int = Field(60, ge=5, le=600)
    """How long the agent waits in the room for the caller before ending the call `no_answer`
    (env `VOICE_AGENT_JOIN_TIMEOUT_SECONDS`; the seed's 60 s). Also the most a dispatch's
    `call.join_timeout_seconds` may ask for."""
    report_budget_seconds: int = Field(300, ge=10, le=3600)
    """Time a finished call may take to produce and deliver its report."""
    drain_timeout_seconds: int = Field(3960, ge=10)
    """How long SIGTERM waits for running calls (must exceed join timeout + max call + report
    budget: a call may wait for its caller, then run its whole limit, then report)."""
    max_concurrent_calls: int = Field(8, ge=1, le=1000)
    """Calls one worker process tree takes before it reports full load."""
    executor: Executor = Executor.PROCESS
    """`process`: one job process per call (isolation); `thread`: all of the worker's calls in
    its one process (density, at most THREAD_MAX_CONCURRENT_CALLS)."""
    load_threshold: float = Field(0.75, gt=0, le=1)

    # --- Events and secrets ------------------------------------------------------------------
    webhook_secret: SecretStr | None = None
    """Default signing secret when the assistant sets no `webhook_secret`."""
    webhook_format: WireFormatSetting = "auto"
    """Webhook dialect: `auto` (each document's: its `webhook_format`, else the dialect it is
    written in), or `hms` / `callmissed` for every call, whatever the documents say (env
    `VOICE_AGENT_WEBHOOK_FORMAT`)."""
    outbox_dir: Path = Path("outbox")
    allowed_targets: CsvList = Field(default_factory=list)
    """CIDRs or host names exempt from the SSRF guard (comma separated)."""
    secrets_dir: Path = Path("/run/secrets/voice-agent")
    """Mounted secret files a dispatch document may reference: `secret:NAME` reads
    `<secrets_dir>/NAME` (after the prefixed env var and the allowlist)."""
    tenant_secret_prefix: str = Field(DEFAULT_TENANT_SECRET_PREFIX, min_length=1)
    """Env vars exposed to dispatch documents: `secret:NAME` reads env `<prefix>NAME`
    (env `VOICE_AGENT_TENANT_SECRET_PREFIX`)."""
    tenant_secret_names: CsvList = Field(default_factory=list)
    """Plain env var names a document may reference as `secret:NAME` (comma separated; env
    `VOICE_AGENT_TENANT_SECRET_NAMES`). The worker's own settings are refused here."""
    provider_hosts: CsvList = Field(default_factory=list)
    """Hosts a dispatch document's provider `base_url` (or LLM preset) may point at, comma
    separated; `*.example.com` matches any subdomain. Empty: any host the target policy allows
    (env `VOICE_AGENT_PROVIDER_HOSTS`)."""
    assistants_dir: Path | None = None
    """Saved assistants (`<assistant_id>.json`) for reference/hybrid dispatches; none by default."""
    assistants_url: str | None = None
    """The backend's saved assistants: `GET {url}/{assistant_id}` answers one (after the
    directory, when both are set). Reached under the target policy (`allowed_targets`)."""
    assistants_token: SecretStr | None = None
    """Bearer token for `assistants_url`; without it the request is signed instead."""
    assistants_secret: SecretStr | None = None
    """Signs the `assistants_url` request when there is no token; falls back to `webhook_secret`."""
    assistants_timeout_seconds: float = Field(5.0, gt=0, le=30)
    """The whole lookup; the caller waits in silence meanwhile."""
    assistants_cache_seconds: float = Field(30.0, ge=0, le=3600)
    """How long a job process reuses a saved assistant it fetched (0: never)."""

    # --- Defaults for saved HMS assistants that name no vendor (never for CallMissed's) ----
    default_stt_provider: Literal["deepgram", "openai", "sarvam"] = "deepgram"
    default_stt_model: str | None = None
    """None: the provider's own default model."""
    default_stt_language: str | None = None
    default_llm_provider: Literal["openai", "openai-compatible", "xai", "groq", "openrouter"] = (
        "openai"
    )
    default_llm_model: str = Field("gpt-4.1-mini", min_length=1)
    """The model of the platform's own web-call example."""
    default_tts_provider: Literal["elevenlabs", "openai", "sarvam"] = "openai"
    """OpenAI by default: it needs no voice id."""
    default_tts_model: str | None = None
    default_tts_voice: str | None = None
    """Voice (ElevenLabs voice id, OpenAI voice, Sarvam speaker); None: the provider's default
    (ElevenLabs has none, so set it with `default_tts_provider=elevenlabs`)."""

    # --- Dispatch documents ----------------------------------------------------------------
    unknown_fields: Literal["warn", "refuse"] = "warn"
    """Unknown fields in a live call's document: `warn` drops them (listed in the report's
    `warnings`), `refuse` ends the call `config_error`. `check` always refuses."""
    sip_outbound_trunk_id: str | None = None
    """Outbound calls whose document names no trunk and no `number_id` dial through this one."""
    sip_number_trunks: dict[str, NumberRoute] = Field(default_factory=dict)
    """`number_id` -> outbound trunk: a JSON object, each value a trunk id or
    `{"trunk_id", "number"}` (the caller id). Empty: a `number_id` is itself the trunk id."""
    control_allowed_identities: CsvList = Field(default_factory=list)
    """Room participants whose control packets are accepted (the server API is always accepted)."""

    # --- Where configs come from and where events go (docs/plugging-in.md) -------------------
    config_source: str = Field("dispatch", min_length=1)
    """`dispatch` (dispatch metadata, else room metadata), `assistant-request` (ask a backend),
    or the name of a `voice_agent.config_sources` entry point (env `VOICE_AGENT_CONFIG_SOURCE`)."""
    assistant_request_url: str | None = None
    """Backend asked for the assistant when `config_source` is `assistant-request`."""
    assistant_request_secret: SecretStr | None = None
    """Signs the assistant-request; falls back to `webhook_secret`."""
    assistant_request_timeout_seconds: float = Field(5.0, gt=0, le=60)
    """The whole assistant-request exchange; the caller waits in silence meanwhile."""
    sinks: CsvList = Field(default_factory=lambda: ["webhook"], min_length=1)
    """Event sinks, in order (comma list): `webhook`, `jsonl`, `log`, or entry-point names."""
    jsonl_path: Path | None = None
    """File the `jsonl` sink appends to."""

    @field_validator(
        "allowed_targets",
        "control_allowed_identities",
        "sinks",
        "tenant_secret_names",
        "provider_hosts",
        mode="before",
    )
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        return _split_csv(value)

    @field_validator("tenant_secret_prefix")
    @classmethod
    def _env_name_prefix(cls, value: str) -> str:
        if not _ENV_NAME.match(value):
            raise ValueError("must be an env var name prefix (letters, digits, '_')")
        return value

    @field_validator("tenant_secret_names")
    @classmethod
    def _no_worker_names(cls, names: list[str]) -> list[str]:
        bad = [name for name in names if not _ENV_NAME.match(name)]
        if bad:
            raise ValueError(f"not env var names: {', '.join(sorted(bad))}")
        own = sorted(name for name in names if is_worker_name(name))
        if own:
            raise ValueError(
                f"{', '.join(own)}: the worker's own settings (and LIVEKIT_* / VOICE_AGENT_* "
                "names) can never be exposed to dispatch documents"
            )
        return names

    @field_validator("provider_hosts")
    @classmethod
    def _host_names(cls, hosts: list[str]) -> list[str]:
        hosts = [host.lower().rstrip(".") for host in hosts]
        bad = [host for host in hosts if not _PROVIDER_HOST.match(host)]
        if bad:
            raise ValueError(f"not host names: {', '.join(sorted(bad))}")
        return hosts

    @field_validator("sip_number_trunks", mode="before")
    @classmethod
    def _routes(cls, value: object) -> object:
        if isinstance(value, dict):
            return {key: _route(entry) for key, entry in value.items()}
        return value

    @model_validator(mode="after")
    def _assistants_url_authenticates(self) -> Self:
        if self.assistants_url and not (
            self.assistants_token or self.assistants_secret or self.webhook_secret
        ):
            raise ValueError(
                "VOICE_AGENT_ASSISTANTS_URL needs VOICE_AGENT_ASSISTANTS_TOKEN (bearer) or a "
                "signing secret (VOICE_AGENT_ASSISTANTS_SECRET or VOICE_AGENT_WEBHOOK_SECRET)"
            )
        return self

    @model_validator(mode="after")
    def _thread_executor_fits(self) -> Self:
        if (
            self.executor is Executor.THREAD
            and self.max_concurrent_calls > THREAD_MAX_CONCURRENT_CALLS
        ):
            raise ValueError(
                f"VOICE_AGENT_MAX_CONCURRENT_CALLS={self.max_concurrent_calls} is above the "
                f"{THREAD_MAX_CONCURRENT_CALLS} calls one thread-executed worker process "
                "carries (VOICE_AGENT_EXECUTOR=thread); run more worker processes instead"
            )
        return self

    @model_validator(mode="after")
    def _refuse_unsafe_production(self) -> Self:
        if self.mode is WorkerMode.PRODUCTION and not _is_local_url(self.livekit_url):
            dev_key = self.livekit_api_key == DEV_API_KEY
            dev_secret = self.livekit_api_secret.get_secret_value() == DEV_API_SECRET
            if dev_key or dev_secret:
                raise ValueError(
                    "refusing to start in production mode with the livekit-server --dev "
                    f"credentials ({'LIVEKIT_API_KEY=devkey' if dev_key else 'LIVEKIT_API_SECRET'}"
                    f") against a non-local LIVEKIT_URL ({urlparse(self.livekit_url).hostname}); "
                    "set LIVEKIT_API_KEY and LIVEKIT_API_SECRET to your server's credentials"
                )
        floor = self.join_timeout_seconds + self.max_call_seconds + self.report_budget_seconds
        if self.drain_timeout_seconds < floor:
            raise ValueError(
                f"VOICE_AGENT_DRAIN_TIMEOUT_SECONDS={self.drain_timeout_seconds} must be at least "
                "join_timeout_seconds + max_call_seconds + report_budget_seconds = "
                f"{floor}, or SIGTERM cuts calls short"
            )
        return self


@cache
def worker_env_names() -> frozenset[str]:
    """Every env var name the worker reads as its own (upper case): each setting's
    `VOICE_AGENT_*` name and aliases, and the vendors' fallback key variables."""
    names = set(_VENDOR_FALLBACK_ENV)
    prefix = str(WorkerSettings.model_config.get("env_prefix", ""))
    for field_name, info in WorkerSettings.model_fields.items():
        names.add(f"{prefix}{field_name}".upper())
        alias = info.validation_alias
        choices = alias.choices if isinstance(alias, AliasChoices) else [alias]
        names.update(choice.upper() for choice in choices if isinstance(choice, str))
    return frozenset(names)


def is_worker_env_name(name: str) -> bool:
    """Exactly one of the worker's own env vars (settings are read case-insensitively)."""
    return name.upper() in worker_env_names()


def is_worker_name(name: str) -> bool:
    """A name a dispatch document may never reference: a worker env var, or any name in the
    worker's own namespaces (`LIVEKIT_*`, `VOICE_AGENT_*`)."""
    return is_worker_env_name(name) or name.upper().startswith(RESERVED_ENV_PREFIXES)


def settings_errors(exc: ValidationError) -> list[str]:
    """One line per problem, naming the setting; never the value (it may be a secret)."""
    lines = []
    for err in exc.errors(include_url=False, include_input=False):
        where = ".".join(str(p) for p in err["loc"])
        message = err["msg"].removeprefix("Value error, ")
        lines.append(f"settings: {where}: {message}" if where else f"settings: {message}")
    return lines
