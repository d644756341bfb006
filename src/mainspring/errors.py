"""Every exception mainspring raises, sorted by whose fault it is.

```
MainspringError
├── ConfigurationError           the developer's mistake: fix the code or the settings
│   ├── ToolDefinitionError      a function that cannot become a tool
│   ├── DuplicateToolError       two tools registered under one name
│   ├── MissingExtraError        an optional integration whose extra is not installed
│   └── MCPConfigError           an MCP server configuration that cannot be used as written
├── ToolCallError                one tool call failed; the executor turns it into a ToolResult
│   ├── ToolNotFoundError           kind "not_found"
│   ├── InvalidArgumentsError       kind "invalid_arguments"
│   ├── ForbiddenError              kind "forbidden"
│   ├── ApprovalRequiredError       kind "approval_required"
│   ├── RateLimitedError            kind "rate_limited"
│   ├── CircuitOpenError            kind "circuit_open"
│   ├── ToolTimeoutError            kind "timeout"
│   ├── SandboxViolationError       kind "sandbox_violation"
│   ├── UnavailableError            kind "unavailable": a backend failed; not the tool's fault
│   ├── InternalError               kind "internal": a bug in mainspring; not the tool's fault
│   └── BudgetExceededError         kind "budget_exceeded": the run's tool-call budget is spent
├── MCPConnectionError           an MCP server could not be started, reached or initialised
├── BackendError                 shared guard state (e.g. Redis) could not be reached
├── MemoryStoreError             a memory store (SQLite, PostgreSQL) failed to read or write
├── AuditLogError                an audit log cannot be opened or appended to safely
├── PlanError                    a plan is not a valid DAG (fed back to the model to fix)
├── RunStoreError                a run record cannot be read or written
│   └── RunNotFoundError         no run has that id
├── EngineError                  the durable engine (DBOS workers, leases) cannot do its part
└── ModelError                   a model call failed after its retries
    ├── ModelHTTPError              the provider answered with an HTTP error (status, body, headers)
    └── ModelResponseError          the provider's reply could not be understood

RetryWithFeedback                a signal, not an error: a tool raises it to send the model a hint
```

A `ToolCallError` never escapes `ToolExecutor.execute`: the caller receives a `ToolResult` whose
`error.kind` names the subclass, and the message says what to change. Only an exception the tool
itself raised is `tool_error`; a `BackendError` during a call becomes `unavailable` and any other
exception in the guard chain `internal`, and neither counts against the tool's health.
"""

from __future__ import annotations

from collections.abc import Mapping
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


class MCPConfigError(ConfigurationError):
    """An MCP server configuration (an `mcpServers` file or spec) is wrong; names the server."""


class MCPConnectionError(MainspringError):
    """An MCP server did not start or answer `initialize` within its `connect_timeout`."""

    def __init__(self, server: str, message: str) -> None:
        super().__init__(f"MCP server {server!r}: {message}")
        self.server = server


class BackendError(MainspringError):
    """Shared guard state could not be read or written (e.g. Redis is down)."""


class MemoryStoreError(MainspringError):
    """A memory store failed to read or write (database locked, gone, corrupt, ...)."""


class AuditLogError(MainspringError):
    """An audit log is unreadable where it must be read (its head) or cannot be written."""


class PlanError(MainspringError):
    """A plan is not a valid DAG; the message lists every problem for the model to fix."""


class RunStoreError(MainspringError):
    """A run record cannot be read or written."""

    @classmethod
    def batch_failed(
        cls, store: str, exc: BaseException, count: int, hint: str = ""
    ) -> RunStoreError:
        """The error every waiter of a group commit gets when its transaction failed."""
        error = cls(
            f"run store {store!r}: the transaction of {count} queued write(s) failed "
            f"({type(exc).__name__}: {exc}); none of them is stored, earlier writes are intact. "
            f"Retry once the cause is fixed{hint}"
        )
        error.__cause__ = exc
        return error


class RunNotFoundError(RunStoreError):
    """No run has that id."""


class EngineError(MainspringError):
    """The durable engine (DBOS queue, workers, executor leases) failed; the message says why."""


class ModelError(MainspringError):
    """A model call failed: the provider could not be reached, refused, or answered nonsense."""


class ModelHTTPError(ModelError):
    """The provider answered with an HTTP error status, after any retries it deserved.

    `body` is the response text (truncated to 2,000 characters) and `headers` the response
    headers: request headers, which hold the API key, are never kept.
    """

    def __init__(
        self, status: int, body: str, headers: Mapping[str, str], *, model: str = ""
    ) -> None:
        hint = _HTTP_HINTS.get(status, "")
        where = f" from {model!r}" if model else ""
        super().__init__(f"HTTP {status}{where}: {body[:500]}{hint}")
        self.status = status
        self.body = body[:2000]
        self.headers = dict(headers)
        self.model = model


_HTTP_HINTS = {
    401: " (check the API key passed to the model)",
    403: " (the API key lacks access to this model)",
    404: " (check the model name and base_url)",
}


class ModelResponseError(ModelError):
    """The provider's reply was not valid for its wire format (e.g. malformed JSON)."""


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


class UnavailableError(ToolCallError):
    """A backend the guards need (e.g. Redis) failed or did not answer in time.

    Not the tool's fault: it never counts against the tool's circuit breaker or error count.
    """

    kind = "unavailable"


class InternalError(ToolCallError):
    """Something inside mainspring's guard chain failed: a bug to report, not the tool's fault."""

    kind = "internal"


class BudgetExceededError(ToolCallError):
    """The run's tool-call budget is spent, so the call was refused without running."""

    kind = "budget_exceeded"


class RetryWithFeedback(Exception):
    """Raised by a tool to hand the model a correction instead of a value.

    The executor reports it as a `tool_error` result whose content is the feedback, and it does
    not count as a failure for the circuit breaker.
    """

    def __init__(self, feedback: str) -> None:
        super().__init__(feedback)
        self.feedback = feedback
