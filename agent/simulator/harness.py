"""One whole call on one machine: a real AgentSession, a scripted caller, offline vendors.

:class:`SimulatedCall` builds the ``AgentSession`` from the kwargs the caller of this class
gives (in production terms: what ``agent.call.session`` builds from the dispatch config), swaps in
only the STT/LLM/TTS vendors (:mod:`agent.simulator.offline`) and the room
(:mod:`agent.simulator.transport`), then plays the caller's script against it on the wall
clock (:mod:`agent.simulator.caller`). VAD, turn handling, interruptions, tools and the
transcript sync are production code.

The session comes from ``session_kwargs`` (the offline vendors are added to them) or from a
``session_factory`` given the offline vendors (``agent.call.session.build_session`` fits). Kwargs
must pin ``vad`` and ``turn_handling["turn_detection"]``: left out, the framework builds its
default native VAD and a turn detector, which is not the production set-up under test (and
may reach for the network). ``aec_warmup_duration`` defaults to None here, as the framework
itself does for its simulations (agent_session.py:2135-2147): a synthetic caller never hears
the agent's echo, and a 3 s warm-up would swallow barge-ins. A factory must do that itself
(``aec_warmup_duration=None``), the harness cannot reach in.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from livekit.agents import Agent, AgentSession

from .caller import ScriptedCaller, SessionHook
from .offline import OfflineLatencies, OfflineLLM, OfflineSTT, OfflineTTS, ScriptedReply
from .script import CallerStep, parse_caller_script
from .speech import CallerSpeech
from .timings import SimulatedCallResult
from .transport import SimulatedRoom

SessionFactory = Callable[[OfflineSTT, OfflineLLM, OfflineTTS], AgentSession[Any]]
"""Builds the session around the offline vendors, e.g. ``agent.call.session.build_session``."""


class SimulatedCall:
    """A scripted caller on a real ``AgentSession`` with offline vendors and a simulated room.

    One :meth:`run` per instance.
    """

    def __init__(
        self,
        *,
        agent: Agent,
        session_kwargs: Mapping[str, Any] | None = None,
        session_factory: SessionFactory | None = None,
        script: Sequence[CallerStep | Mapping[str, Any]],
        llm_replies: Sequence[ScriptedReply | Mapping[str, Any]] = (),
        latencies: OfflineLatencies | None = None,
        greeting: str | None = None,
        greeting_instructions: str | None = None,
        on_session_started: SessionHook | None = None,
        on_hangup: SessionHook | None = None,
        reply_gap_seconds: float = 0.2,
        answer_timeout_seconds: float = 8.0,
        time_limit_seconds: float = 120.0,
        speech: CallerSpeech | None = None,
    ) -> None:
        if (session_kwargs is None) == (session_factory is None):
            raise ValueError("give exactly one of session_kwargs and session_factory")
        if session_kwargs is not None:
            turn_handling = session_kwargs.get("turn_handling") or {}
            if session_kwargs.get("vad") is None or "turn_detection" not in turn_handling:
                raise ValueError(
                    "session_kwargs must pin `vad` and `turn_handling['turn_detection']`; "
                    "otherwise the framework builds its default native VAD and turn detector"
                )
        self._agent = agent
        self._session_kwargs = dict(session_kwargs or {})
        self._session_factory = session_factory
        self._script = parse_caller_script(script)
        latencies = latencies or OfflineLatencies()
        self.stt = OfflineSTT(latencies=latencies)
        self.llm = OfflineLLM(llm_replies, latencies=latencies)
        self.tts = OfflineTTS(latencies=latencies)
        self._greeting = greeting
        self._greeting_instructions = greeting_instructions
        self._on_session_started = on_session_started
        self._on_hangup = on_hangup
        self._pacing = {
            "reply_gap_seconds": reply_gap_seconds,
            "answer_timeout_seconds": answer_timeout_seconds,
            "time_limit_seconds": time_limit_seconds,
        }
        self._speech = speech
        self._session: AgentSession[Any] | None = None
        self._room: SimulatedRoom | None = None

    @property
    def session(self) -> AgentSession[Any]:
        """The running session (available once :meth:`run` has started it)."""
        if self._session is None:
            raise RuntimeError("the simulated call has not started")
        return self._session

    @property
    def room(self) -> SimulatedRoom:
        """The simulated room (available once :meth:`run` has started)."""
        if self._room is None:
            raise RuntimeError("the simulated call has not started")
        return self._room

    async def run(self) -> SimulatedCallResult:
        """Start the session, play the script, close everything and report."""
        self._room = room = SimulatedRoom.create(speech=self._speech)
        if self._session_factory is not None:
            session = self._session_factory(self.stt, self.llm, self.tts)
        else:
            kwargs: dict[str, Any] = {"aec_warmup_duration": None, **self._session_kwargs}
            kwargs.update(stt=self.stt, llm=self.llm, tts=self.tts)
            session = AgentSession(**kwargs)
        self._session = session
        room.attach(session)
        caller = ScriptedCaller(
            session=session,
            room=room,
            script=self._script,
            on_hangup=self._on_hangup,
            stt=self.stt,
            llm=self.llm,
            tts=self.tts,
            **self._pacing,
        )

        await session.start(self._agent)
        if self._on_session_started is not None:
            await self._on_session_started(session)
        if self._greeting is not None:
            session.say(self._greeting)
        elif self._greeting_instructions is not None:
            session.generate_reply(instructions=self._greeting_instructions)

        ended_by = await caller.play()
        if not caller.session_closed:
            await session.aclose()
        await room.aclose()
        return caller.result(ended_by)
