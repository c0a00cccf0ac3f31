"""LiveCall: one call, from the agent joining the room to its report handed to the sinks.

Assembled by agent/call/assemble.py (the one composition root, for the job and the simulator
alike), so what the simulator tests is what production does:

    room events  --> lifecycle (who joins and leaves: the caller bound by identity, the
                     observers; the agent's own disconnect), PhoneLine (keys),
                     ControlChannel (backend commands)                       [join]
    the join timeout runs until the caller answers: their participant there (then the session
    starts on the room), their audio up both ways; then the call goes live: limits, silence,
    started_at, `status-update: in-progress`, the greeting               [converse]
    session events --> CallLifecycle (limits, silence, ending: exactly one EndReason)
                   --> observers.py: CallRecord (transcript, tools, latency, usage),
                       CallEvents (transcript) --> sink, provider failures and their metrics
    ended          --> session closed --> analysis --> end-of-call report
                   --> the one send sequence (agent/report/send.py)          [finish]

It is also the ``CallHandle`` (agent/call/handle.py): tools, telephony and the control channel
act on the call through those verbs only, each bound here to the session, the agent's chat
context, the lifecycle, the record or the events.

Delivery never blocks the audio path: events are enqueued and the sinks deliver on their own
tasks. The report is emitted with a delivery id derived from the call id, so the main process's
crash report (agent/worker/recovery.py) and this one can never both count.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

import structlog
from livekit.agents import NOT_GIVEN, AgentSession, llm

from agent.call.lifecycle.actions import SpokenLine
from agent.call.lifecycle.binding import bind_session
from agent.call.lifecycle.call import CallLifecycle
from agent.call.lifecycle.ending import CallEnd
from agent.call.lifecycle.parties import RoomParty
from agent.call.observers import (
    count_provider_errors,
    end_on_provider_failure,
    record_conversation,
)
from agent.call.session import CallAgent
from agent.call.telephony.caller import CallerParty, record_numbers
from agent.call.telephony.outbound import (
    MachineDetector,
    MachineVerdict,
    connect_outbound,
    livekit_amd,
)
from agent.call.tools import FunctionTools
from agent.contracts.end_reason import EndReason
from agent.contracts.events import (
    Analysis,
    AnalysisPart,
    AnalysisParts,
    EndOfCallReport,
    final_status,
)
from agent.delivery.base import EventSink
from agent.delivery.call_events import CallEvents
from agent.intake.dispatch import CallSpec
from agent.intake.document import CallType
from agent.report.analysis import analyse_call
from agent.report.build import build_call_report
from agent.report.record import CallRecord
from agent.report.send import send_report
from agent.worker import metrics

if TYPE_CHECKING:
    from agent.call.control.channel import ControlChannel
    from agent.call.room import CallRoom
    from agent.call.telephony.phone_line import PhoneLine

log = structlog.get_logger(__name__)

SESSION_CLOSE_SECONDS = 10.0
"""Longest the end of a call waits for the framework to close the session (tools, playout)."""

REPORT_FLUSH_SECONDS = 60.0
"""How long the report may take to reach its sinks before it is parked in the outbox."""

SHUTDOWN_FLUSH_SECONDS = 20.0
"""The same when the worker is stopping: what is not delivered by then waits in the outbox
(a volume that outlives the pod) instead of holding the pod past its grace period."""

NO_ANALYSIS_MODEL = "no analysis model (offline run)"

_ERROR_DETAIL_LIMIT = 300


class LiveCall:
    """Everything one call owns; built by ``assemble_call``, run by ``join``, ``converse``
    and ``finish`` (the job and the simulator run the same three)."""

    def __init__(
        self,
        spec: CallSpec,
        *,
        session: AgentSession[Any],
        lifecycle: CallLifecycle,
        record: CallRecord,
        events: CallEvents,
        function_tools: FunctionTools,
        room: CallRoom,
        sink: EventSink,
        analysis_llm: llm.LLM[Any] | None,
        answering_machine: MachineDetector | None,
    ) -> None:
        self.spec = spec
        self.session = session
        self.lifecycle = lifecycle
        self.record = record
        self.events = events
        self.function_tools = function_tools
        self._room = room
        self._sink = sink
        self._analysis_llm = analysis_llm
        self._answering_machine = answering_machine
        self._skip_reason: str | None = None
        self._flush_seconds = REPORT_FLUSH_SECONDS
        self._ended = asyncio.Event()
        self._live = asyncio.Event()
        lifecycle.add_ended_listener(self._on_ended)
        self._unbind: list[Callable[[], None]] = []
        self.report: EndOfCallReport | None = None
        self._counted_live = False
        self._agent: CallAgent | None = None
        self._phone: PhoneLine | None = None
        self._control: ControlChannel | None = None
        self.went_live = False
        """The caller was there and the agent live: an error before it is a `failed` call."""
        self._session_started = False
        self._caller_bound = asyncio.Event()
        lifecycle.add_caller_listener(self._on_caller_bound)

    def equip(self, *, agent: CallAgent, phone: PhoneLine, control: ControlChannel) -> None:
        """The parts that act on the call through its handle, made once it exists (by
        ``assemble_call``, the only caller)."""
        self._agent, self._phone, self._control = agent, phone, control

    @property
    def agent(self) -> CallAgent:
        assert self._agent is not None, "assemble_call equips every call"
        return self._agent

    @property
    def phone(self) -> PhoneLine:
        assert self._phone is not None, "assemble_call equips every call"
        return self._phone

    @property
    def control(self) -> ControlChannel:
        assert self._control is not None, "assemble_call equips every call"
        return self._control

    # -- the CallHandle (agent/call/handle.py) --------------------------------------------------

    def say(self, text: str, *, allow_interruptions: bool | None = None) -> SpokenLine:
        line: SpokenLine = self.session.say(
            text,
            allow_interruptions=NOT_GIVEN if allow_interruptions is None else allow_interruptions,
        )
        return line

    def reply(self, *, user_input: str | None = None) -> None:
        if user_input is None:
            self.session.generate_reply()
        else:
            self.session.generate_reply(user_input=user_input)

    async def add_context(self, text: str) -> None:
        chat_ctx = self.agent.chat_ctx.copy()
        chat_ctx.add_message(role="system", content=text)
        await self.agent.update_chat_ctx(chat_ctx)

    @property
    def is_ending(self) -> bool:
        return self.lifecycle.is_ending

    def end(
        self,
        reason: EndReason,
        detail: str | None = None,
        *,
        goodbye: str | None = None,
        interrupt: bool | None = None,
    ) -> bool:
        return self.lifecycle.request_end(reason, detail, goodbye=goodbye, interrupt=interrupt)

    def dialing(self) -> None:
        self.events.emit(self.events.status_update("dialing"))

    def transfer_started(self, destination: str) -> None:
        self.events.emit(self.events.status_update("forwarding", destination))
        self.lifecycle.on_transfer_started()

    def transfer_finished(self, destination: str, *, ok: bool) -> None:
        if ok:
            self.record.transfer_destination = destination
        self.lifecycle.on_transfer_finished(ok)
        if not ok and not self.lifecycle.is_ending:
            self.events.emit(self.events.status_update("in-progress"))

    def note(self, text: str) -> None:
        self.record.add_message("system", text)

    def note_control(self, command: str, outcome: str) -> bool:
        return self.record.add_control(command, outcome)

    def note_caller(self, caller: CallerParty) -> None:
        record_numbers(self.record, caller)

    def _on_ended(self, end: CallEnd) -> None:
        self._ended.set()
        # In a job the framework closes the session before `finish()` runs (on_session_end),
        # and that close awaits a running tool: abandon tool requests here, when the call ends,
        # or a caller hanging up during a 20 s request holds the report for those 20 s.
        self.function_tools.cancel_pending()

    # -- running ------------------------------------------------------------------------------

    def _on_caller_bound(self, party: RoomParty) -> None:
        if self._phone is not None:
            self._phone.caller_joined(CallerParty.from_party(party))
        self._caller_bound.set()

    async def join(self) -> None:
        """Be in the room: its events (who joins and leaves, keys, control packets,
        disconnects) reach the call from here on (the job's start-up stage "room": joining
        can fail). The agent's arrival is ``agent_joined_at``."""
        self._unbind.append(await self._room.join(self.lifecycle, self.phone, self.control))
        self.lifecycle.on_agent_joined()

    async def start_session(self) -> None:
        """Start the session on the room (once): vendors connect and the session listens, but
        nothing is said and no limit runs until the call goes live."""
        if self._session_started:
            return
        self._session_started = True
        session, lifecycle, assistant = self.session, self.lifecycle, self.spec.assistant
        self._unbind += [
            bind_session(lifecycle, session),
            record_conversation(session, self.record, self.events, self.function_tools, lifecycle),
            count_provider_errors(session, assistant),
            end_on_provider_failure(session, lifecycle, goodbye=assistant.error_message),
        ]
        await self._room.start_session(self.session, self.agent)

    async def answer(self) -> bool:
        """Wait for the caller to answer, the join timeout running from the first call
        (``CallLifecycle.await_caller``): their participant bound, then the session started
        (so a caller who never comes costs no vendor connection, and the start overlaps their
        audio coming up), then their audio up both ways. True once answered; False when the
        call ended first (the join timeout, the caller leaving)."""
        self.lifecycle.await_caller()
        if not await self._unless_ended(self._caller_bound.wait()):
            return False
        await self.start_session()
        caller = self.lifecycle.caller
        if caller is None or self.lifecycle.is_ending:
            return False
        return await self._unless_ended(self._room.caller_answered(caller))

    async def _unless_ended(self, waiting: Coroutine[Any, Any, Any]) -> bool:
        """Run ``waiting`` until it is done (True) or the call has ended (False, cancelled)."""
        task = asyncio.ensure_future(waiting)
        ended = asyncio.ensure_future(self.wait_ended())
        try:
            await asyncio.wait({task, ended}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for pending in (task, ended):
                if not pending.done():
                    pending.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await pending
        if task.cancelled() or self.lifecycle.is_ending:
            return False
        task.result()  # a failure in the wait is the call's failure
        return True

    async def go_live(self) -> None:
        """The caller answered: limits start counting, `status-update: in-progress` goes out
        and the greeting starts (heard from its first word: the caller's audio is up)."""
        if self.lifecycle.is_ending or self._live.is_set():
            return
        self.lifecycle.start()
        self.went_live = True
        self.events.emit(self.events.status_update("in-progress"))
        metrics.call_went_live(self.spec.call.type.value)
        self._counted_live = True
        self._live.set()
        log.info("call_live", call_type=self.spec.call.type.value)
        self.agent.greet()

    async def start(self) -> None:
        """Start the session and go live at once, the caller taken as there (an outbound
        call's caller is the callee who picked up; tests that drive a call by hand)."""
        await self.start_session()
        await self.go_live()

    async def _pick_up(self) -> None:
        """Wait for the caller and go live if they answer (the lifecycle ends it otherwise)."""
        if await self.answer():
            await self.go_live()

    async def converse(self) -> None:
        """The call, from the agent in the room to the lifecycle's end: an outbound phone call
        is dialled first (telephony/outbound.py) and then waits for the callee's audio; any
        other waits for its caller to answer (the join timeout running from the agent's
        arrival) and goes live. Never raises for the call: a failure ends it as ``error``, and
        a cancellation (the framework cancels the job's entrypoint at the worker's drain
        timeout) as ``error``/``worker_shutdown``; either way it returns once the lifecycle has
        ended the call, with its report still to send."""
        sip = self.phone.sip
        try:
            if self.spec.call.type is CallType.OUTBOUND_PHONE and sip is not None:
                await connect_outbound(
                    self,
                    self.spec,
                    sip,
                    go_live=self._pick_up,
                    ended=self.wait_ended,
                    detect=self._answering_machine or self._livekit_amd,
                )
            else:
                await self._pick_up()
                await self.wait_ended()
        except asyncio.CancelledError:
            self.end_for_worker_shutdown()
            await self.wait_ended()  # bounded by the lifecycle's goodbye backstop (<= 10 s)
        except Exception as exc:
            log.exception("call_failed")
            self.lifecycle.on_error("worker", f"{type(exc).__name__}: {exc}"[:_ERROR_DETAIL_LIMIT])
            await self.wait_ended()

    async def _livekit_amd(self, identity: str) -> MachineVerdict:
        return await livekit_amd(self.session, identity)

    @property
    def answered(self) -> bool:
        """The caller answered and the call went live (not: nobody came, nobody answered)."""
        return self._live.is_set()

    @property
    def live(self) -> asyncio.Event:
        """Set once the call has gone live (``go_live``): what a simulated caller waits for."""
        return self._live

    def end_for_worker_shutdown(self) -> None:
        """The worker is stopping under this call: end it now (error / worker_shutdown) and
        keep the report inside the pod's exit window (no analysis, a short flush)."""
        self.lifecycle.on_worker_shutdown()
        self._skip_reason = "worker_shutdown"
        self._flush_seconds = SHUTDOWN_FLUSH_SECONDS

    async def wait_ended(self) -> None:
        await self._ended.wait()

    async def finish(self) -> EndOfCallReport:
        """Close the session, analyse, report. Safe to call once the lifecycle has ended."""
        if not self.lifecycle.is_ended:
            # Reached only when something outside the lifecycle stopped the call.
            self.lifecycle.request_end(EndReason.ERROR, "session_closed_unexpectedly")
        if self._counted_live:  # the conversation is over: no longer an active call
            self._counted_live = False
            metrics.call_left(self.spec.call.type.value)
        with contextlib.suppress(Exception):
            self.record.record_session_usage(self.session.usage)
        # Requests still in flight are abandoned: the session's close would wait for them.
        self.function_tools.cancel_pending()
        # A Python tool still running (one the framework waits for) must not hold the report:
        # the call is over, so the close gets SESSION_CLOSE_SECONDS and is then abandoned.
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.session.aclose(), timeout=SESSION_CLOSE_SECONDS)
        self.function_tools.record_unreported(self.record)
        await self.function_tools.aclose()
        for unbind in self._unbind:
            unbind()
        self._unbind.clear()
        reason = self.lifecycle.end_reason or EndReason.ERROR
        self.events.emit(self.events.status_update(final_status(reason, went_live=self.went_live)))
        analysis = await self._analyse()
        report = await build_call_report(
            self.record, self.lifecycle.record, self.spec, analysis, went_live=self.went_live
        )
        self.report = report
        await send_report(self.events, report, sink=self._sink, flush_seconds=self._flush_seconds)
        return report

    async def _analyse(self) -> Analysis:
        assistant = self.spec.assistant
        if self._analysis_llm is None or self._skip_reason is not None:
            # The offline simulator has no model that could judge a call (a scripted line in
            # `summary` would look like a real analysis), and a worker shutdown has no time.
            skipped = AnalysisPart(status="skipped", error=self._skip_reason or NO_ANALYSIS_MODEL)
            return Analysis(
                parts=AnalysisParts(
                    summary=skipped, structured_data=skipped, success_evaluation=skipped
                )
            )
        try:
            return await analyse_call(
                assistant.analysis_plan,
                transcript=self.record.transcript_text(),
                user_messages=self.record.user_message_count,
                model=self._analysis_llm,
            )
        except Exception as exc:  # analysis must never cost the report
            log.warning("analysis_failed", error_type=type(exc).__name__)
            return Analysis()
