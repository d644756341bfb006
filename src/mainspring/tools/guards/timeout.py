"""Timeouts: async tools are cancelled; sync tools run in a worker thread that is abandoned.

Python cannot kill a thread, so an abandoned sync tool keeps running in the background until it
returns; its result is discarded. Tools that must be stopped for real run in the sandbox, which
kills the process group.
"""

from __future__ import annotations

import asyncio

from mainspring.errors import ToolTimeoutError
from mainspring.tools.base import Tool
from mainspring.tools.guards.base import Handler, Invocation


class TimeoutGuard:
    """Bounds the rest of the chain by the tool's timeout, or the executor's default."""

    def __init__(self, default_timeout: float | None) -> None:
        self._default = default_timeout

    def applies(self, tool: Tool) -> bool:
        """Tools with a timeout of their own, or all of them when there is a default."""
        return tool.policy.timeout is not None or self._default is not None

    async def wrap(self, invocation: Invocation, call_next: Handler) -> str:
        """Run the rest with a deadline."""
        limit = invocation.tool.policy.timeout or self._default
        assert limit is not None  # applies() guarantees it
        # asyncio.timeout costs half of anyio.move_on_after on this hot path (see bench/tools.py).
        try:
            async with asyncio.timeout(limit):
                return await call_next(invocation)
        except TimeoutError:
            raise ToolTimeoutError(
                f"{invocation.tool.name!r} did not finish within {limit:g}s; "
                "try smaller input or another approach"
            ) from None
