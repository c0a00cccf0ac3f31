"""Session: the framework's `Agent` and `AgentSession`, built from a CallSpec.

This is where the assistant config meets livekit-agents: instructions from
`llm_config.messages`, the tools the LLM may call, the greeting in its three modes, and turn
handling pinned explicitly. Pinning matters: the framework picks different turn-detection and
interruption defaults in dev and production and constructs a native VAD and turn detector when
none are given, so an unpinned session behaves differently on a laptop and in the cluster.

Turn handling follows the assistant's turn plan (agent/call/turn_handling.py: endpointing by
transcript rules by default, VAD, STT or livekit's end-of-turn model; interruptions need a word,
never a backchannel). The agent's ``stt_node`` is where backchannels said over the agent are
dropped (agent/call/backchannel.py).

The providers come in ready-made (real vendors from `providers.py`, or the simulator's offline
stand-ins), so production and simulation share every line of this module.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterable, AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from livekit import rtc
from livekit.agents import NOT_GIVEN, Agent, AgentSession, APIConnectOptions, llm, stt, tts, vad
from livekit.agents.voice.agent import ModelSettings
from livekit.agents.voice.agent_session import SessionConnectOptions

from agent.call.backchannel import BackchannelFilter, BackchannelIgnored
from agent.call.turn_handling import TurnTaking, call_words
from agent.contracts.assistant import AssistantConfig, FirstMessageMode
from agent.contracts.provider_configs import LLMMessage
from agent.intake.dispatch import CallSpec

MAX_TOOL_STEPS = 5
"""LLM -> tool -> LLM rounds in one turn before the agent must answer."""

MODEL_GREETING_INSTRUCTIONS = (
    "Greet the caller now in one short sentence, in the language and persona of your "
    "instructions, and offer help."
)


class CallAgent(Agent):
    """The assistant of one call: instructions, tools and the greeting (said on answer)."""

    def __init__(
        self,
        assistant: AssistantConfig,
        *,
        tools: Sequence[llm.Tool] = (),
        greeting_audio: GreetingAudio | None = None,
        on_backchannel: Callable[[BackchannelIgnored], None] | None = None,
    ) -> None:
        super().__init__(
            instructions=assistant.instructions or "You are a helpful voice assistant.",
            chat_ctx=few_shot_context(assistant.llm_config.messages),
            tools=list(tools),
        )
        self._assistant = assistant
        self._greeting_audio = greeting_audio
        self._on_backchannel = on_backchannel
        self._backchannels = call_words(assistant).backchannels

    def greet(self) -> None:
        """The greeting, in its configured mode. Called once the caller has answered
        (``LiveCall.go_live``), not on entering the session: the session starts before the
        caller is there, and a caller who never comes must cost no TTS request."""
        greet(self.session, self._assistant, self._greeting_audio)

    async def stt_node(
        self, audio: AsyncIterable[rtc.AudioFrame], model_settings: ModelSettings
    ) -> AsyncIterable[stt.SpeechEvent | str]:
        """The STT's events, minus backchannels said over the agent (agent/call/backchannel.py)."""
        session = self.session
        backchannels = BackchannelFilter(
            self._backchannels,
            agent_speaking=lambda: session.agent_state == "speaking",
            now=time.time,
            on_ignored=self._on_backchannel,
        )
        async for ev in backchannels.filter(Agent.default.stt_node(self, audio, model_settings)):
            yield ev


def few_shot_context(messages: Sequence[LLMMessage]) -> llm.ChatContext:
    """The conversation the agent starts with: the few-shot turns of `llm_config.messages`
    (system messages are the instructions). An assistant turn's `tool_calls` become function
    calls and each `tool` message their output, in OpenAI's chat order, so a few-shot tool
    exchange reaches the model as the exchange it was."""
    chat_ctx = llm.ChatContext.empty()
    names: dict[str, str] = {}
    for message in messages:
        if message.role == "system":
            continue
        if message.role == "tool":
            assert message.tool_call_id is not None  # LLMMessage requires it on a tool message
            chat_ctx.insert(
                llm.FunctionCallOutput(
                    call_id=message.tool_call_id,
                    name=message.name or names.get(message.tool_call_id, ""),
                    output=message.content or "",
                    is_error=False,
                )
            )
            continue
        if message.content:
            chat_ctx.add_message(role=message.role, content=message.content)
        for call in message.tool_calls or ():
            arguments = call.function.arguments
            names[call.id] = call.function.name
            chat_ctx.insert(
                llm.FunctionCall(
                    call_id=call.id,
                    name=call.function.name,
                    arguments=arguments if isinstance(arguments, str) else json.dumps(arguments),
                )
            )
    return chat_ctx


