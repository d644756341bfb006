"""The agent loop: native tool calls or ReAct, budgets, streaming events, durable runs."""

from mainspring.agent.agent import Agent
from mainspring.agent.budget import Budget, StopReason
from mainspring.agent.events import (
    AgentEvent,
    BudgetStop,
    FinalAnswer,
    ModelRequestStarted,
    ModelResponded,
    RunFinished,
    RunResult,
    RunStarted,
    TextDelta,
    ToolCallFinished,
    ToolCallStarted,
)
from mainspring.agent.loop import AgentProtocol, RunMemory, next_action
from mainspring.agent.toolbox import ExecutorToolbox, Toolbox

__all__ = [
    "Agent",
    "AgentEvent",
    "AgentProtocol",
    "Budget",
    "BudgetStop",
    "ExecutorToolbox",
    "FinalAnswer",
    "ModelRequestStarted",
    "ModelResponded",
    "RunFinished",
    "RunMemory",
    "RunResult",
    "RunStarted",
    "StopReason",
    "TextDelta",
    "ToolCallFinished",
    "ToolCallStarted",
    "Toolbox",
    "next_action",
]
