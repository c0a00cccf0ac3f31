"""The benchmark call, built in code: greeting, a few caller turns, the caller hangs up.

Built rather than read from config/scenarios/ so the bench cannot drift when an example
scenario is edited for a demo. It is an ordinary :class:`~agent.simulator.scenario.Scenario`
(the public scenario format), so ``python -m agent simulate`` would run the same call.
Replies are short sentences, as a phone agent's are: the turn, not the monologue, is measured.
"""

from __future__ import annotations

from typing import Any

from agent.simulator.scenario import Scenario, parse_scenario

GREETING = "Hello, Trattoria Roma, how can I help?"
CALLER_LINES = (
    "Hi, I'd like to book a table for two",
    "Friday at eight, please",
    "Yes, the name is Rossi",
)
AGENT_REPLIES = (
    "Sure. For which day and time?",
    "Friday at eight works. What name is it under?",
    "Thank you, Mr Rossi. See you on Friday.",
)
MAX_TURNS = len(CALLER_LINES)


def bench_scenario(
    *, call_id: str, turns: int, webhook_url: str | None, webhook_secret: str | None
) -> Scenario:
    """One call of ``turns`` caller lines (0: greeting then hang-up), reporting to the URL."""
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
    caller.append({"hangup": True})
    return parse_scenario(
        {
            "dispatch": {"call": {"id": call_id, "type": "web_call"}, "assistant": assistant},
            "caller": caller,
            "llm": [{"say": reply} for reply in AGENT_REPLIES[:turns]],
            # the scenario defaults, written out: the bench subtracts exactly these
            "providers": {"stt_final_ms": 150, "llm_ttft_ms": 250, "tts_ttfb_ms": 120},
        }
    )
