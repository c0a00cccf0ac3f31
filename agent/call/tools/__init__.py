"""Tools the model can call during a call: the assistant's `function` tools over HTTP, and
`end_call` (end_call.py, which acts through the call's `CallHandle`).

`build_function_tools(spec, events=..., policy=...)` is what the composition root
(agent/call/assemble.py) uses; see
:mod:`agent.call.tools.function_tools` for how the framework runs them and
:mod:`agent.call.tools.http_function` for one call's request, messages, timeout and outcome.
"""

from agent.call.tools.function_tools import FunctionTools, build_function_tools
from agent.call.tools.http_function import FAILED_MESSAGE, HttpFunction, ToolOutcome

__all__ = ["FAILED_MESSAGE", "FunctionTools", "HttpFunction", "ToolOutcome", "build_function_tools"]