def greet(
    session: AgentSession[Any],
    assistant: AssistantConfig,
    greeting_audio: GreetingAudio | None = None,
) -> None:
    """Start the greeting in the configured mode (returns at once; speech plays async)."""
    mode = assistant.effective_first_message_mode
    if mode is FirstMessageMode.SPEAKS_FIRST and assistant.first_message:
        audio = greeting_audio.frames(assistant.first_message) if greeting_audio else None
        session.say(
            assistant.first_message,
            audio=audio if audio is not None else NOT_GIVEN,
            allow_interruptions=True,
            add_to_chat_ctx=True,
        )
    elif mode is FirstMessageMode.MODEL_GENERATED:
        session.generate_reply(instructions=MODEL_GREETING_INSTRUCTIONS)


class GreetingCache:
    """Per-process cache of synthesized greetings, so a repeated first message does not wait on
    TTS at all (the greeting plays from memory as soon as the caller is there).

    Keyed by the voice (the call's TTS identity) and the text; bounded (oldest dropped first).
    A call reaches it only through its own :class:`GreetingAudio` (``for_voice``), so calls of
    one process side by side (the thread executor) never hear each other's voice: there is no
    process-wide "current voice". Dict reads and writes are atomic under the GIL, so calls on
    several threads may share it.
    """

    def __init__(self, max_entries: int = 64) -> None:
        self._frames: dict[tuple[str, str], list[rtc.AudioFrame]] = {}
        self._max = max_entries

    def for_voice(self, voice: str) -> GreetingAudio:
        """The cache as one call with this voice sees it."""
        return GreetingAudio(self, voice)

    def frames(self, voice: str, text: str) -> list[rtc.AudioFrame] | None:
        return self._frames.get((voice, text))

    def keep(self, voice: str, text: str, frames: list[rtc.AudioFrame]) -> None:
        if len(self._frames) >= self._max:
            self._frames.pop(next(iter(self._frames)), None)
        self._frames[(voice, text)] = frames

    def __len__(self) -> int:
        return len(self._frames)


@dataclass(frozen=True)
class GreetingAudio:
    """One call's view of the greeting cache: its own voice, fixed when the call is built."""

    cache: GreetingCache
    voice: str

    def frames(self, text: str) -> AsyncIterator[rtc.AudioFrame] | None:
        cached = self.cache.frames(self.voice, text)
        if cached is None:
            return None

        async def replay() -> AsyncIterator[rtc.AudioFrame]:
            for frame in cached:
                yield frame

        return replay()

    async def fill(self, engine: tts.TTS[Any], text: str) -> None:
        """Synthesize ``text`` in this voice for the calls after this one (once per text)."""
        if self.cache.frames(self.voice, text) is not None:
            return
        frames = [ev.frame async for ev in engine.synthesize(text)]
        self.cache.keep(self.voice, text, frames)


def build_session(
    spec: CallSpec,
    *,
    stt_engine: stt.STT[Any],
    llm_engine: llm.LLM[Any],
    tts_engine: tts.TTS[Any],
    vad_engine: vad.VAD,
    turns: TurnTaking,
    close_transcript_timeout: float = 2.0,
    aec_warmup: bool = True,
) -> AgentSession[Any]:
    """The AgentSession of one call, with our own silence handling (the framework's
    `user_away_timeout` only flips a state once, so it is switched off) and the assistant's
    turn plan (``turns``, from agent/call/turn_handling.py)."""
    session: AgentSession[Any] = AgentSession(
        stt=stt_engine,
        llm=llm_engine,
        tts=tts_engine,
        vad=vad_engine,
        turn_handling=turns.options,
        max_tool_steps=MAX_TOOL_STEPS,
        user_away_timeout=None,
        session_close_transcript_timeout=close_transcript_timeout,
        # Echo-cancellation warm-up ignores barge-ins in the agent's first 3 s of speech; a
        # simulated room has no echo, so the simulator turns it off (as livekit's own does).
        aec_warmup_duration=NOT_GIVEN if aec_warmup else None,
        # The framework hands every LLM request the session's own timeout (10 s), replacing the
        # one the plugin was built with, so llm_config.timeout_seconds must be set here.
        conn_options=SessionConnectOptions(
            llm_conn_options=APIConnectOptions(timeout=spec.assistant.llm_config.timeout_seconds)
        ),
    )
    turns.attach(session)
    return session
