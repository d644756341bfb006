"""Timeouts: async tools are cancelled; sync tools run in a worker thread that is abandoned.

Python cannot kill a thread, so an abandoned sync tool keeps running in the background until it
returns; its result is discarded. Tools that must be stopped for real run in the sandbox, which
kills the process group.

The limit is one deadline for the whole call after approval: guards before this one (rate limit,
cache, breaker) wait on their backend only until it (see `_waits.py`), and the tool gets what is
left. A hung Redis therefore ends the call as `unavailable` within the tool's timeout.
"""

from __future__ import annotations

import asyncio

from mainspring.errors import ToolTimeoutError
from mainspring.tools.base import Tool
from mainspring.tools.guards.base import Handler, Invocation


class TimeoutGuard:
    """Bounds the tool's run by the call's deadline (the tool's timeout, or the default)."""

    def __init__(self, default_timeout: float | None) -> None:
        self._default = default_timeout

    def applies(self, tool: Tool) -> bool:
        """Tools with a timeout of their own, or all of them when there is a default."""
        return tool.policy.timeout is not None or self._default is not None

    async def wrap(self, invocation: Invocation, call_next: Handler) -> str:
        """Run the rest with the call's deadline."""
        if invocation.time_limit is None:
            invocation.time_limit = invocation.tool.policy.timeout or self._default
        deadline = invocation.start_deadline()
        assert deadline is not None and invocation.time_limit is not None  # applies() ensures
        # asyncio.timeout costs half of anyio.move_on_after on this hot path (see bench/tools.py).
        try:
            async with asyncio.timeout_at(deadline):
                return await call_next(invocation)
        except TimeoutError:
            raise ToolTimeoutError(
                f"{invocation.tool.name!r} did not finish within {invocation.time_limit:g}s; "
                "try smaller input or another approach"
            ) from None
