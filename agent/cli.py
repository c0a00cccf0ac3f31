"""Command line: `python -m agent <command>` (also installed as `voice-agent`).

Each command is a thin shell over the module that does the work; heavy imports (the framework,
the plugins) happen inside the command so `check` and `schema` answer in a fraction of a second.
Exit codes: 0 success, 1 the thing checked is wrong or the run failed, 2 bad usage or input file.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from pydantic import ValidationError

from agent.errors import ConfigError


def _settings_or_exit() -> object:
    from agent.worker.settings import WorkerSettings, settings_errors

    try:
        return WorkerSettings()
    except ValidationError as exc:
        for line in settings_errors(exc):
            print(line, file=sys.stderr)
        raise SystemExit(2) from None


def cmd_check(args: argparse.Namespace) -> int:
    """Validate a document as a job would read it, but strictly: unknown fields are errors
    here (the live path drops them with a warning), so a backend's CI catches typos."""
    from agent.intake.dispatch import parse_dispatch
    from agent.intake.options import parse_options, saved_assistants
    from agent.intake.saved import (
        ChainedAssistants,
        DirectoryAssistants,
        SavedAssistants,
        SavedAssistantUnavailable,
        StaticAssistants,
    )
    from agent.intake.secrets import ReferencesOnly, ResolvesSecrets, SecretResolver
    from agent.intake.summary import describe
    from agent.worker.settings import WorkerSettings

    text = sys.stdin.read() if args.file == "-" else _read(args.file)
    if text is None:
        return 2
    settings = _settings_or_exit()
    assert isinstance(settings, WorkerSettings)
    resolver: ResolvesSecrets
    if args.skip_secrets:
        # A backend validating a document holds none of the worker's secrets; references are
        # still checked for what can never resolve (malformed, or a worker setting).
        resolver = ReferencesOnly()
    else:
        resolver = SecretResolver.from_settings(settings, secrets_dir=args.secrets_dir)
    stores: list[SavedAssistants] = []
    if args.assistants_dir is not None:
        stores.append(DirectoryAssistants(args.assistants_dir))
    stores.append(saved_assistants(settings))
    if args.assistant:
        # A saved-assistant body: checked as the worker reads one, by reference.
        try:
            body = json.loads(text)
        except ValueError as exc:
            print(f"invalid: {args.file} is not JSON: {exc}", file=sys.stderr)
            return 1
        if not isinstance(body, dict):
            print(f"invalid: {args.file} is not a JSON object", file=sys.stderr)
            return 1
        stores = [StaticAssistants({"checked-assistant": body})]
        text = json.dumps({"assistant_id": "checked-assistant"})
    options = parse_options(
        settings, resolver=resolver, saved=ChainedAssistants(stores), unknown_fields="refuse"
    )
    try:
        spec = asyncio.run(
            parse_dispatch(
                text,
                room_name="check",
                origin="room" if args.room_metadata else "dispatch",
                options=options,
            )
        )
    except ConfigError as exc:
        print(f"invalid: {len(exc.problems)} problem(s) in {args.file}", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return 1
    except SavedAssistantUnavailable as exc:
        print(f"could not check {args.file}: {exc}", file=sys.stderr)
        return 2
    for warning in spec.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    print(f"ok: {describe(spec)}")
    return 0


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        print(f"cannot read {path}: {exc}", file=sys.stderr)
        return None


def cmd_schema(args: argparse.Namespace) -> int:
    from agent.contracts.schema import SCHEMA_DIR, schemas, write_schemas

    if args.write:
        for path in write_schemas(Path(args.dir) if args.dir else SCHEMA_DIR):
            print(f"wrote {path}")
        return 0
    print(schemas()[args.name], end="")
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from agent.worker.settings import WorkerSettings

    settings = _settings_or_exit()
    assert isinstance(settings, WorkerSettings)
    if settings.prometheus_port:
        # Before livekit.agents imports prometheus_client: calls run in job processes, whose
        # metrics reach the main process's /metrics only through this directory
        # (agent/worker/metrics.py).
        os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", str(settings.prometheus_multiproc_dir))
        Path(os.environ["PROMETHEUS_MULTIPROC_DIR"]).mkdir(parents=True, exist_ok=True)
    from agent.worker.main import run_worker

    return run_worker(settings, dev=args.command == "dev")


def cmd_outbox_replay(args: argparse.Namespace) -> int:
    from agent.delivery.outbox import Outbox, OutboxBusy
    from agent.delivery.target_policy import TargetPolicy
    from agent.worker.settings import WorkerSettings

    settings = _settings_or_exit()
    assert isinstance(settings, WorkerSettings)
    outbox = Outbox(args.directory or settings.outbox_dir)
    try:
        default_secret = (
            settings.webhook_secret.get_secret_value() if settings.webhook_secret else None
        )
        result = asyncio.run(
            outbox.replay(
                TargetPolicy(settings.allowed_targets),
                default_secret=default_secret,
                include_gone=args.include_gone,
            )
        )
    except OutboxBusy:
        print("outbox is being replayed by another process; try again later", file=sys.stderr)
        return 1
    print(
        json.dumps(
            {
                "delivered": result.delivered,
                "failed": result.failed,
                "dropped": result.dropped,
                "gone": result.gone,
                "held": result.held,
                "remaining": result.remaining,
                "bad_files": [str(p) for p in result.bad],
            }
        )
    )
    return 0 if result.failed == 0 else 1


def cmd_outbox_list(args: argparse.Namespace) -> int:
    from agent.delivery.outbox import Outbox
    from agent.worker.settings import WorkerSettings

    settings = _settings_or_exit()
    assert isinstance(settings, WorkerSettings)
    for parked in Outbox(args.directory or settings.outbox_dir).pending():
        entry = parked.entry
        held = " held=gone" if entry.gone else ""
        print(
            f"{entry.delivery_id} call={entry.call_id} event={entry.event_type} seq={entry.seq}"
            f"{held} reason={json.dumps(entry.reason)}"
        )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m agent", description="Self-hosted LiveKit voice agent worker."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    start = sub.add_parser("start", help="run the production worker (drains on SIGTERM)")
    start.set_defaults(func=cmd_worker)
    dev = sub.add_parser("dev", help="run against a local livekit-server --dev")
    dev.set_defaults(func=cmd_worker)

    check = sub.add_parser("check", help="validate a dispatch document")
    check.add_argument("file", help="JSON file, or - for standard input")
    check.add_argument(
        "--room-metadata",
        action="store_true",
        help="treat it as room metadata (warns about literal secrets)",
    )
    check.add_argument(
        "--skip-secrets",
        action="store_true",
        help="accept secret:NAME references without resolving them (reserved names are "
        "still refused)",
    )
    check.add_argument("--secrets-dir", type=Path, default=None)
    check.add_argument(
        "--assistants-dir",
        type=Path,
        default=None,
        help="saved assistants (<id>.json) for reference/hybrid documents, before the worker's "
        "own stores (VOICE_AGENT_ASSISTANTS_DIR / _URL)",
    )
    check.add_argument(
        "--assistant",
        action="store_true",
        help="the file is a saved-assistant body (as the store returns it), not a document",
    )
    check.set_defaults(func=cmd_check)

    schema = sub.add_parser("schema", help="print or write the JSON Schemas under config/")
    schema.add_argument("--write", action="store_true", help="write every schema file")
    schema.add_argument("--dir", default=None, help="directory to write into (default: config/)")
    schema.add_argument("--name", default="dispatch.schema.json", help="schema to print")
    schema.set_defaults(func=cmd_schema)

    outbox = sub.add_parser("outbox", help="webhook outbox: what could not be delivered")
    outbox_sub = outbox.add_subparsers(dest="outbox_command", required=True, metavar="ACTION")
    replay = outbox_sub.add_parser("replay", help="send every parked delivery again")
    replay.add_argument(
        "directory", nargs="?", type=Path, default=None,
        help="outbox directory (default: VOICE_AGENT_OUTBOX_DIR); e.g. a dead pod's directory",
    )  # fmt: skip
    replay.add_argument(
        "--include-gone",
        action="store_true",
        help="also send deliveries held because their receiver answered 410 Gone",
    )
    replay.set_defaults(func=cmd_outbox_replay)
    listing = outbox_sub.add_parser("list", help="list parked deliveries")
    listing.add_argument("directory", nargs="?", type=Path, default=None)
    listing.set_defaults(func=cmd_outbox_list)

    for register in _extra_commands():
        register(sub)
    return parser


def _extra_commands() -> list[
    Callable[[argparse._SubParsersAction[argparse.ArgumentParser]], None]
]:
    """Commands that live with the module they drive (simulator, outbox, control, local dev)."""
    from agent.bench.command import register as register_bench
    from agent.call.control.sender import register as register_control
    from agent.devtools.commands import register_dispatch, register_token
    from agent.simulator.command import register as register_simulate

    return [register_dispatch, register_token, register_simulate, register_bench, register_control]


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except KeyboardInterrupt:
        return 130
    except ConfigError as exc:
        print(json.dumps({"error": str(exc)}), file=sys.stderr)
        return 2
