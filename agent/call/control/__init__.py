"""Live control: a backend steers a running call with commands sent as LiveKit data packets.

- ``agent/contracts/control.py``: the four commands (wire format of the seed), validated with
  pydantic.
- ``rate.py``: at most 10 commands per minute per call (sliding window).
- ``channel.py``: who may send, and what each command does to the call (through its
  ``CallHandle``); the room attaches it to ``data_received``.
- ``sender.py``: ``python -m agent control ROOM JSON``, the backend's side (RoomService.SendData).
"""

CONTROL_TOPIC = "voice-agent.control"
"""The data-packet topic control commands travel on (the lk.* topics are LiveKit's own)."""
