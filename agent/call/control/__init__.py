"""Live control: a backend steers a running call with commands sent as LiveKit data packets.

- ``commands.py``: the four commands (wire format of the seed), validated with pydantic.
- ``rate.py``: at most 10 commands per minute per call (sliding window).
- ``channel.py``: who may send, what each command does to the call, ``attach_control``.
- ``command.py``: ``python -m agent control ROOM JSON`` (RoomService.SendData).
"""

CONTROL_TOPIC = "voice-agent.control"
"""The data-packet topic control commands travel on (the lk.* topics are LiveKit's own)."""
