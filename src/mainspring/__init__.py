"""mainspring: production infrastructure for LLM agents.

The top level holds what most programs need; everything else lives in its subpackage
(`mainspring.tools.guards`, `mainspring.runs`, `mainspring.testing`, ...).

Names are imported on first use (PEP 562), so `import mainspring` costs almost nothing and a
program pays only for the parts it touches.
"""

from __future__ import annotations

import importlib as _importlib
import typing as _typing

if _typing.TYPE_CHECKING:
    from mainspring.agent import Agent, Budget, RunResult
    from mainspring.audit import AuditSink, JsonlAuditLog
    from mainspring.errors import (
        ConfigurationError,
        MainspringError,
        RetryWithFeedback,
        ToolCallError,
    )
    from mainspring.memory import AgentMemory
    from mainspring.messages import (
        Message,
        ModelResponse,
        ToolCall,
        ToolError,
        ToolResult,
        Usage,
    )
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

_HOMES = {
    "mainspring.agent": ("Agent", "Budget", "RunResult"),
    "mainspring.audit": ("AuditSink", "JsonlAuditLog"),
    "mainspring.errors": (
        "ConfigurationError",
        "MainspringError",
        "RetryWithFeedback",
        "ToolCallError",
    ),
    "mainspring.memory": ("AgentMemory",),
    "mainspring.messages": (
        "Message",
        "ModelResponse",
        "ToolCall",
        "ToolError",
        "ToolResult",
        "Usage",
    ),
    "mainspring.models": ("Model", "ModelSettings", "resolve_model"),
    "mainspring.planning": ("PlanExecutor", "Planner"),
    "mainspring.runs": ("SqliteRunStore",),
    "mainspring.tools": (
        "BreakerPolicy",
        "CallContext",
        "JsonlEventSink",
        "Principal",
        "RateLimit",
        "Tool",
        "ToolExecutor",
        "ToolRegistry",
        "tool",
    ),
}
_LAZY = {name: module for module, names in _HOMES.items() for name in names}


def __getattr__(name: str) -> _typing.Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'mainspring' has no attribute {name!r}")
    value = getattr(_importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


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
