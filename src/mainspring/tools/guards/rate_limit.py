"""Rate limiting: GCRA per tool, optionally per principal, state in the shared backend."""

from __future__ import annotations

from mainspring.errors import RateLimitedError
from mainspring.tools.base import Tool
from mainspring.tools.guards._waits import before_tool, may_wait
from mainspring.tools.guards.backend import RateLimitBackend
from mainspring.tools.guards.base import Handler, Invocation
from mainspring.tools.policy import RateLimit


def rate_key(tool: Tool, rate: RateLimit, principal_id: str) -> str:
    """The bucket a call draws from."""
    return f"{tool.name}:{principal_id}" if rate.per_principal else tool.name


class RateLimitGuard:
    """Rejects calls over the tool's rate with a `retry_after` the caller can honour."""

    def __init__(self, backend: RateLimitBackend) -> None:
        self._backend = backend
        self._waits = may_wait(backend)

    def applies(self, tool: Tool) -> bool:
        """Only tools that declare a rate limit."""
        return tool.policy.rate_limit is not None

    async def wrap(self, invocation: Invocation, call_next: Handler) -> str:
        """Take one call from the bucket, or reject with the wait."""
        tool = invocation.tool
        rate = tool.policy.rate_limit
        assert rate is not None  # applies() guarantees it
        key = rate_key(tool, rate, invocation.ctx.principal.id)
        acquire = self._backend.acquire(key, rate)
        decision = await (
            before_tool(invocation, "rate limit", acquire) if self._waits else acquire
        )
        if not decision.allowed:
            raise RateLimitedError(
                f"{tool.name!r} is rate limited to {rate.limit} calls per {rate.period:g}s; "
                f"retry after {decision.retry_after:.2f}s or use another approach",
                retry_after=decision.retry_after,
            )
        return await call_next(invocation)
