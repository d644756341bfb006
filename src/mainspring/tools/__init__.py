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
from mainspring.tools.policy import BreakerPolicy, RateLimit, ToolPolicy

__all__ = [
    "ANONYMOUS",
    "ApprovalRequest",
    "Approver",
    "ArgumentValidator",
    "BreakerPolicy",
    "CallContext",
    "Principal",
    "RateLimit",
    "SchemaFormat",
    "Tool",
    "ToolPolicy",
    "make_tool",
    "tool",
    "tool_from_schema",
]
