"""Building an agent leaves nothing for the cycle collector (a per-request agent is cheap)."""

from __future__ import annotations

import gc

from mainspring import Agent, tool
from mainspring.messages import Message
from mainspring.testing import FunctionModel
from mainspring.testing.models import ModelRequest


def _reply(request: ModelRequest) -> Message:
    return Message("assistant", "done")


def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


def test_an_agent_dropped_unused_is_freed_without_the_cycle_collector() -> None:
    tool(add)  # the first description builds pydantic models, which the collector frees
    gc.collect()
    gc.disable()
    try:
        agent = Agent(FunctionModel(_reply), [tool(add)])
        del agent
        assert gc.collect() == 0  # nothing was left in a reference cycle
    finally:
        gc.enable()
