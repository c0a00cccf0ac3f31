"""The call lifecycle: keeps every call inside its limits and ends it exactly once.

Framework-independent rules (``CallLifecycle`` and its parts) driven by plain method calls,
acting through the ``LifecycleActions`` protocol, timed by an ``agent.clock.Clock``. The
livekit adapter lives in ``agent.call.lifecycle.binding``.
"""

from agent.call.lifecycle.actions import LifecycleActions, SpokenLine
from agent.call.lifecycle.call import WORKER_SHUTDOWN, AgentState, CallLifecycle, UserState
from agent.call.lifecycle.disconnects import CALLER_DISCONNECTS, CONNECTION_LOST, Disconnect
from agent.call.lifecycle.end_phrases import EndPhraseDetector
from agent.call.lifecycle.ending import CallEnd, CallEnding, EndRequest, HangupCause
from agent.call.lifecycle.join import CALLER_AUDIO_NOT_RECEIVED, CALLER_DID_NOT_JOIN, JoinWait
from agent.call.lifecycle.max_duration import MaxDurationPolicy
from agent.call.lifecycle.parties import CallerRule, CallParties, RoomParty, Visit
from agent.call.lifecycle.settings import GoodbyeBudget, LifecycleSettings, SilenceSettings
from agent.call.lifecycle.silence import SilencePolicy, is_real_speech

__all__ = [
    "CALLER_AUDIO_NOT_RECEIVED",
    "CALLER_DID_NOT_JOIN",
    "CALLER_DISCONNECTS",
    "CONNECTION_LOST",
    "WORKER_SHUTDOWN",
    "AgentState",
    "CallEnd",
    "CallEnding",
    "CallLifecycle",
    "CallParties",
    "CallerRule",
    "Disconnect",
    "EndPhraseDetector",
    "EndRequest",
    "GoodbyeBudget",
    "HangupCause",
    "JoinWait",
    "LifecycleActions",
    "LifecycleSettings",
    "MaxDurationPolicy",
    "RoomParty",
    "SilencePolicy",
    "SilenceSettings",
    "SpokenLine",
    "UserState",
    "Visit",
    "is_real_speech",
]
