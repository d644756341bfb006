"""Circuit breaking: stop calling a tool that keeps failing, probe it again after a cool-down."""

from __future__ import annotations

from mainspring.errors import CircuitOpenError, RetryWithFeedback, ToolCallError
from mainspring.tools.base import Tool
from mainspring.tools.guards.backend import BreakerBackend
from mainspring.tools.guards.base import Handler, Invocation

# Outcomes that say the tool itself is unhealthy. Rejections by inner guards do not.
_FAILURE_KINDS = frozenset({"tool_error", "timeout", "sandbox_violation"})


class CircuitBreakerGuard:
    """Admits calls through the tool's breaker and records how they ended."""

    def __init__(self, backend: BreakerBackend) -> None:
        self._backend = backend

    def applies(self, tool: Tool) -> bool:
        """Only tools that declare a breaker."""
        return tool.policy.breaker is not None

    async def wrap(self, invocation: Invocation, call_next: Handler) -> str:
        """Admit or reject; then count the outcome toward the breaker."""
        tool = invocation.tool
        policy = tool.policy.breaker
        assert policy is not None  # applies() guarantees it
        decision = await self._backend.admit(tool.name, policy)
        if not decision.allowed:
            raise CircuitOpenError(
                f"{tool.name!r} is failing repeatedly and its circuit is {decision.state}; "
                f"retry after {decision.retry_after:.1f}s or use another tool",
                retry_after=decision.retry_after,
            )
        try:
            content = await call_next(invocation)
        except RetryWithFeedback:
            await self._backend.record(tool.name, policy, success=True, trial=decision.trial)
            raise
        except ToolCallError as exc:
            failed = exc.kind in _FAILURE_KINDS
            await self._backend.record(tool.name, policy, success=not failed, trial=decision.trial)
            raise
        except BaseException:
            await self._backend.record(tool.name, policy, success=False, trial=decision.trial)
            raise
        await self._backend.record(tool.name, policy, success=True, trial=decision.trial)
        return content
