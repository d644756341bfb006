"""mainspring: production infrastructure for LLM agents.

The top level holds what most programs need; everything else lives in its subpackage
(`mainspring.tools.guards`, `mainspring.runs`, `mainspring.testing`, ...).
"""

from mainspring.agent import Agent, Budget, RunResult
from mainspring.audit import AuditSink, JsonlAuditLog
from mainspring.errors import (
    ConfigurationError,
    MainspringError,
    RetryWithFeedback,
    ToolCallError,
)
from mainspring.memory import AgentMemory
from mainspring.messages import Message, ModelResponse, ToolCall, ToolError, ToolResult, Usage
from mainspring.models import Model, ModelSettings, resolve_model
from mainspring.planning import PlanExecutor, Planner
from mainspring.runs import SqliteRunStore
from mainspring.tools import (
    BreakerPolicy,
    CallContext,
    JsonlEventSink,
    Principal,
    RateLimit,
    Tool,
    ToolExecutor,
    ToolRegistry,
    tool,
)

__version__ = "0.1.0"

__all__ = [
    "Agent",
    "AgentMemory",
    "AuditSink",
    "BreakerPolicy",
    "Budget",
    "CallContext",
    "ConfigurationError",
    "JsonlAuditLog",
    "JsonlEventSink",
    "MainspringError",
    "Message",
    "Model",
    "ModelResponse",
    "ModelSettings",
    "PlanExecutor",
    "Planner",
    "Principal",
    "RateLimit",
    "RetryWithFeedback",
    "RunResult",
    "SqliteRunStore",
    "Tool",
    "ToolCall",
    "ToolCallError",
    "ToolError",
    "ToolExecutor",
    "ToolRegistry",
    "ToolResult",
    "Usage",
    "__version__",
    "resolve_model",
    "tool",
]
