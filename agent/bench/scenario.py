"""The benchmark call, built in code: greeting, a few caller turns, the turn-taking probes, the
caller hangs up.

Built rather than read from config/scenarios/ so the bench cannot drift when an example
scenario is edited for a demo. It is an ordinary :class:`~agent.simulator.scenario.Scenario`
(the public scenario format), so ``python -m agent simulate`` would run the same call.
Replies are short sentences, as a phone agent's are: the turn, not the monologue, is measured.

The ordinary turns (``CALLER_LINES``, finished and punctuated sentences, as a punctuating STT
writes them) give the latency and overhead figures. After them come the turn-taking probes,
each a thing a caller does that the turn plan must get right (:data:`PROBES`): a pause
mid-phrase inside one turn, a turn that trails off mid-phrase, a backchannel and a noise over
the agent, and a real interruption. Every probe reply is long enough (~4-5 s) to be talked
over, whichever reply a plan that answers too often ends up playing.
"""

from __future__ import annotations

from typing import Any

from agent.simulator.scenario import Scenario, parse_scenario

GREETING = "Hello, Trattoria Roma, how can I help?"
CALLER_LINES = (
    "Hi, I'd like to book a table for two.",
    "Friday at eight, please.",
    "Yes, the name is Rossi.",
)
AGENT_REPLIES = (
    "Sure. For which day and time?",
    "Friday at eight works. What name is it under?",
    "Thank you, Mr Rossi. See you on Friday.",
)
MAX_TURNS = len(CALLER_LINES)

PAUSED = ("Could we sit by the", "window, if you can?")
"""One turn with a 1.0 s pause mid-phrase: an answer to its first part is a premature reply."""
PAUSE_SECONDS = 1.0
TRAILING = "And my friend is, um"
"""A turn the caller leaves mid-phrase: the plan should wait long before answering it."""
BACKCHANNEL = "Uh-huh."
NOISE_SECONDS = 0.6
INTERRUPTION = "Wait, stop."
PROBES: tuple[dict[str, Any], ...] = (
    {"say": list(PAUSED), "pause_seconds": PAUSE_SECONDS},
    {"say": TRAILING},
    {"say": BACKCHANNEL, "barge_in": True, "after_seconds": 1.0},
    {"say": "Is there parking nearby?"},
    {"noise": NOISE_SECONDS, "barge_in": True, "after_seconds": 1.0},
    {"say": "Do you take cards?"},
    {"say": INTERRUPTION, "barge_in": True, "after_seconds": 1.0},
)
PROBE_REPLY = "Of course, I have noted that for you and passed it on to the team tonight."
"""~5 s of speech at 15 characters a second: every probe reply, so each can be talked over."""
PROBE_REPLIES = 12
"""More than the probes ask for: a plan that answers a backchannel or a pause still gets long
replies to talk over."""


def bench_scenario(
    *,
    call_id: str,
    turns: int,
    webhook_url: str | None,
    webhook_secret: str | None,
    probes: bool = True,
) -> Scenario:
    """One call of ``turns`` caller lines and then the probes (0: greeting then hang-up, no
    probes; ``probes=False``: the lines only, for figures of ordinary turns), reporting to the
    URL."""
    if not 0 <= turns <= MAX_TURNS:
        raise ValueError(f"turns must be 0..{MAX_TURNS}")
    assistant: dict[str, Any] = {
        "name": "Bench",
        "first_message": GREETING,
        "stt_config": {"provider": "deepgram", "model": "nova-3", "language": "en"},
        "llm_config": {"provider": "openai", "model": "gpt-4.1-mini"},
        "tts_config": {"provider": "elevenlabs", "voice_id": "bench-voice"},
        # a caller waits at most ~1 s between lines: well under the silence timeout
        "autonomous_silence_handling": {"timeout_seconds": 20, "max_prompts": 0},
        "max_duration_seconds": 300,
    }
    if webhook_url is not None:
        assistant["webhook_url"] = webhook_url
    if webhook_secret is not None:
        assistant["webhook_secret"] = webhook_secret
    caller: list[dict[str, Any]] = [{"say": line} for line in CALLER_LINES[:turns]]
    replies = [{"say": reply} for reply in AGENT_REPLIES[:turns]]
    if turns and probes:
        caller += PROBES
        replies += [{"say": PROBE_REPLY}] * PROBE_REPLIES
    caller.append({"hangup": True})
    return parse_scenario(
        {
            "dispatch": {"call": {"id": call_id, "type": "web_call"}, "assistant": assistant},
            "caller": caller,
            "llm": replies,
            # the scenario defaults, written out: the bench subtracts exactly these
            "providers": {"stt_final_ms": 150, "llm_ttft_ms": 250, "tts_ttfb_ms": 120},
        }
    )
