"""Whatever happens in a call, in whatever order: one end record, one hang-up, never late.

Hypothesis drives a call with random interleavings of session events, caller behaviour,
failures (TTS down) and end requests on the virtual clock, then checks the guarantees the
lifecycle makes for every call:

- ``hang_up()`` is called exactly once, and the ended listener fires exactly once;
- the recorded reason is the first one requested (or the policy's own, if none was);
- no call outlives its limit by more than ``GoodbyeBudget.cap_seconds`` (10 s), and no
  ending takes longer than the cap from the moment it started.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from agent.call.lifecycle import CallEnd, CallLifecycle, LifecycleSettings, SilenceSettings
from agent.clock import VirtualClock
from agent.contracts.end_reason import EndReason
from tests.support.lifecycle_fakes import ScriptedSession

LIMIT = 120.0
CAP = 10.0
ROUNDING = 1e-9  # float addition on the virtual clock: 6.5968830999143 + 10.0 - 6.5968830999143

_event = st.one_of(
    st.tuples(st.just("advance"), st.floats(min_value=0.0, max_value=20.0)),
    st.tuples(st.just("agent_state"), st.sampled_from(["listening", "thinking", "speaking"])),
    st.tuples(st.just("user_state"), st.sampled_from(["speaking", "listening", "away"])),
    st.tuples(st.just("transcript"), st.sampled_from(["", "...", "yes", "hello there"])),
    st.tuples(st.just("reply"), st.floats(min_value=0.1, max_value=30.0)),
    st.tuples(st.just("tool"), st.sampled_from(["started", "finished"])),
    st.tuples(st.just("transfer"), st.sampled_from(["started", "failed", "ok"])),
    st.tuples(st.just("tts_down"), st.booleans()),
    st.tuples(
        st.just("end"),
        st.sampled_from(
            [EndReason.USER_HANGUP, EndReason.AGENT_HANGUP, EndReason.ERROR, EndReason.VOICEMAIL]
        ),
    ),
    st.tuples(st.just("commit"), st.sampled_from(["Sure thing.", "Goodbye!"])),
)


@settings(max_examples=300, deadline=None)
@given(
    events=st.lists(_event, max_size=40),
    silence_enabled=st.booleans(),
    line_seconds=st.floats(min_value=0.5, max_value=15.0),
)
def test_every_call_ends_exactly_once_and_never_late(
    events: list[tuple[str, object]], silence_enabled: bool, line_seconds: float
) -> None:
    clock = VirtualClock()
    session = ScriptedSession(clock, line_seconds=line_seconds)
    call = CallLifecycle(
        clock,
        session,
        LifecycleSettings(
            max_duration_seconds=LIMIT,
            end_call_phrases=["goodbye"],
            autonomous_silence_handling=SilenceSettings(enabled=silence_enabled),
        ),
    )
    session.lifecycle = call
    records: list[CallEnd] = []
    call.add_ended_listener(records.append)
    requested: list[EndReason] = []
    call.start()

    for kind, arg in events:
        if kind == "advance":
            assert isinstance(arg, float)
            clock.advance(arg)
        elif kind == "agent_state":
            call.on_agent_state(arg)  # type: ignore[arg-type]
        elif kind == "user_state":
            call.on_user_state(arg)  # type: ignore[arg-type]
        elif kind == "transcript":
            call.on_user_transcript(str(arg), final=True)
        elif kind == "reply":
            assert isinstance(arg, float)
            session.agent_reply("Here is what I found.", seconds=arg)
        elif kind == "tool":
            (call.on_tool_started if arg == "started" else call.on_tool_finished)("call_1")
        elif kind == "transfer":
            if arg == "started":
                call.on_transfer_started()
            else:
                call.on_transfer_finished(ok=arg == "ok")
        elif kind == "tts_down":
            session.tts_down = bool(arg)
        elif kind == "end":
            assert isinstance(arg, EndReason)
            if not call.is_ending:
                requested.append(arg)
            call.request_end(arg, "scripted", goodbye="Bye!")
        elif kind == "commit":
            call.on_agent_speech_committed(str(arg))

    clock.run_until_idle()

    assert len(session.hang_ups) == 1
    assert len(records) == 1
    record = records[0]
    assert record == call.record
    if requested:
        assert record.reason is requested[0]
    assert record.ended_monotonic <= LIMIT + CAP + ROUNDING
    assert record.ended_monotonic - record.end_requested_monotonic <= CAP + ROUNDING
    assert session.hang_ups == [record.ended_monotonic]
    assert record.started_monotonic is not None  # every generated call was answered at t = 0
    assert record.duration_seconds == record.ended_monotonic - record.started_monotonic
