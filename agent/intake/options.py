"""ParseOptions from the operator's settings: one builder for the job, the simulator and `check`.

Whatever decides how a document is read (the secret resolver, the saved-assistant stores, the
operator's vendor defaults, the unknown-field policy, the outbound trunks, the call-length cap,
the join timeout) comes from WorkerSettings here, so a document that `check` accepts is read the
same way by a job and by a simulated call. `check` differs in one thing only: it always refuses
unknown fields.
"""

from __future__ import annotations

from agent.delivery.target_policy import TargetPolicy
from agent.intake.dispatch import ParseOptions, UnknownFields
from agent.intake.operator_defaults import OperatorDefaults
from agent.intake.saved import (
    ChainedAssistants,
    DirectoryAssistants,
    HttpAssistants,
    NoSavedAssistants,
    SavedAssistants,
)
from agent.intake.secrets import ResolvesSecrets, SecretResolver
from agent.worker.settings import WorkerSettings


def saved_assistants(settings: WorkerSettings) -> SavedAssistants:
    """The operator's stores: the directory (pinned by the operator) before the backend."""
    stores: list[SavedAssistants] = []
    if settings.assistants_dir:
        stores.append(DirectoryAssistants(settings.assistants_dir))
    if settings.assistants_url:
        secret = settings.assistants_secret or settings.webhook_secret
        stores.append(
            HttpAssistants(
                settings.assistants_url,
                policy=TargetPolicy(settings.allowed_targets),
                token=(
                    settings.assistants_token.get_secret_value()
                    if settings.assistants_token
                    else None
                ),
                secret=secret.get_secret_value() if secret else None,
                timeout=settings.assistants_timeout_seconds,
                cache_seconds=settings.assistants_cache_seconds,
            )
        )
    if not stores:
        return NoSavedAssistants()
    return stores[0] if len(stores) == 1 else ChainedAssistants(stores)


def operator_defaults(settings: WorkerSettings) -> OperatorDefaults:
    return OperatorDefaults(
        stt_provider=settings.default_stt_provider,
        stt_model=settings.default_stt_model,
        stt_language=settings.default_stt_language,
        llm_provider=settings.default_llm_provider,
        llm_model=settings.default_llm_model,
        tts_provider=settings.default_tts_provider,
        tts_model=settings.default_tts_model,
        tts_voice=settings.default_tts_voice,
    )


def parse_options(
    settings: WorkerSettings,
    *,
    resolver: ResolvesSecrets | None = None,
    saved: SavedAssistants | None = None,
    unknown_fields: UnknownFields | None = None,
) -> ParseOptions:
    """How this worker reads dispatch documents; `check` passes `unknown_fields="refuse"`."""
    return ParseOptions(
        resolver=resolver or SecretResolver.from_settings(settings),
        saved=saved if saved is not None else saved_assistants(settings),
        max_call_seconds=settings.max_call_seconds,
        join_timeout_seconds=settings.join_timeout_seconds,
        unknown_fields=unknown_fields or settings.unknown_fields,
        defaults=operator_defaults(settings),
        outbound_trunk_id=settings.sip_outbound_trunk_id,
        number_trunks=dict(settings.sip_number_trunks),
        webhook_format=settings.webhook_format,
    )
