"""Circuit breaking: stop calling a tool that keeps failing, probe it again after a cool-down."""

from __future__ import annotations

from mainspring.errors import CircuitOpenError, RetryWithFeedback, ToolCallError
from mainspring.messages import NOT_THE_TOOLS_FAULT
from mainspring.tools.base import Tool
from mainspring.tools.guards._waits import after_tool, before_tool, may_wait
from mainspring.tools.guards.backend import BreakerBackend
from mainspring.tools.guards.base import Handler, Invocation
from mainspring.tools.policy import BreakerPolicy

# Outcomes that say the tool itself is unhealthy.
_FAILURE_KINDS = frozenset({"tool_error", "timeout", "sandbox_violation"})


class CircuitBreakerGuard:
    """Admits calls through the tool's breaker and records how they ended.

    It is the innermost guard but the timeout, so every call it admits runs the tool: a
    half-open trial is settled by the tool's real outcome, never by a cache hit.
    """

    def __init__(self, backend: BreakerBackend) -> None:
        self._backend = backend
        self._waits = may_wait(backend)

    def applies(self, tool: Tool) -> bool:
        """Only tools that declare a breaker."""
        return tool.policy.breaker is not None

    async def wrap(self, invocation: Invocation, call_next: Handler) -> str:
        """Admit or reject; then count the outcome toward the breaker."""
        tool = invocation.tool
        policy = tool.policy.breaker
        assert policy is not None  # applies() guarantees it
        admit = self._backend.admit(tool.name, policy)
        decision = await (
            before_tool(invocation, "circuit breaker", admit) if self._waits else admit
        )
        if not decision.allowed:
            raise CircuitOpenError(
                f"{tool.name!r} is failing repeatedly and its circuit is {decision.state}; "
                f"retry after {decision.retry_after:.1f}s or use another tool",
                retry_after=decision.retry_after,
            )
        # A cancelled call (the run was stopped) records nothing: its trial, if it held one,
        # is given up after another cool-down by the state machine.
        try:
            content = await call_next(invocation)
        except RetryWithFeedback:
            await self._record(invocation, policy, True, decision.trial)
            raise
        except ToolCallError as exc:
            # Outcomes that say nothing about the tool (mainspring or a backend failed).
            if exc.kind not in NOT_THE_TOOLS_FAULT:
                failed = exc.kind in _FAILURE_KINDS
                await self._record(invocation, policy, not failed, decision.trial)
            raise
        await self._record(invocation, policy, True, decision.trial)
        return content

    async def _record(
        self, invocation: Invocation, policy: BreakerPolicy, success: bool, trial: bool
    ) -> None:
        record = self._backend.record(invocation.tool.name, policy, success=success, trial=trial)
        await (after_tool(invocation, "circuit breaker", record) if self._waits else record)
