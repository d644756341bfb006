"""The agent loop: native tool calls or ReAct, budgets, streaming events, durable runs."""

from typing import TYPE_CHECKING

from mainspring._lazy import lazy_attributes as _lazy_attributes
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
from mainspring.agent.toolbox import ExecutorToolbox, Toolbox

if TYPE_CHECKING:
    from mainspring.agent.replay import RecordedModel, RecordedToolbox, Replay

# Replay is imported when first named: most programs never replay a run.
_LAZY = dict.fromkeys(("RecordedModel", "RecordedToolbox", "Replay"), "mainspring.agent.replay")
__getattr__ = _lazy_attributes(__name__, _LAZY)

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
