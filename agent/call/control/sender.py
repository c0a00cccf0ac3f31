"""`python -m agent control ROOM COMMAND`: send one live control command to a running call.

It does what a backend does: ``RoomService.SendData`` through the LiveKit server API
(``LIVEKIT_URL``, ``LIVEKIT_API_KEY``, ``LIVEKIT_API_SECRET``), reliable, on the control topic,
to the agent's identity (``--identity``) or, without it, to everyone in the room (the caller's
client can then read the command, so pass the agent's identity in production). The command is
validated here first, with the same model the agent uses.

Exit codes: 0 sent, 1 the server refused or could not be reached, 2 invalid command.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

from pydantic import ValidationError

from agent.call.control import CONTROL_TOPIC


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    control = sub.add_parser("control", help="send a live control command to a running call")
    control.add_argument("room", help="the call's LiveKit room name")
    control.add_argument(
        "command", help='JSON, e.g. \'{"type": "say", "content": "Hi"}\'; - reads stdin'
    )
    control.add_argument(
        "--identity", default=None, help="the agent's participant identity (default: everyone)"
    )
    control.set_defaults(func=cmd_control)


async def send_control(
    *,
    url: str,
    api_key: str,
    api_secret: str,
    room: str,
    command: bytes,
    identity: str | None,
) -> None:
    """One ``SendData`` request carrying ``command`` on the control topic."""
    from livekit import api

    async with api.LiveKitAPI(url, api_key, api_secret) as lkapi:
        await lkapi.room.send_data(
            api.SendDataRequest(
                room=room,
                data=command,
                kind=api.DataPacket.Kind.RELIABLE,
                destination_identities=[identity] if identity else [],
                topic=CONTROL_TOPIC,
            )
        )


def cmd_control(args: argparse.Namespace) -> int:
    import aiohttp
    from livekit import api

    from agent.contracts.control import InvalidCommand, parse_command
    from agent.worker.settings import WorkerSettings, settings_errors

    text = sys.stdin.read() if args.command == "-" else args.command
    try:
        command = parse_command(text)
    except InvalidCommand as exc:
        print(f"invalid command: {exc}", file=sys.stderr)
        return 2
    try:
        settings = WorkerSettings()
    except ValidationError as exc:
        for line in settings_errors(exc):
            print(line, file=sys.stderr)
        return 2
    try:
        asyncio.run(
            send_control(
                url=settings.livekit_url,
                api_key=settings.livekit_api_key,
                api_secret=settings.livekit_api_secret.get_secret_value(),
                room=args.room,
                command=command.model_dump_json(exclude_none=True).encode(),
                identity=args.identity,
            )
        )
    except api.ServerError as exc:
        print(f"livekit refused: {exc.code}: {exc.message}", file=sys.stderr)
        return 1
    except (OSError, TimeoutError, aiohttp.ClientError) as exc:
        print(f"livekit unreachable: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print(json.dumps({"sent": command.type, "room": args.room, "topic": CONTROL_TOPIC}))
    return 0
