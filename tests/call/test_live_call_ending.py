"""How a LiveCall lets go of its work when the lifecycle ends the call (production ordering).

In a job the framework closes the session *before* `on_session_end` runs `LiveCall.finish()`,
and that close awaits a running tool. So a tool request still in flight must be abandoned when
the call ends, not only in `finish()`. The tool server is real (127.0.0.1) and holds its answer
until the test ends; vendors are the offline simulator's.
"""

from __future__ import annotations

import asyncio

from agent.delivery.logsink import LogSink
from tests.support.offline_call import offline_call
from tests.support.tool_server import ToolServer, call_spec, server, tool_config

__all__ = ["server"]  # the fixture, used by name


async def test_a_tool_request_in_flight_is_abandoned_when_the_caller_hangs_up(
    server: ToolServer,
) -> None:
    server.mode = "hang"  # the backend never answers on its own
    spec = await call_spec(tool_config(server.url))
    call = offline_call(spec, LogSink())
    tools = call.function_tools
    request = asyncio.create_task(
        tools.functions[0].invoke(
            "call_1",
            {"day": "friday", "guests": 2},
            say=lambda _text: None,
            stops=[tools._call_over_future()],
        )
    )
    try:
        await server.received.wait()
        # what the room binding does when the caller's leg drops (bind_room)
        call.lifecycle.on_caller_left("CLIENT_INITIATED")
        # A bound, not a timing: without the fix the request waits for the backend forever.
        done, _ = await asyncio.wait({request}, timeout=10.0)
        assert request in done
        assert request.result().status == "cancelled"
        assert call.lifecycle.is_ended
    finally:
        request.cancel()
        await tools.aclose()
