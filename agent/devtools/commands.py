"""`python -m agent dispatch` and `python -m agent token`: start a call without a platform.

A platform starts a call by creating a room and an explicit agent dispatch whose metadata is
the dispatch document; `dispatch` does exactly that through the LiveKit server API (Twirp:
RoomService.CreateRoom, AgentDispatchService.CreateDispatch, agent name `VOICE_AGENT_NAME`).
`token` mints a join token for the same room, for LiveKit's web playground or any client.
Both read the worker's own settings (LIVEKIT_URL, LIVEKIT_API_KEY, LIVEKIT_API_SECRET), so with
`livekit-server --dev` they need no configuration. The API secret is never printed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from agent.worker.settings import WorkerSettings

ROOM_EMPTY_TIMEOUT_SECONDS = 300
"""A dispatched room nobody joins closes after 5 minutes."""
TOKEN_TTL = timedelta(hours=6)


async def create_dispatch(settings: WorkerSettings, room: str, metadata: str) -> dict[str, str]:
    """Create ``room`` (a no-op when it exists) and dispatch the worker into it."""
    from livekit import api

    async with api.LiveKitAPI(
        url=settings.livekit_url,
        api_key=settings.livekit_api_key,
        api_secret=settings.livekit_api_secret.get_secret_value(),
    ) as lk:
        created = await lk.room.create_room(
            api.CreateRoomRequest(name=room, empty_timeout=ROOM_EMPTY_TIMEOUT_SECONDS)
        )
        dispatch = await lk.agent_dispatch.create_dispatch(
            api.CreateAgentDispatchRequest(agent_name=settings.name, room=room, metadata=metadata)
        )
    return {"room": created.name, "dispatch_id": dispatch.id, "agent_name": dispatch.agent_name}


def join_token(
    settings: WorkerSettings, room: str, identity: str, *, ttl: timedelta = TOKEN_TTL
) -> str:
    """A token to join ``room`` as ``identity``, publishing microphone audio and data."""
    from livekit import api

    return (
        api.AccessToken(settings.livekit_api_key, settings.livekit_api_secret.get_secret_value())
        .with_identity(identity)
        .with_name(identity)
        .with_ttl(ttl)
        .with_grants(
            api.VideoGrants(
                room_join=True,
                room=room,
                can_publish=True,
                can_subscribe=True,
                can_publish_data=True,
            )
        )
        .to_jwt()
    )


def _settings() -> WorkerSettings | None:
    from pydantic import ValidationError

    from agent.worker.settings import WorkerSettings

    try:
        return WorkerSettings()
    except ValidationError as exc:
        for err in exc.errors(include_url=False, include_input=False):
            print(f"settings: {err['msg']}", file=sys.stderr)
        return None


def cmd_dispatch(args: argparse.Namespace) -> int:
    try:
        text = sys.stdin.read() if args.file == "-" else Path(args.file).read_text("utf-8")
        json.loads(text)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        print(f"cannot use {args.file} as a dispatch document: {exc}", file=sys.stderr)
        return 2
    settings = _settings()
    if settings is None:
        return 2
    try:
        result = asyncio.run(create_dispatch(settings, args.room, text))
    except Exception as exc:  # a CLI: say what failed, no traceback
        print(
            f"dispatch failed against {settings.livekit_url}: {type(exc).__name__}: {exc}",
            file=sys.stderr,
        )
        return 1
    print(json.dumps(result))
    print(
        f"next: python -m agent token --room {args.room} --identity me  (join from a browser)",
        file=sys.stderr,
    )
    return 0


def cmd_token(args: argparse.Namespace) -> int:
    settings = _settings()
    if settings is None:
        return 2
    print(join_token(settings, args.room, args.identity, ttl=timedelta(minutes=args.ttl_minutes)))
    print(
        f"server URL: {settings.livekit_url}  (https://agents-playground.livekit.io, or "
        "https://meet.livekit.io -> Custom: paste the URL and this token)",
        file=sys.stderr,
    )
    return 0


def register_dispatch(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "dispatch", help="local dev: create a room and dispatch the worker with a document"
    )
    parser.add_argument("--room", required=True, help="room name (created if missing)")
    parser.add_argument("file", help="dispatch document (JSON), or - for standard input")
    parser.set_defaults(func=cmd_dispatch)


def register_token(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("token", help="local dev: print a join token for a room")
    parser.add_argument("--room", required=True)
    parser.add_argument("--identity", required=True, help="your participant identity")
    parser.add_argument("--ttl-minutes", type=int, default=int(TOKEN_TTL.total_seconds() // 60))
    parser.set_defaults(func=cmd_token)
