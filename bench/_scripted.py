"""The benchmarks' scripted agent: an instant `FunctionModel` that calls a trivial tool N times."""

from __future__ import annotations

from typing import Any


def scripted_agent(steps: int, *, max_iterations: int, **options: Any) -> Any:
    """An agent whose run makes `steps` calls of an async `noop` tool, then answers `done`.

    `options` go to `Agent` (a run store, an audit sink, hooks).
    """
    from mainspring.agent import Agent, Budget
    from mainspring.messages import Message, ModelResponse, ToolCall, Usage
    from mainspring.testing import FunctionModel
    from mainspring.testing.models import ModelRequest
    from mainspring.tools import tool

    def decide(request: ModelRequest) -> ModelResponse:
        done = sum(1 for m in request.messages if m.role == "tool")
        if done < steps:
            call = ToolCall(f"c{done}", "noop", {"x": done})
            return ModelResponse(Message("assistant", tool_calls=(call,)), usage=Usage(1, 1))
        return ModelResponse(Message("assistant", "done"), usage=Usage(1, 1))

    @tool
    async def noop(x: int) -> int:
        """Return x."""
        return x

    budget = Budget(max_iterations=max_iterations)
    return Agent(FunctionModel(decide), [noop], budget=budget, **options)
