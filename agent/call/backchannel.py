"""Backchannels: "uh-huh", "yeah", "okay" said while the agent talks never interrupt it.

livekit-agents 1.8.9 has no text hook on interruptions (``agent_activity.py``
``_interrupt_by_audio_activity`` checks only a word count, ``min_words``; its backchannel
classifier, ``interruption.mode: adaptive`` with ``backchannel_boundary``, is LiveKit Cloud
inference). So the filter sits in ``Agent.stt_node``, upstream of everything that reacts to
words: a transcript made only of backchannel phrases, in a speech segment that began while the
agent was speaking, is dropped before the framework sees it. With ``min_words >= 1`` the
framework then never pauses the agent for it (no words in ``_current_transcript``), a final
never cancels a paused speech (``on_final_transcript`` -> ``_cancel_speech_pause``), and no
user turn is committed, so nothing answers "uh-huh".

A segment runs from the first STT event after a final (or an end of speech) to the next final;
its "over the agent" verdict is taken at its first event, so "okay" begun while the agent's
sentence ends is still a backchannel, while "okay" said after the agent finished is an answer.
"Okay, but wait" passes as soon as an interim adds "but".
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Callable
from dataclasses import dataclass

from livekit.agents import stt

from agent.call.turn_words import words_of

_TRANSCRIPTS = (
    stt.SpeechEventType.INTERIM_TRANSCRIPT,
    stt.SpeechEventType.PREFLIGHT_TRANSCRIPT,
    stt.SpeechEventType.FINAL_TRANSCRIPT,
)


def is_backchannel(text: str, phrases: frozenset[tuple[str, ...]]) -> bool:
    """``text`` is nothing but backchannel phrases ("Uh-huh, yeah." yes; "Yeah, but" no; "I see
    it" no: "it" is no phrase). At each word the longest phrase that fits is taken."""
    spoken = words_of(text)
    longest = max((len(p) for p in phrases), default=0)
    at = 0
    while at < len(spoken):
        for size in range(min(longest, len(spoken) - at), 0, -1):
            if spoken[at : at + size] in phrases:
                at += size
                break
        else:
            return False
    return bool(spoken)


@dataclass(frozen=True)
class BackchannelIgnored:
    """A final transcript the filter dropped: when, and how many words (never the words)."""

    at: float
    words: int


class BackchannelFilter:
    """Drops the backchannel-only transcripts of segments that began while the agent spoke."""

    def __init__(
        self,
        phrases: frozenset[tuple[str, ...]],
        *,
        agent_speaking: Callable[[], bool],
        now: Callable[[], float],
        on_ignored: Callable[[BackchannelIgnored], None] | None = None,
    ) -> None:
        self._phrases = phrases
        self._agent_speaking = agent_speaking
        self._now = now
        self._on_ignored = on_ignored
        self._over_agent: bool | None = None  # None: no segment open
        self._dropped_final = False

    def keep(self, ev: stt.SpeechEvent) -> bool:
        kind = ev.type
        if kind == stt.SpeechEventType.RECOGNITION_USAGE:
            return True  # the audio was still transcribed, and billed
        if kind == stt.SpeechEventType.END_OF_SPEECH:
            # belongs to the segment just finalised: dropped with it (matters in stt mode,
            # where it would end a turn that has no words)
            keep = not self._dropped_final
            self._over_agent, self._dropped_final = None, False
            return keep
        if self._over_agent is None:
            self._over_agent = self._agent_speaking()
            self._dropped_final = False
        if kind not in _TRANSCRIPTS:
            return True
        text = ev.alternatives[0].text if ev.alternatives else ""
        drop = bool(self._over_agent) and is_backchannel(text, self._phrases)
        if kind == stt.SpeechEventType.FINAL_TRANSCRIPT:
            self._over_agent = None  # the segment ends with its final
            self._dropped_final = drop
            if drop and self._on_ignored is not None:
                self._on_ignored(BackchannelIgnored(at=self._now(), words=len(words_of(text))))
        return not drop

    async def filter(
        self, events: AsyncIterable[stt.SpeechEvent | str]
    ) -> AsyncIterator[stt.SpeechEvent | str]:
        async for ev in events:
            if isinstance(ev, str) or self.keep(ev):
                yield ev
