"""The agent loop: a model, guarded tools, a budget, optional memory."""

from mainspring.agent.agent import Agent
from mainspring.agent.base import (
    AgentEvent,
    AgentProtocol,
    BudgetStop,
    FinalAnswer,
    Memory,
    MemoryContext,
    ModelRequestStarted,
    RunFinished,
    RunResult,
    Step,
    TextDelta,
    ToolCallFinished,
    ToolCallStarted,
)
from mainspring.agent.budget import Budget, StopReason
from mainspring.agent.memory import InProcessMemory

__all__ = [
    "Agent",
    "AgentEvent",
    "AgentProtocol",
    "Budget",
    "BudgetStop",
    "FinalAnswer",
    "InProcessMemory",
    "Memory",
    "MemoryContext",
    "ModelRequestStarted",
    "RunFinished",
    "RunResult",
    "Step",
    "StopReason",
    "TextDelta",
    "ToolCallFinished",
    "ToolCallStarted",
]
