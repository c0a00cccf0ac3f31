"""The ``end_call`` tool: the model hangs up when the conversation is over.

It only asks the call to end (``agent_hangup``, detail ``end_call_tool``) with the assistant's
``end_call_message`` as the goodbye; the lifecycle speaks that line and hangs up once it has
been heard. The model is told not to say goodbye itself, and gets no turn after the tool: a
second goodbye would talk over the first.
"""

from __future__ import annotations

from livekit.agents import llm

from agent.call.handle import CallHandle
from agent.contracts.end_reason import EndReason

TOOL_NAME = "end_call"
DETAIL = "end_call_tool"


def end_call_tool(call: CallHandle, goodbye: str | None) -> llm.Tool:
    @llm.function_tool(
        name=TOOL_NAME,
        description=(
            "End the call. Use it when the caller says goodbye or the conversation is "
            "complete. The closing line is spoken for you; do not say goodbye yourself."
        ),
    )
    async def end_call() -> None:
        call.end(EndReason.AGENT_HANGUP, DETAIL, goodbye=goodbye)
        # No LLM reply after the goodbye: the lifecycle speaks end_call_message itself.
        raise llm.StopResponse()

    return end_call
