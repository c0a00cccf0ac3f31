"""The offline vendor stand-ins on their own: what they emit, in what order, how long.

Latencies are zero here, so nothing waits on a timer; the session-level tests in
test_simulator_call.py run them at their configured latencies.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from livekit import rtc
from livekit.agents import llm, stt

from agent.simulator import OfflineLatencies, OfflineLLM, OfflineSTT, OfflineTTS
from agent.simulator.offline import FALLBACK_REPLY
from agent.simulator.offline.stt import words_heard
from agent.simulator.script import HangupStep, SayStep, SilenceStep, parse_caller_script
from agent.simulator.speech import (
    CALLER_SAMPLE_RATE,
    HEARD_LINE_KEY,
    CallerLine,
    CallerSpeech,
    HeardLine,
    seconds_to_say,
)

NO_WAIT = OfflineLatencies(stt_final_ms=0, llm_ttft_ms=0, tts_ttfb_ms=0, llm_tokens_per_second=1e6)
FRAME = 320  # 20 ms at 16 kHz


def _frames(
    seconds: float, line: CallerLine | None = None, *, start: float = 0.0
) -> Iterator[rtc.AudioFrame]:
    """20 ms frames, tagged as ``line`` from ``start`` seconds into it when given."""
    count = round(seconds / 0.02)
    for index in range(count):
        frame = rtc.AudioFrame(b"\0\0" * FRAME, CALLER_SAMPLE_RATE, 1, FRAME)
        if line is not None:
            offset = start + index * 0.02
            last = offset + 0.02 >= line.seconds - 1e-9
            frame.userdata[HEARD_LINE_KEY] = HeardLine(line=line, offset=offset, last=last)
        yield frame


def _chat(*turns: tuple[str, str]) -> llm.ChatContext:
    chat_ctx = llm.ChatContext.empty()
    for role, text in turns:
        chat_ctx.add_message(role=role, content=text)  # type: ignore[arg-type]
    return chat_ctx


def test_words_heard_extends_the_cut_to_the_end_of_the_word() -> None:
    assert words_heard("book a table", 0.5) == "book a"
    assert words_heard("book a table", 0.0) == ""
    assert words_heard("book a table", 1.0) == "book a table"


def test_line_length_follows_the_speaking_rate() -> None:
    assert seconds_to_say("x" * 30) == pytest.approx(2.0)
    assert seconds_to_say("ok") == pytest.approx(0.4)  # never under the minimum
    speech = CallerSpeech()
    pcm = speech.pcm_for(CallerLine(line_id=4, text="y" * 75, seconds=5.0))
    assert len(pcm) == 5 * CALLER_SAMPLE_RATE * 2  # looped past the 2.4-3 s recordings
    assert any(pcm[:3200])  # real speech, not silence


def test_caller_script_short_form() -> None:
    steps = parse_caller_script(
        [
            {"say": "Hi"},
            {"barge_in": "Wait", "after_seconds": 1.5},
            {"silence": 3},
            {"hangup": "now"},
        ]
    )
    assert steps == [
        SayStep(text="Hi"),
        SayStep(text="Wait", barge_in=True, barge_in_after_seconds=1.5),
        SilenceStep(seconds=3),
        HangupStep(wait_for_agent=False),
    ]


async def test_stt_transcribes_the_tagged_line_by_audio_time() -> None:
    line = CallerLine(line_id=0, text="I would like to book a table", seconds=1.0)
    offline = OfflineSTT(latencies=OfflineLatencies(stt_final_ms=100))
    stream = offline.stream()
    for frame in [*_frames(0.2), *_frames(1.0, line), *_frames(0.3)]:
        stream.push_frame(frame)
    stream.end_input()
    events = [ev async for ev in stream]

    kinds = [ev.type for ev in events if ev.type != stt.SpeechEventType.RECOGNITION_USAGE]
    assert kinds[0] == stt.SpeechEventType.START_OF_SPEECH
    assert kinds[-2:] == [stt.SpeechEventType.FINAL_TRANSCRIPT, stt.SpeechEventType.END_OF_SPEECH]
    interims = [ev.alternatives[0].text for ev in events if ev.type.name == "INTERIM_TRANSCRIPT"]
    assert len(interims) == 3  # every 0.3 s of a 1.0 s line
    assert all(line.text.startswith(text) for text in interims)
    assert len(interims[0]) < len(interims[-1])
    final = next(ev for ev in events if ev.type == stt.SpeechEventType.FINAL_TRANSCRIPT)
    assert final.alternatives[0].text == line.text
    # the line's audio ended at 1.2 s of stream time; the final waits 0.1 s of audio more
    assert final.alternatives[0].end_time == pytest.approx(1.2)
    assert [f.text for f in offline.finals] == [line.text]
    usage = sum(
        ev.recognition_usage.audio_duration for ev in events if ev.recognition_usage is not None
    )
    assert usage == pytest.approx(1.5)


async def test_stt_finalises_a_line_cut_short_with_the_words_heard() -> None:
    line = CallerLine(line_id=1, text="could we make that four people instead", seconds=2.0)
    stream = OfflineSTT(latencies=NO_WAIT).stream()
    for frame in _frames(1.0, line):  # the caller hung up half way
        stream.push_frame(frame)
    stream.end_input()
    finals = [ev async for ev in stream if ev.type == stt.SpeechEventType.FINAL_TRANSCRIPT]
    assert [ev.alternatives[0].text for ev in finals] == ["could we make that four"]


async def test_stt_flush_finalises_the_pending_line() -> None:
    line = CallerLine(line_id=2, text="what time do you open", seconds=0.4)
    stream = OfflineSTT(latencies=OfflineLatencies(stt_final_ms=10_000)).stream()
    for frame in _frames(0.4, line):
        stream.push_frame(frame)
    stream.flush()  # long before the configured final: the framework asked for it
    for frame in _frames(0.1):
        stream.push_frame(frame)
    stream.end_input()
    events = [ev async for ev in stream]
    finals = [ev for ev in events if ev.type == stt.SpeechEventType.FINAL_TRANSCRIPT]
    assert len(finals) == 1
    assert finals[0].alternatives[0].text == line.text


async def test_llm_answers_each_step_from_the_script_then_falls_back() -> None:
    offline = OfflineLLM(
        [{"say": "For how many people?"}, {"tool": {"name": "book", "arguments": {"n": 2}}}],
        latencies=NO_WAIT,
    )
    first = await offline.chat(chat_ctx=_chat(("user", "Book a table"))).collect()
    again = await offline.chat(chat_ctx=_chat(("user", "Book a table please"))).collect()
    second_ctx = _chat(("user", "Book a table"), ("assistant", "For how?"), ("user", "Two"))
    second = await offline.chat(chat_ctx=second_ctx).collect()
    third_ctx = _chat(*[("user", "a"), ("assistant", "b")] * 3)
    third = await offline.chat(chat_ctx=third_ctx).collect()

    assert first.text == "For how many people?"
    assert again.text == first.text  # the same step asked again (preemptive generation)
    assert second.text == ""
    assert [(c.name, json.loads(c.arguments)) for c in second.tool_calls] == [("book", {"n": 2})]
    assert third.text == FALLBACK_REPLY
    assert third.tool_calls == []
    assert first.usage is not None
    assert first.usage.completion_tokens > 0
    assert first.usage.prompt_tokens > 0
    assert [r.step for r in offline.requests] == [0, 0, 1, 2]
    assert offline.requests[2].chat_ctx.items[-1].text_content == "Two"  # type: ignore[union-attr]


async def test_llm_keeps_only_the_words_when_tools_are_forbidden() -> None:
    offline = OfflineLLM(
        [{"say": "One moment.", "tool": {"name": "book"}}],
        latencies=NO_WAIT,
    )
    reply = await offline.chat(chat_ctx=_chat(("user", "Book")), tool_choice="none").collect()
    assert reply.text == "One moment."
    assert reply.tool_calls == []


@pytest.mark.parametrize("streaming", [True, False])
async def test_tts_audio_lasts_as_long_as_saying_the_text(streaming: bool) -> None:
    text = "Your table for two is booked for Friday at seven."  # 49 characters
    offline = OfflineTTS(latencies=NO_WAIT, sample_rate=24_000, streaming=streaming)
    if streaming:
        stream = offline.stream()
        for word in text.split(" "):
            stream.push_text(word + " ")
        stream.end_input()
        frames = [ev.frame async for ev in stream]
        await stream.aclose()
    else:
        frames = [ev.frame async for ev in offline.synthesize(text)]

    seconds = sum(frame.duration for frame in frames)
    expected = len(text) / 15 + (1 / 15 if streaming else 0)  # the pushed trailing space
    assert seconds == pytest.approx(expected, abs=0.01)
    assert {frame.sample_rate for frame in frames} == {24_000}
    assert len(offline.syntheses) == 1
    assert offline.syntheses[0].first_audio_at is not None
