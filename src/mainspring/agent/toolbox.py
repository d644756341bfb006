"""What the loop needs from tools: their definitions, whether each is idempotent, and a runner."""

from __future__ import annotations

from typing import Protocol

from mainspring.messages import ToolCall, ToolResult
from mainspring.models.base import ToolDefinition
from mainspring.tools.base import CallContext, Principal, Tool
from mainspring.tools.executor import ToolExecutor


class Toolbox(Protocol):
    """The tools of one agent. `ExecutorToolbox` is the real one; replay uses a recorded one."""

    max_concurrency: int

    async def definitions(self, principal: Principal) -> list[ToolDefinition]:
        """The tools this principal may use right now, as the model sees them."""
        ...

    def idempotent(self, name: str) -> bool:
        """Whether a call of `name` may safely run again after an unknown outcome."""
        ...

    def secrets_of(self, name: str) -> frozenset[str]:
        """The parameters of `name` whose values must reach no record."""
        ...

    async def execute(self, call: ToolCall, ctx: CallContext) -> ToolResult:
        """Run one call; failures are results, never exceptions."""
        ...


class ExecutorToolbox:
    """Tools from a `ToolExecutor` and its registry, through every guard."""

    def __init__(self, executor: ToolExecutor) -> None:
        self.executor = executor
        self.max_concurrency = executor.max_concurrency
        self._definitions: dict[str, ToolDefinition] = {}

    async def definitions(self, principal: Principal) -> list[ToolDefinition]:
        """Definitions of the tools in service that `principal` may call.

        Asked every step: a breaker that opens mid-run takes its tool off the list.
        """
        return [self._definition(t) for t in await self.executor.registry.available(principal)]

    def _definition(self, tool: Tool) -> ToolDefinition:
        found = self._definitions.get(tool.hash)
        if found is None:
            found = ToolDefinition(tool.name, tool.description, tool.parameters)
            self._definitions[tool.hash] = found
        return found

    def idempotent(self, name: str) -> bool:
        """The tool's declaration; unknown tools are not idempotent."""
        tool = self.executor.registry.lookup(name)
        return tool is not None and tool.policy.idempotent

    def secrets_of(self, name: str) -> frozenset[str]:
        """The tool's declared secrets."""
        return self.executor.secrets_of(name)

    async def execute(self, call: ToolCall, ctx: CallContext) -> ToolResult:
        """Through the executor's guards (which announce the call on `ctx.scope`)."""
        return await self.executor.execute(call, ctx)
