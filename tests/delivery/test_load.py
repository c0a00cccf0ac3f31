"""Finding sinks by name: built-ins, entry-point plugins, unknown names; the jsonl and log sinks.

The plugin test installs nothing: it writes a real ``*.dist-info`` with an
``entry_points.txt`` into a temporary directory on ``sys.path``, which is exactly what
``importlib.metadata`` reads for an installed package.
"""

from __future__ import annotations

import json
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from agent.delivery.base import EventSink, FanOutSink, SinkContext, load_sinks
from agent.delivery.jsonl import JsonlSink
from agent.delivery.logsink import LogSink
from agent.delivery.outbox import Outbox
from agent.delivery.target_policy import TargetPolicy
from agent.delivery.webhook import WebhookSink
from agent.entry_points import plugin_group
from agent.errors import ConfigError
from tests.support.receiver import SECRET, make_delivery


@pytest.fixture(autouse=True)
def _fresh_plugin_groups() -> Iterator[None]:
    """Entry points are read once per process: a test that installs a plugin on sys.path
    must not leave it cached for the tests after it (their sys.path no longer has it)."""
    plugin_group.cache_clear()
    yield
    plugin_group.cache_clear()


@pytest.fixture
def context(tmp_path: Path) -> SinkContext:
    return SinkContext(
        policy=TargetPolicy(),
        outbox=Outbox(tmp_path / "outbox"),
        jsonl_path=tmp_path / "events.jsonl",
    )


def install_plugin(root: Path, monkeypatch: pytest.MonkeyPatch, factory_body: str) -> None:
    # a module name per test: sys.modules would otherwise serve the previous test's plugin
    module = f"vasink_plugin_{uuid.uuid4().hex}"
    package = root / module
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(textwrap.dedent(factory_body))
    dist = root / f"{module}-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {module}\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(
        f"[voice_agent.sinks]\nrecorder = {module}:make_sink\nwebhook = {module}:make_sink\n"
    )
    monkeypatch.syspath_prepend(str(root))
    plugin_group.cache_clear()  # read once per process: this one was just installed


async def test_built_in_sinks_load_by_name(context: SinkContext) -> None:
    sinks = load_sinks(["webhook", "jsonl", "log"], context)
    assert [type(s) for s in sinks] == [WebhookSink, JsonlSink, LogSink]
    assert all(isinstance(s, EventSink) for s in sinks)


def test_unknown_sink_is_a_config_error_naming_it(context: SinkContext) -> None:
    with pytest.raises(ConfigError, match="'kafka'"):
        load_sinks(["log", "kafka"], context)


def test_jsonl_without_a_path_is_a_config_error(tmp_path: Path) -> None:
    context = SinkContext(policy=TargetPolicy(), outbox=Outbox(tmp_path))
    with pytest.raises(ConfigError, match="jsonl"):
        load_sinks(["jsonl"], context)


async def test_plugin_sinks_load_from_the_entry_point_group(
    context: SinkContext, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install_plugin(
        tmp_path / "site",
        monkeypatch,
        """
        class Recorder:
            def __init__(self, context):
                self.context = context
                self.seen = []

            async def submit(self, delivery):
                self.seen.append(delivery.delivery_id)

            async def flush(self, call_id=None, timeout=30.0):
                pass

            async def aclose(self, timeout=30.0):
                pass


        def make_sink(context):
            return Recorder(context)
        """,
    )
    with capture_logs() as logs:
        recorder, webhook = load_sinks(["recorder", "webhook"], context)
    assert type(recorder).__name__ == "Recorder"
    assert recorder.context is context  # type: ignore[attr-defined]
    # a plugin cannot replace a built-in sink by taking its name
    assert isinstance(webhook, WebhookSink)
    assert [e["event"] for e in logs] == ["sink_plugin_shadowed"]
    delivery = make_delivery(None)
    await recorder.submit(delivery)
    assert recorder.seen == [delivery.delivery_id]  # type: ignore[attr-defined]


def test_a_plugin_that_returns_no_sink_is_a_config_error(
    context: SinkContext, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install_plugin(tmp_path / "site", monkeypatch, "def make_sink(context):\n    return 42\n")
    with pytest.raises(ConfigError, match="recorder"):
        load_sinks(["recorder"], context)


async def test_jsonl_sink_appends_one_flushed_line_per_delivery(tmp_path: Path) -> None:
    path = tmp_path / "out" / "events.jsonl"
    sink = JsonlSink(path)
    first = make_delivery(None, seq=1)
    second = make_delivery("https://hooks.example/x", seq=2, event_type="end-of-call-report")
    await sink.submit(first)
    await sink.submit(second)
    # flushed per line: readable before the sink is closed
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    await sink.aclose()
    assert [(r["seq"], r["event_type"]) for r in lines] == [
        (1, "status-update"),
        (2, "end-of-call-report"),
    ]
    assert lines[0]["delivery_id"] == first.delivery_id
    assert lines[0]["event"]["message"]["note"] == "café – ok"
    assert SECRET not in path.read_text()
    # appends across restarts
    reopened = JsonlSink(path)
    await reopened.submit(make_delivery(None, seq=3))
    await reopened.aclose()
    assert len(path.read_text().splitlines()) == 3


async def test_log_sink_logs_the_event_but_never_the_body() -> None:
    delivery = make_delivery(None, seq=7, event_type="transcript")
    with capture_logs() as logs:
        await LogSink().submit(delivery)
    [entry] = logs
    assert (entry["event"], entry["log_level"]) == ("event_emitted", "info")
    assert (entry["call_id"], entry["event_type"], entry["seq"]) == ("call-1", "transcript", 7)
    assert "café" not in repr(logs)
    assert SECRET not in repr(logs)


async def test_fan_out_reaches_every_sink_even_if_one_fails(tmp_path: Path) -> None:
    class Broken:
        async def submit(self, delivery: object) -> None:
            raise RuntimeError("boom")

        async def flush(self, call_id: str | None = None, timeout: float = 30.0) -> None:  # noqa: ASYNC109
            return None

        async def aclose(self, timeout: float = 30.0) -> None:  # noqa: ASYNC109
            return None

    jsonl = JsonlSink(tmp_path / "e.jsonl")
    fan = FanOutSink([Broken(), jsonl])
    with capture_logs() as logs:
        await fan.submit(make_delivery(None))
    await fan.flush("call-1")
    await fan.aclose()
    assert len((tmp_path / "e.jsonl").read_text().splitlines()) == 1
    assert [e["event"] for e in logs] == ["sink_submit_failed"]
