"""Every exception mainspring raises, sorted by whose fault it is.

```
MainspringError
├── ConfigurationError           the developer's mistake: fix the code or the settings
│   ├── ToolDefinitionError      a function that cannot become a tool
│   ├── DuplicateToolError       two tools registered under one name
│   └── MissingExtraError        an optional integration whose extra is not installed
├── ToolCallError                one tool call failed; the executor turns it into a ToolResult
│   ├── ToolNotFoundError           kind "not_found"
│   ├── InvalidArgumentsError       kind "invalid_arguments"
│   ├── ForbiddenError              kind "forbidden"
│   ├── ApprovalRequiredError       kind "approval_required"
│   ├── RateLimitedError            kind "rate_limited"
│   ├── CircuitOpenError            kind "circuit_open"
│   ├── ToolTimeoutError            kind "timeout"
│   └── SandboxViolationError       kind "sandbox_violation"
├── BackendError                 shared guard state (e.g. Redis) could not be reached
└── MemoryStoreError             a memory store (SQLite, PostgreSQL) failed to read or write

RetryWithFeedback                a signal, not an error: a tool raises it to send the model a hint
```

A `ToolCallError` never escapes `ToolExecutor.execute`: the caller receives a `ToolResult` whose
`error.kind` names the subclass, and the message says what to change.
"""

from __future__ import annotations

from typing import ClassVar

from mainspring.messages import ToolError, ToolErrorKind


class MainspringError(Exception):
    """Root of every exception raised by mainspring."""


class ConfigurationError(MainspringError):
    """The developer's mistake: wrong arguments, settings or wiring. The message says the fix."""


class ToolDefinitionError(ConfigurationError):
    """A function or schema cannot be turned into a tool."""


class DuplicateToolError(ConfigurationError):
    """A tool name is already registered."""


class MissingExtraError(ConfigurationError):
    """An optional integration was used without its extra installed."""

    def __init__(self, feature: str, extra: str) -> None:
        super().__init__(f"{feature} needs the {extra!r} extra: pip install 'mainspring[{extra}]'")
        self.feature = feature
        self.extra = extra


class BackendError(MainspringError):
    """Shared guard state could not be read or written (e.g. Redis is down)."""


class MemoryStoreError(MainspringError):
    """A memory store failed to read or write (database locked, gone, corrupt, ...)."""


class ToolCallError(MainspringError):
    """One tool call failed for a reason the model or the operator can act on."""

    kind: ClassVar[ToolErrorKind] = "tool_error"

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after

    def to_tool_error(self) -> ToolError:
        """The data form carried by `ToolResult.error`."""
        return ToolError(self.kind, self.message, retry_after=self.retry_after)


class ToolNotFoundError(ToolCallError):
    """No tool of that name is registered or available."""

    kind = "not_found"


class InvalidArgumentsError(ToolCallError):
    """The arguments do not match the tool's schema."""

    kind = "invalid_arguments"


class ForbiddenError(ToolCallError):
    """The caller lacks a required scope, or an approver said no."""

    kind = "forbidden"


class ApprovalRequiredError(ToolCallError):
    """The tool needs a human approval and no approver is configured."""

    kind = "approval_required"


class RateLimitedError(ToolCallError):
    """The tool's rate limit is exhausted; `retry_after` says when to try again."""

    kind = "rate_limited"


class CircuitOpenError(ToolCallError):
    """The tool's circuit breaker is open after repeated failures."""

    kind = "circuit_open"


class ToolTimeoutError(ToolCallError):
    """The tool did not finish within its timeout."""

    kind = "timeout"


class SandboxViolationError(ToolCallError):
    """Sandboxed code tried something its jail forbids."""

    kind = "sandbox_violation"


class RetryWithFeedback(Exception):
    """Raised by a tool to hand the model a correction instead of a value.

    The executor reports it as a `tool_error` result whose content is the feedback, and it does
    not count as a failure for the circuit breaker.
    """

    def __init__(self, feedback: str) -> None:
        super().__init__(feedback)
        self.feedback = feedback
