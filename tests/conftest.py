"""Fixtures shared across the suite: real servers on 127.0.0.1 (webhook receiver, tool server,
the offline LiveKit server API). A test module that needs a differently scripted one defines
its own fixture of the same name, which takes precedence."""

from tests.support.receiver import receiver
from tests.support.telephony import livekit_server
from tests.support.tool_server import server

__all__ = ["livekit_server", "receiver", "server"]
