"""LivekitTextFilter on single records: what livekit-agents' own lines may carry, by level and by
the call's gdpr_mode. Records go through real `livekit.*` loggers (livekit's own
"livekit.agents", a plugin's) to a capturing root handler, as in a job process."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator

import pytest

from agent.worker.logs import REDACTED, bind_call, unbind_call

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
