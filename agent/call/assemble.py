"""The composition root: the one place a call is assembled, for the job and the simulator alike.

``assemble_call(spec, providers, io)`` builds every part of one call from its CallSpec, the
vendors it talks to (``CallProviders``) and what it is connected to (``CallIO``). The job
(agent/worker/job.py) passes real vendors and the LiveKit room; the simulator
(agent/simulator/live.py) passes offline stand-ins and a simulated room. Nothing else differs,
so a simulated call runs the production wiring:

    record (what happened) <-- TurnRecorder (what ended each turn, each interruption)
    session (build_session: the turn plan as turn handling, the vendors)
    lifecycle (limits, silence, the one ending) --hang-up--> io.room
    events (status-update, transcript, tool-calls) --> io.sink
    function tools (HTTP, through io's target policy)
    LiveCall: the call, and the CallHandle (handle.py) the parts below act through
        PhoneLine (transfer, DTMF, the caller)    ControlChannel (backend commands)
        CallAgent: instructions, greeting, tools (telephony, io.extra_tools, function, end_call)

and then, the same in both:

    await call.join()       # the room's events reach the call (job: after ctx.connect)
    await call.converse()   # dial if outbound, wait for the caller to answer (the join
                            # timeout), go live, hold until the lifecycle ends it
    await call.finish()     # close, analyse, report (agent/report/send.py)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from livekit.agents.llm import LLM, Tool
from livekit.agents.stt import STT
from livekit.agents.tts import TTS
from livekit.agents.vad import VAD

from agent.call.control.channel import ControlChannel
from agent.call.lifecycle.binding import SessionActions
from agent.call.lifecycle.call import CallLifecycle
from agent.call.lifecycle.parties import PHONE_CALLER_KINDS, WEB_CALLER_KINDS, CallerRule
from agent.call.lifecycle.settings import LifecycleSettings
from agent.call.live_call import LiveCall
from agent.call.providers import provider_warnings
from agent.call.room import CallRoom
from agent.call.session import CallAgent, GreetingAudio, build_session
from agent.call.telephony.outbound import MachineDetector, callee_identity
from agent.call.telephony.phone_line import PhoneLine
from agent.call.telephony.sip import SipGateway
from agent.call.tools import build_function_tools
from agent.call.tools.end_call import end_call_tool
from agent.call.turn_handling import turn_taking
from agent.call.turn_record import TurnRecorder
from agent.clock import REAL_TIME, Clock, RealClock, TimeBase
from agent.delivery.base import EventSink
from agent.delivery.call_events import CallEvents
from agent.delivery.target_policy import TargetPolicy
from agent.intake.dispatch import CallSpec
from agent.intake.document import CallType
from agent.intake.variables import fill_variables
from agent.report.record import CallRecord
from agent.report.send import default_secret
from agent.worker.settings import WorkerSettings


@dataclass(frozen=True)
class CallProviders:
    """The engines a call runs on: real vendors (agent/call/providers.py) or offline ones."""

    stt: STT[Any]
    llm: LLM[Any]
    tts: TTS[Any]
    vad: VAD
    analysis_llm: LLM[Any] | None = None
    """The post-call analysis model; None: the report says analysis was skipped (an offline
    run has no model that could judge a call)."""
    answering_machine: MachineDetector | None = None
    """Who answered an outbound call; None: livekit's AMD on the call's own session."""


@dataclass(frozen=True)
class CallIO:
    """What a call is connected to."""

    room: CallRoom
    sink: EventSink
    settings: WorkerSettings
    """The operator's: default webhook secret, control identities, allowed tool targets."""
    sip: SipGateway | None = None
    """The LiveKit server API for SIP (REFER, dialling); None: a call without SIP."""
    clock: Clock = field(default_factory=RealClock)
    """The lifecycle's, the tools' and the control channel's timers (the running loop's)."""
    time_base: TimeBase = REAL_TIME
    """What the record, the lifecycle's start/end and the tools' figures are stamped with: the
    wall in production; a sped-up simulation's call clock (agent/simulator/speed.py), so its
    report states call time. Signatures and envelope timestamps never use it: they stay on
    the real clock, as the receiver's clock is."""
    tool_policy: TargetPolicy | None = None
    """Where ``function`` tools may POST; None: the settings' allowed targets."""
    greeting_audio: GreetingAudio | None = None
    extra_tools: Sequence[Tool] = ()
    """Tools beside the assistant's own (given to the LLM like production's)."""
    caller_number: str | None = None
    """The SIP caller's number, when the room already tells it: `{{customer.number}}`."""


