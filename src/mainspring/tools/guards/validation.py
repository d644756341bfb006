"""Validation: arguments must match the tool's schema before anything else spends effort."""

from __future__ import annotations

from mainspring.tools._validation import reject_non_finite
from mainspring.tools.base import Tool
from mainspring.tools.guards.base import Handler, Invocation


class ValidationGuard:
    """Turns the parsed arguments into validated keyword arguments, or rejects the call."""

    def applies(self, tool: Tool) -> bool:
        """Every tool is validated."""
        return True

    async def wrap(self, invocation: Invocation, call_next: Handler) -> str:
        """Validate (raises `InvalidArgumentsError` naming each bad field), then continue."""
        reject_non_finite(invocation.arguments)
        invocation.kwargs = invocation.tool.validator.validate(invocation.arguments)
        return await call_next(invocation)
