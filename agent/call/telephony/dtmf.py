"""Keypad digits (DTMF) both ways on a phone call.

In: LiveKit SIP turns the caller's key presses into the room event ``sip_dtmf_received``. A
reply per key would talk over someone typing an account number, so digits are collected and
handed to the LLM as one user turn, ``[DTMF] 1234#``, when the caller pauses for
``DTMF_GAP_SECONDS`` or presses ``#`` (which ends an entry on most IVRs):

    key "1" at 0.0 s, "2" at 0.8 s, pause -> "[DTMF] 12" at 0.8 + 2.0 = 2.8 s
    key "4", "#"                          -> "[DTMF] 4#" at once

The turn goes in through ``call.reply(user_input=...)`` (``session.generate_reply``): it lands
in the chat context as a user message (so the transcript and report show it) and the LLM
answers it.
Digits may be a PIN: they are never logged, only counted.

Out: the ``send_dtmf`` tool publishes digits with ``local_participant.publish_dtmf`` (IVR
navigation on outbound calls), ``DTMF_SPACING_SECONDS`` apart so the far end can tell them apart.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from livekit import rtc
from livekit.agents import llm

from agent.call.handle import CallHandle
from agent.clock import Clock, TimerHandle

log = structlog.get_logger(__name__)

DTMF_GAP_SECONDS = 2.0
"""A pause this long after a key ends the entry."""
DTMF_SPACING_SECONDS = 0.3
"""Pause between two sent digits."""
DTMF_PREFIX = "[DTMF]"
DIGITS = "0123456789*#ABCD"
TOOL_NAME = "send_dtmf"


def dtmf_code(digit: str) -> int:
    """RFC 4733 event code: 0-9 -> 0-9, * -> 10, # -> 11, A-D -> 12-15."""
    if digit not in DIGITS or len(digit) != 1:
        raise ValueError(f"not a DTMF digit: {digit!r}")
    return DIGITS.index(digit)


class DtmfCollector:
    """Gathers key presses into one entry; ``deliver(digits)`` runs when the entry ends."""

    def __init__(
        self, clock: Clock, deliver: Callable[[str], None], *, gap_seconds: float = DTMF_GAP_SECONDS
    ) -> None:
        self._clock = clock
        self._deliver = deliver
        self._gap = gap_seconds
        self._digits: list[str] = []
        self._timer: TimerHandle | None = None

    def press(self, digit: str) -> None:
        if len(digit) != 1 or digit.upper() not in DIGITS:
            log.debug("dtmf_ignored")
            return
        self._digits.append(digit.upper())
        if self._timer is not None:
            self._timer.cancel()
        if digit == "#":
            self.flush()
        else:
            self._timer = self._clock.call_later(self._gap, self.flush)

    def flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._digits:
            return
        digits, self._digits = "".join(self._digits), []
        log.info("dtmf_received", keys=len(digits))
        self._deliver(digits)


def dtmf_to_llm(call: CallHandle) -> Callable[[str], None]:
    """The collector's ``deliver``: one user turn ``[DTMF] digits`` that the LLM answers."""

    def deliver(digits: str) -> None:
        if call.is_ending:
            return
        call.reply(user_input=f"{DTMF_PREFIX} {digits}")

    return deliver


def bind_dtmf(room: rtc.Room, collector: DtmfCollector) -> Callable[[], None]:
    """Feed the room's ``sip_dtmf_received`` into ``collector``; returns a detach function."""

    def on_dtmf(event: rtc.SipDTMF) -> None:
        collector.press(event.digit)

    room.on("sip_dtmf_received", on_dtmf)

    def detach() -> None:
        room.off("sip_dtmf_received", on_dtmf)

    return detach


Publish = Callable[[int, str], Awaitable[None]]
"""``publish(code, digit)``: the room's ``publish_dtmf`` (``local_participant.publish_dtmf``
in production, agent/call/room.py)."""


def send_dtmf_tool(
    publish: Publish,
    *,
    pause: Callable[[float], Awaitable[Any]] = asyncio.sleep,
) -> llm.Tool:
    """The ``send_dtmf`` tool: press keys on the line (menus, extensions)."""
    schema: dict[str, Any] = {
        "name": TOOL_NAME,
        "description": (
            "Press keys on the phone keypad, e.g. to choose an option in an automated menu. "
            "Digits 0-9, * and #, in order."
        ),
        "parameters": {
            "type": "object",
            "properties": {
                "digits": {"type": "string", "pattern": "^[0-9*#A-D]{1,32}$"},
            },
            "required": ["digits"],
            "additionalProperties": False,
        },
    }

    async def send_dtmf(raw_arguments: dict[str, object]) -> str:
        digits = str(raw_arguments.get("digits", "")).upper()
        if not digits or len(digits) > 32 or any(d not in DIGITS for d in digits):
            raise llm.ToolError("digits must be 1-32 of 0-9, *, #, A-D")
        for index, digit in enumerate(digits):
            if index:
                await pause(DTMF_SPACING_SECONDS)
            try:
                await publish(dtmf_code(digit), digit)
            except Exception as exc:
                log.warning("dtmf_send_failed", error_type=type(exc).__name__)
                raise llm.ToolError(f"sending keys failed after {index} of {len(digits)}") from None
        log.info("dtmf_sent", keys=len(digits))
        return f"sent {len(digits)} key(s)"

    return llm.function_tool(send_dtmf, raw_schema=schema)
