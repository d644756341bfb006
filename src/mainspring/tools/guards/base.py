"""What flows through the guard chain, and the one hook a guard implements.

A guard is middleware: `wrap(invocation, call_next)` may reject (raise a `ToolCallError`),
short-circuit (return a cached value) or decorate the rest of the chain. Guards compose by
nesting, in the order listed in `mainspring.tools.guards.GUARD_ORDER`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from mainspring.messages import ToolCall
from mainspring.tools.base import CallContext, Tool


@dataclass(slots=True)
class Invocation:
    """One call on its way through the guards. Guards fill in what they learn."""

    tool: Tool
    call: ToolCall
    ctx: CallContext
    arguments: dict[str, Any] = field(default_factory=dict[str, Any])
    """Arguments as parsed from the call (before validation)."""
    kwargs: dict[str, Any] = field(default_factory=dict[str, Any])
    """Validated keyword arguments for the function (set by the validation guard)."""
    cached: bool = False
    """Set by the cache guard when the content came from the cache."""
    time_limit: float | None = None
    """Seconds the call may take once its first guard waits (the tool's timeout or the default)."""
    deadline: float | None = None
    """Event-loop time by which the call must end; started by the first wait, not by approval."""

    def start_deadline(self) -> float | None:
        """The call's deadline, started now if no guard has waited yet (None: unbounded).

        It starts after approval on purpose: a human's think-time is not the tool's time, but
        every backend wait and the tool's run after it share one bound.
        """
        if self.deadline is None and self.time_limit is not None:
            self.deadline = asyncio.get_running_loop().time() + self.time_limit
        return self.deadline


Handler = Callable[[Invocation], Awaitable[str]]
"""The rest of the chain: returns the content string for the model."""


class Guard(Protocol):
    """One production concern around a tool call."""

    def applies(self, tool: Tool) -> bool:
        """Whether this guard has anything to do for `tool` (skipped entirely if not)."""
        ...

    async def wrap(self, invocation: Invocation, call_next: Handler) -> str:
        """Run the concern around `call_next`, or raise a `ToolCallError` to reject the call."""
        ...
