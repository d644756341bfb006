"""Tools: typed functions with a schema and a production policy, run through guards."""

from mainspring.tools.base import (
    ANONYMOUS,
    ApprovalRequest,
    Approver,
    ArgumentValidator,
    CallContext,
    Principal,
    SchemaFormat,
    Tool,
)
from mainspring.tools.decorator import make_tool, tool, tool_from_schema
from mainspring.tools.events import EventSink, InMemoryEventSink, JsonlEventSink, ToolCallEvent
from mainspring.tools.executor import ToolExecutor
from mainspring.tools.policy import BreakerPolicy, RateLimit, ToolPolicy
from mainspring.tools.registry import ToolRegistry
from mainspring.tools.stats import ToolStats, ToolStatus

__all__ = [
    "ANONYMOUS",
    "ApprovalRequest",
    "Approver",
    "ArgumentValidator",
    "BreakerPolicy",
    "CallContext",
    "EventSink",
    "InMemoryEventSink",
    "JsonlEventSink",
    "Principal",
    "RateLimit",
    "SchemaFormat",
    "Tool",
    "ToolCallEvent",
    "ToolExecutor",
    "ToolPolicy",
    "ToolRegistry",
    "ToolStats",
    "ToolStatus",
    "make_tool",
    "tool",
    "tool_from_schema",
]
