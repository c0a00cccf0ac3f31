"""HTTP function tools against real tool servers on 127.0.0.1, timers on a virtual clock.

Each test runs one tool call through :class:`HttpFunction` (what the livekit glue calls) and
checks what the model is shown, what the caller hears and what the server received. Every
request is checked with the seed's signature verifier. Nothing sleeps: a slow server holds its
answer until the test releases it, and the 3 s / 20 s timers move on a :class:`VirtualClock`.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest

from agent.call.tools import FAILED_MESSAGE, FunctionTools, build_function_tools
from agent.call.tools.http_function import HttpFunction
from agent.clock import VirtualClock
from agent.delivery.call_events import CallEvents
from agent.delivery.logsink import LogSink
from agent.delivery.target_policy import TargetPolicy
from tests.support.tool_server import BOOK, ToolServer, call_spec, tool_config


@dataclass
class Harness:
    tools: FunctionTools
    clock: VirtualClock
    said: list[str]

    @property
    def fn(self) -> HttpFunction:
        return self.tools.functions[0]

    def say(self, text: str) -> None:
        self.said.append(text)


@pytest.fixture
async def make() -> AsyncIterator[Any]:
    made: list[FunctionTools] = []

    async def build(
        *tools: dict[str, Any], webhook_url: str | None = None, policy: TargetPolicy | None = None
    ) -> Harness:
        spec = await call_spec(*tools, webhook_url=webhook_url)
        clock = VirtualClock()
        events = CallEvents.for_call(spec, LogSink())
        built = build_function_tools(
            spec, events=events, policy=policy or TargetPolicy.loopback_allowed(), clock=clock
        )
        made.append(built)
        return Harness(built, clock, [])

    yield build
    for built in made:
        await built.aclose()


async def test_fast_answer_reaches_the_model(server: ToolServer, make: Any) -> None:
    h = await make(tool_config(server.url))
    outcome = await h.fn.invoke("call_1", {"day": "friday", "guests": 2}, say=h.say)

    assert outcome.status == "ok"
    assert outcome.result == {"booked": True, "day": "friday"}
    assert json.loads(outcome.for_llm()) == {"booked": True, "day": "friday"}
    assert outcome.http_status == 200
    assert outcome.tool_ms > 0
    assert outcome.server_ms is not None
    assert h.said == ["One moment."]
    message = server.requests[0]["message"]
    assert message["type"] == "tool-calls"
    assert message["toolCallList"] == [
        {"id": "call_1", "name": "book_table", "arguments": {"day": "friday", "guests": 2}}
    ]
    assert message["call"]["id"] == "call-tools"
    assert server.signatures_ok == [True]
    assert server.headers[0]["X-Webhook-Event"] == "tool-calls"
    assert server.headers[0]["Authorization"] == "Bearer t"


async def test_slow_answer_speaks_the_delayed_message_then_succeeds(
    server: ToolServer, make: Any
) -> None:
    server.mode = "hang"
    h = await make(tool_config(server.url))
    task = asyncio.create_task(h.fn.invoke("call_1", {"day": "friday", "guests": 2}, say=h.say))
    await server.received.wait()
    h.clock.advance(2.9)
    assert h.said == ["One moment."]
    h.clock.advance(0.1)  # request_delayed_after_seconds = 3
    assert h.said == ["One moment.", "Still checking."]
    server.release.set()
    outcome = await task

    assert outcome.status == "ok"
    assert outcome.result["booked"] is True
    assert h.said == ["One moment.", "Still checking."]


async def test_timeout_tells_the_model_and_speaks_request_failed(
    server: ToolServer, make: Any
) -> None:
    server.mode = "hang"
    h = await make(tool_config(server.url))
    task = asyncio.create_task(h.fn.invoke("call_1", {"day": "friday", "guests": 2}, say=h.say))
    await server.received.wait()
    h.clock.advance(19.9)
    assert not task.done()
    h.clock.advance(0.1)  # server.timeout_seconds = 20
    outcome = await task

    assert outcome.status == "timeout"
    assert outcome.error is not None
    assert "did not answer within 20 seconds" in outcome.error
    assert h.said[-1] == "Sorry, the booking system is down."
    assert h.clock.pending == 0  # no timer left behind


async def test_http_500_is_a_failure(server: ToolServer, make: Any) -> None:
    server.mode = "500"
    h = await make(tool_config(server.url, request_failed=None))
    outcome = await h.fn.invoke("call_1", {"day": "friday", "guests": 2}, say=h.say)

    assert outcome.status == "failed"
    assert outcome.http_status == 500
    assert outcome.error == "failed: the tool server answered HTTP 500"
    assert h.said == ["One moment.", FAILED_MESSAGE]


async def test_wrong_response_shape_is_a_failure(server: ToolServer, make: Any) -> None:
    server.mode = "shape"
    h = await make(tool_config(server.url))
    outcome = await h.fn.invoke("call_1", {"day": "friday", "guests": 2}, say=h.say)

    assert outcome.status == "failed"
    assert outcome.error is not None
    assert "no result for this call" in outcome.error
    assert "toolCallId" in outcome.error  # the model (and the log reader) sees what was expected
    assert h.said[-1] == "Sorry, the booking system is down."


async def test_error_result_reaches_the_model_without_a_canned_line(
    server: ToolServer, make: Any
) -> None:
    server.mode = "error"
    h = await make(tool_config(server.url))
    outcome = await h.fn.invoke("call_1", {"day": "friday", "guests": 2}, say=h.say)

    assert outcome.status == "error"
    assert outcome.for_llm() == "error: no table free"
    assert h.said == ["One moment."]


async def test_redirect_is_not_followed(server: ToolServer, make: Any) -> None:
    server.mode = "redirect"
    h = await make(tool_config(server.url))
    outcome = await h.fn.invoke("call_1", {"day": "friday", "guests": 2}, say=h.say)

    assert outcome.status == "failed"
    assert outcome.http_status == 302
    assert len(server.requests) == 1


async def test_refused_target_sends_nothing(server: ToolServer, make: Any) -> None:
    h = await make(tool_config(server.url), policy=TargetPolicy())  # production: no loopback
    outcome = await h.fn.invoke("call_1", {"day": "friday", "guests": 2}, say=h.say)

    assert outcome.status == "failed"
    assert outcome.error is not None
    assert "not allowed" in outcome.error
    assert "/tools" not in outcome.error  # the host only, never the path
    assert server.requests == []
    assert h.said[-1] == "Sorry, the booking system is down."


@pytest.mark.parametrize(
    ("arguments", "problem"),
    [
        ({"day": "friday"}, "$: 'guests' is a required property"),
        ({"day": "sunday", "guests": 2}, "$.day: 'sunday' is not one of"),
        ({"day": "friday", "guests": "two"}, "$.guests: 'two' is not of type 'integer'"),
        ({"day": "friday", "guests": 40}, "$.guests: 40 is greater than the maximum of 12"),
        ("not json at all", "not a JSON object"),
    ],
)
async def test_schema_invalid_arguments_are_refused_before_any_request(
    server: ToolServer, make: Any, arguments: Any, problem: str
) -> None:
    h = await make(tool_config(server.url))
    outcome = await h.fn.invoke("call_1", arguments, say=h.say)

    assert outcome.status == "invalid_arguments"
    assert outcome.error is not None
    assert problem in outcome.error
    assert "nothing was sent" in outcome.error
    assert server.requests == []
    assert h.said == []


async def test_without_server_posts_to_the_webhook_url_signed_with_its_secret(
    server: ToolServer, make: Any
) -> None:
    h = await make(tool_config(None), webhook_url=server.url)
    outcome = await h.fn.invoke("call_9", {"day": "saturday", "guests": 4}, say=h.say)

    assert outcome.status == "ok"
    assert server.signatures_ok == [True]
    assert server.requests[0]["message"]["toolCallList"][0]["id"] == "call_9"


async def test_two_calls_run_concurrently(server: ToolServer, make: Any) -> None:
    server.expect_together = 2  # neither is answered until both are in flight
    h = await make(tool_config(server.url))
    first, second = await asyncio.gather(
        h.fn.invoke("call_a", {"day": "friday", "guests": 2}, say=h.say),
        h.fn.invoke("call_b", {"day": "saturday", "guests": 3}, say=h.say),
    )

    assert (first.status, second.status) == ("ok", "ok")
    assert first.result["day"] == "friday"
    assert second.result["day"] == "saturday"
    assert server.max_in_flight == 2


async def test_stop_abandons_the_request_at_once(server: ToolServer, make: Any) -> None:
    server.mode = "hang"
    h = await make(tool_config(server.url))
    interrupted: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(
        h.fn.invoke("call_1", {"day": "friday", "guests": 2}, say=h.say, stops=[interrupted])
    )
    await server.received.wait()
    interrupted.set_result(None)
    outcome = await task

    assert outcome.status == "cancelled"
    assert outcome.error is not None
    assert "outcome is unknown" in outcome.error
    assert h.said == ["One moment."]  # no failure line over a caller who is talking
    assert h.clock.pending == 0


async def test_cancelling_the_call_cancels_the_request(server: ToolServer, make: Any) -> None:
    server.mode = "hang"
    h = await make(tool_config(server.url))
    before = asyncio.all_tasks()
    task = asyncio.create_task(h.fn.invoke("call_1", {"day": "friday", "guests": 2}, say=h.say))
    await server.received.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    leftover = [t for t in asyncio.all_tasks() - before if not t.done() and t is not task]
    assert not [t for t in leftover if "post" in repr(t.get_coro())]
    assert h.clock.pending == 0


async def test_cancel_pending_ends_requests_in_flight(server: ToolServer, make: Any) -> None:
    server.mode = "hang"
    h = await make(tool_config(server.url))
    call_over = h.tools._call_over_future()
    task = asyncio.create_task(
        h.fn.invoke("call_1", {"day": "friday", "guests": 2}, say=h.say, stops=[call_over])
    )
    await server.received.wait()
    h.tools.cancel_pending()
    outcome = await task

    assert outcome.status == "cancelled"


def test_raw_schema_is_offered_as_written() -> None:
    spec = asyncio.run(call_spec(tool_config("https://tools.example/x")))
    built = build_function_tools(
        spec, events=CallEvents.for_call(spec, LogSink()), policy=TargetPolicy()
    )
    (tool,) = built.tools
    assert tool.id == "book_table"
    assert built.functions[0].raw_schema == {
        "name": "book_table",
        "description": "Book a table",
        "parameters": BOOK,
    }


# ---- hostile answers: refused, never parsed in part, the caller hears the failure line ------


def answer_with(result: Any) -> Any:
    def answer(call_id: str) -> bytes:
        body = {"results": [{"toolCallId": call_id, "result": result}]}
        return json.dumps(body, ensure_ascii=False).encode()

    return answer


@pytest.mark.parametrize("chunked", [False, True])
async def test_an_answer_over_the_cap_is_refused_as_too_large(
    server: ToolServer, make: Any, chunked: bool
) -> None:
    server.mode = "raw"
    server.answer = answer_with("x" * 1_000_000)  # 1 MB of valid JSON
    server.chunk_bytes = 64 * 1024 if chunked else 0  # declared length, or none to trust
    h = await make(tool_config(server.url))
    outcome = await h.fn.invoke("call_1", {"day": "friday", "guests": 2}, say=h.say)

    assert outcome.status == "failed"
    assert outcome.error == "failed: the tool server's answer is larger than 262144 bytes"
    assert outcome.result is None
    assert h.said[-1] == "Sorry, the booking system is down."


async def test_an_answer_spread_over_many_chunks_is_read_whole(
    server: ToolServer, make: Any
) -> None:
    rows = [{"table": i, "note": "é" * 40} for i in range(1500)]  # ~100 KB
    server.mode = "raw"
    server.answer = answer_with({"rows": rows})
    server.chunk_bytes = 1000
    h = await make(tool_config(server.url))
    outcome = await h.fn.invoke("call_1", {"day": "friday", "guests": 2}, say=h.say)

    assert outcome.status == "ok", outcome.error
    assert outcome.result == {"rows": rows}
    assert h.said == ["One moment."]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'{"results":[{"toolCallId":"call_1","result":"yes","result":"no"}]}',
         "duplicate key 'result': the document is ambiguous"),
        (b"[" * 100_000, "nested more than 64 levels deep"),
        (b'{"results":[{"toolCallId":"call_1","result":' + b"[" * 80 + b"]" * 80 + b"}]}",
         "nested more than 64 levels deep"),
        (b'{"results":[{"toolCallId":"call_1","result":NaN}]}', "NaN is not a JSON number"),
        (b'{"results":[{"toolCallId":"call_1","result":"\xfe"}]}', "not UTF-8"),
        (b"<html>502 Bad Gateway</html>", "not valid JSON"),
    ],
)  # fmt: skip
async def test_unreadable_answers_are_refused_and_the_caller_hears_it(
    server: ToolServer, make: Any, body: bytes, reason: str
) -> None:
    server.mode = "raw"
    server.answer = lambda _call_id: body
    h = await make(tool_config(server.url))
    outcome = await h.fn.invoke("call_1", {"day": "friday", "guests": 2}, say=h.say)

    assert outcome.status == "failed"
    assert outcome.error is not None
    assert outcome.error.startswith("failed: the tool server's answer was refused: ")
    assert reason in outcome.error
    assert h.said[-1] == "Sorry, the booking system is down."


async def test_lone_surrogates_in_arguments_and_answer_become_replacement_characters(
    server: ToolServer, make: Any
) -> None:
    server.mode = "raw"
    server.answer = lambda call_id: (
        b'{"results":[{"toolCallId":"' + call_id.encode() + b'","result":{"n\\ud83d":"\\udc00"}}]}'
    )
    h = await make(tool_config(server.url))
    arguments = {"day": "friday", "guests": 2, "note\ud83d": "window \udc00"}
    outcome = await h.fn.invoke("call_1", arguments, say=h.say)

    assert outcome.status == "ok", outcome.error
    assert outcome.result == {"n\ufffd": "\ufffd"}
    cleaned = {"day": "friday", "guests": 2, "note\ufffd": "window \ufffd"}
    assert outcome.arguments == cleaned
    assert server.requests[0]["message"]["toolCallList"][0]["arguments"] == cleaned
    assert server.signatures_ok == [True]


async def test_arguments_nested_past_the_schema_limit_are_refused_unsent(
    server: ToolServer, make: Any
) -> None:
    deep: Any = 1
    for _ in range(200):
        deep = [deep]
    h = await make(tool_config(server.url))
    outcome = await h.fn.invoke("call_1", {"day": "friday", "guests": deep}, say=h.say)

    assert outcome.status == "invalid_arguments"
    assert "nested more than 32 levels deep" in (outcome.error or "")
    assert server.requests == []
