"""The agent loop: native tool calls or ReAct, budgets, streaming events, durable runs."""

from mainspring.agent.agent import Agent, AgentTools
from mainspring.agent.budget import Budget, StopReason
from mainspring.agent.events import (
    AgentEvent,
    BudgetStop,
    EventBuffer,
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
from mainspring.agent.journal import Journal
from mainspring.agent.loop import AgentProtocol, RunMemory, next_action
from mainspring.agent.replay import RecordedModel, RecordedToolbox, Replay
from mainspring.agent.toolbox import ExecutorToolbox, Toolbox

__all__ = [
    "Agent",
    "AgentEvent",
    "AgentProtocol",
    "AgentTools",
    "Budget",
    "BudgetStop",
    "EventBuffer",
    "ExecutorToolbox",
    "FinalAnswer",
    "Journal",
    "ModelRequestStarted",
    "ModelResponded",
    "RecordedModel",
    "RecordedToolbox",
    "Replay",
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