def caller_rule(spec: CallSpec) -> CallerRule:
    """Who the call's caller is (agent/call/lifecycle/parties.py has the rules and why)."""
    if spec.call.caller_identity:
        return CallerRule(identity=spec.call.caller_identity)
    if spec.call.type is CallType.OUTBOUND_PHONE:
        return CallerRule(identity=callee_identity(spec.call_id))
    if spec.call.type is CallType.INBOUND_PHONE:
        return CallerRule(kinds=PHONE_CALLER_KINDS)
    return CallerRule(kinds=WEB_CALLER_KINDS)


def assemble_call(spec: CallSpec, providers: CallProviders, io: CallIO) -> LiveCall:
    """Every part of one call, wired; nothing runs until ``join``/``converse``.

    The call runs with ``call.spec``: ``spec`` with its prompt variables filled for this call
    (agent/intake/variables.py) and the options its vendors lack among its warnings (the
    same for offline vendors, which stand in for the same configs)."""
    spec = spec.with_warnings(provider_warnings(spec.assistant))
    spec = fill_variables(spec, caller_number=io.caller_number)
    assistant = spec.assistant
    stamps = io.time_base
    # One time base for the record and the framework's chat item stamps it subtracts.
    record = CallRecord(call_id=spec.call_id, llm_model=assistant.llm_config.model, now=stamps.wall)
    if spec.call.customer and spec.call.customer.number:
        record.set_numbers(caller=spec.call.customer.number)
    # The turn plan: its decisions and the interruptions it saw go into the record.
    turns = TurnRecorder(record)
    taking = turn_taking(assistant, on_decision=turns.on_decision)
    record.turn_end_default = taking.default_turn_end
    session = build_session(
        spec,
        stt_engine=providers.stt,
        llm_engine=providers.llm,
        tts_engine=providers.tts,
        vad_engine=providers.vad,
        turns=taking,
        close_transcript_timeout=io.room.close_transcript_timeout,
        aec_warmup=io.room.aec_warmup,
    )
    turns.watch(session)
    lifecycle = CallLifecycle(
        io.clock,
        SessionActions(session, hang_up=io.room.hang_up),
        LifecycleSettings.model_validate(
            assistant.model_dump() | {"join_timeout_seconds": spec.join_timeout_seconds}
        ),
        caller_rule=caller_rule(spec),
        wall_clock=lambda: datetime.fromtimestamp(stamps.wall(), UTC),
    )
    events = CallEvents.for_call(spec, io.sink, default_secret=default_secret(io.settings))
    # `function` tools POST to backends through the SSRF policy: the worker's allowed
    # targets in production, loopback in the simulator, nothing private by default.
    function_tools = build_function_tools(
        spec,
        events=events,
        policy=io.tool_policy or TargetPolicy(io.settings.allowed_targets),
        clock=io.clock,
        time_base=stamps,
    )
    call = LiveCall(
        spec,
        session=session,
        lifecycle=lifecycle,
        record=record,
        events=events,
        function_tools=function_tools,
        room=io.room,
        sink=io.sink,
        analysis_llm=providers.analysis_llm,
        answering_machine=providers.answering_machine,
    )
    # What acts on the call gets its CallHandle, so it is made once the call exists.
    phone = PhoneLine(call, spec, sip=io.sip, clock=io.clock)
    control = ControlChannel(
        call,
        allowed_identities=io.settings.control_allowed_identities,
        transfer=phone.transfer,
        clock=io.clock,
    )
    tools: list[Tool] = [
        *phone.tools(io.room.publish_dtmf),
        *io.extra_tools,
        *function_tools.tools,
    ]
    if assistant.end_call_enabled:
        tools.append(end_call_tool(call, assistant.end_call_message))
    agent = CallAgent(
        assistant,
        tools=tools,
        greeting_audio=io.greeting_audio,
        on_backchannel=turns.on_backchannel,
    )
    call.equip(agent=agent, phone=phone, control=control)
    return call
