"""Offline stand-ins for the STT, LLM and TTS vendors, implementing the framework interfaces.

They make a whole call run with no network and no account while the rest of the session
(VAD, turn handling, interruptions, tools, transcripts) is the production code. Each module
says how its stand-in decides what to answer and when.
"""

from .failures import OfflineProviders
from .latencies import OfflineLatencies
from .llm import FALLBACK_REPLY, LLMRequestRecord, OfflineLLM, ScriptedReply, ScriptedToolCall
from .stt import OfflineSTT, TranscriptRecord
from .tts import OfflineTTS, SynthesisRecord

__all__ = [
    "FALLBACK_REPLY",
    "LLMRequestRecord",
    "OfflineLLM",
    "OfflineLatencies",
    "OfflineProviders",
    "OfflineSTT",
    "OfflineTTS",
    "ScriptedReply",
    "ScriptedToolCall",
    "SynthesisRecord",
    "TranscriptRecord",
]
