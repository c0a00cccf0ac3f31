"""LivekitTextFilter on single records: what livekit-agents' own lines may carry, by level and by
the call's gdpr_mode. Records go through real `livekit.*` loggers (livekit's own
"livekit.agents", a plugin's) to a capturing root handler, as in a job process. Then phone
numbers: in participant and room names, in the bound call context, in rendered lines."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator

import pytest
import structlog

from agent.worker.logs import REDACTED, bind_call, configure_logging, unbind_call
from agent.worker.settings import LogFormat

SAID = "my card number is four two four two"


class Captured(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def texts(self) -> list[str]:
        return [f"{r.levelname} {r.getMessage()} {r.__dict__!r}" for r in self.records]


@pytest.fixture
def captured() -> Iterator[Captured]:
    handler = Captured()
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
        unbind_call()


LIVEKIT = logging.getLogger("livekit.agents")
PLUGIN = logging.getLogger("livekit.plugins.deepgram")


def test_debug_transcript_kept_without_gdpr_and_dropped_with_it(captured: Captured) -> None:
    bind_call(call_id="plain", room="r")
    LIVEKIT.debug("received user transcript", extra={"lk.pii.user_transcript": SAID})
    assert len(captured.records) == 1
    assert SAID in captured.texts()[0]

    bind_call(call_id="private", room="r", gdpr=True)
    LIVEKIT.debug("received user transcript", extra={"lk.pii.user_transcript": SAID})
    LIVEKIT.debug("conversation_item_added", extra={"role": "user", "lk.pii.text": SAID})
    PLUGIN.debug("final", extra={"transcript": SAID})
    assert len(captured.records) == 1


def test_lines_without_text_pass_under_gdpr(captured: Captured) -> None:
    bind_call(call_id="private", room="r", gdpr=True)
    LIVEKIT.debug("user turn committed", extra={"speech_id": "s1"})
    LIVEKIT.info("session closed")
    logging.getLogger("agent.something").debug("ours", extra={"text": "ours to judge"})
    assert [r.getMessage() for r in captured.records] == [
        "user turn committed",
        "session closed",
        "ours",
    ]


def test_info_with_text_becomes_debug_or_is_dropped(captured: Captured) -> None:
    LIVEKIT.info("amd prediction", extra={"category": "human", "lk.pii.transcript": SAID})
    (record,) = captured.records
    assert record.levelno == logging.DEBUG

    captured.records.clear()
    logging.getLogger().setLevel(logging.INFO)
    LIVEKIT.info("amd prediction", extra={"category": "human", "lk.pii.transcript": SAID})
    assert captured.records == []

    logging.getLogger().setLevel(logging.DEBUG)
    bind_call(call_id="private", room="r", gdpr=True)
    LIVEKIT.info("DTMF inputs received", extra={"lk.pii.dtmf_inputs": "4 2"})
    assert captured.records == []


@pytest.mark.parametrize("gdpr", [False, True])
def test_warnings_keep_their_level_without_the_text(captured: Captured, gdpr: bool) -> None:
    bind_call(call_id="c", room="r", gdpr=gdpr)
    LIVEKIT.warning("skipping user input", extra={"lk.pii.user_input": SAID, "speech_id": "s"})
    (record,) = captured.records
    assert record.levelno == logging.WARNING
    assert record.__dict__["lk.pii.user_input"] == REDACTED
    assert record.__dict__["speech_id"] == "s"
    assert SAID not in captured.texts()[0]


async def test_gdpr_is_per_call_context(captured: Captured) -> None:
    async def call(call_id: str, gdpr: bool, ready: asyncio.Event, go: asyncio.Event) -> None:
        bind_call(call_id=call_id, room=call_id, gdpr=gdpr)
        ready.set()
        await go.wait()  # both calls are bound before either logs
        LIVEKIT.debug("received user transcript", extra={"lk.pii.user_transcript": call_id})

    go = asyncio.Event()
    ready = [asyncio.Event(), asyncio.Event()]
    calls = [
        asyncio.create_task(call("private-call", True, ready[0], go)),
        asyncio.create_task(call("plain-call", False, ready[1], go)),
    ]
    await asyncio.gather(*(event.wait() for event in ready))
    go.set()
    await asyncio.gather(*calls)
    said = [r.__dict__.get("lk.pii.user_transcript") for r in captured.records]
    assert [text for text in said if text] == ["plain-call"]


# -- phone numbers in names and values ---------------------------------------------------------

IDENTITY = "sip_+31612345678"
SIP_ROOM = "call-_31612345678_x3Fq"
SALES = "+31201234567"


def test_livekit_participant_and_room_fields_are_masked_at_info(captured: Captured) -> None:
    bind_call(call_id="plain", room="r")
    LIVEKIT.info("linked", extra={"participant": IDENTITY, "room": SIP_ROOM, "track_id": "TR_1"})
    LIVEKIT.debug("input stream attached", extra={"participant": IDENTITY})
    info, debug = captured.records
    assert (info.__dict__["participant"], info.__dict__["room"]) == (
        "sip_[PHONE]",
        "call-_[PHONE]_x3Fq",
    )
    assert info.__dict__["track_id"] == "TR_1"
    assert debug.__dict__["participant"] == IDENTITY  # debug, no gdpr: allowed


def test_under_gdpr_livekit_records_lose_every_number(captured: Captured) -> None:
    bind_call(call_id="private", room="r", gdpr=True)
    LIVEKIT.debug("input stream attached", extra={"participant": IDENTITY, "n": 3})
    LIVEKIT.info("participant disconnected from caller room: %s, closing", IDENTITY)
    PLUGIN.warning(f"dial to {SALES} failed", extra={"sip_call_to": SALES})
    texts = "\n".join(captured.texts())
    assert len(captured.records) == 3
    assert "31612345678" not in texts
    assert "31201234567" not in texts
    assert captured.records[0].__dict__["n"] == 3


def test_bind_call_masks_numbers_in_the_room_and_a_room_named_call_id() -> None:
    uuid_call = "550e8400-e29b-41d4-a716-446655440000"
    try:
        bind_call(call_id=uuid_call, room=SIP_ROOM)
        bound = structlog.contextvars.get_contextvars()
        assert (bound["call_id"], bound["room"]) == (uuid_call, "call-_[PHONE]_x3Fq")
        bind_call(call_id=SIP_ROOM, room=SIP_ROOM)  # no call.id: the call id is the room name
        assert structlog.contextvars.get_contextvars()["call_id"] == "call-_[PHONE]_x3Fq"
        bind_call(call_id="order-1234567", room="r", gdpr=True)
        assert structlog.contextvars.get_contextvars()["call_id"] == "order-1234567"
        bind_call(call_id="1234567890", room="r", gdpr=True)
        assert structlog.contextvars.get_contextvars()["call_id"] == "[PHONE]"
    finally:
        unbind_call()


def test_rendered_lines_under_gdpr_carry_no_number() -> None:
    """The real pipeline (configure_logging, JSON to a stream): a line of ours that passes a
    number anyway, nested or in the event text, renders without it under gdpr_mode only."""
    saved_config = structlog.get_config()
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    stream = io.StringIO()
    try:
        configure_logging(LogFormat.JSON, "DEBUG", stream=stream)
        ours = structlog.get_logger("tests.numbers")  # a fresh logger: no module's is cached
        bind_call(call_id="private", room="r", gdpr=True)
        ours.debug("dialled", to=SALES, nested={"tries": [f"sip:{SALES}@pbx"]}, count=1234567)
        logging.getLogger("tests.stdlib").info("to %s", SALES)
        unbind_call()
        ours.debug("dialled", to=SALES)
    finally:
        structlog.configure(**saved_config)
        root.handlers[:], root.level = saved_handlers, saved_level
        unbind_call()
    private_line, stdlib_line, plain_line = (
        json.loads(line) for line in stream.getvalue().splitlines()
    )
    assert private_line["to"] == "[PHONE]"
    assert private_line["nested"] == {"tries": ["sip:[PHONE]@pbx"]}
    assert private_line["count"] == 1234567  # numbers that are not text stay
    assert stdlib_line["event"] == "to [PHONE]"
    assert plain_line["to"] == SALES  # without gdpr_mode a debug line may carry it
