"""mainspring: production infrastructure for LLM agents.

The top level holds what most programs need; everything else lives in its subpackage
(`mainspring.tools.guards`, `mainspring.testing`, ...).
"""

from mainspring.errors import (
    ConfigurationError,
    MainspringError,
    RetryWithFeedback,
    ToolCallError,
)
from mainspring.messages import Message, ModelResponse, ToolCall, ToolError, ToolResult, Usage
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
    "BreakerPolicy",
    "CallContext",
    "ConfigurationError",
    "JsonlEventSink",
    "MainspringError",
    "Message",
    "ModelResponse",
    "Principal",
    "RateLimit",
    "RetryWithFeedback",
    "Tool",
    "ToolCall",
    "ToolCallError",
    "ToolError",
    "ToolExecutor",
    "ToolRegistry",
    "ToolResult",
    "Usage",
    "__version__",
    "tool",
]
