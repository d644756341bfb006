"""The tools an agent may use: registration, availability, schemas for providers, statistics."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Iterator
from typing import Any

from mainspring.errors import BackendError, DuplicateToolError, ToolNotFoundError
from mainspring.tools.base import Principal, SchemaFormat, Tool
from mainspring.tools.guards._waits import may_wait
from mainspring.tools.guards.backend import GuardBackend
from mainspring.tools.guards.memory_backend import InMemoryBackend
from mainspring.tools.guards.rate_limit import rate_key
from mainspring.tools.stats import StatsRecorder, ToolStats, ToolStatus

logger = logging.getLogger("mainspring.tools")


class ToolRegistry:
    """Holds tools by name, with the guard state they share and their call statistics.

    The backend holds rate buckets, breaker states and cached results: in-process by default,
    `RedisBackend` to share them across processes. A status check waits on the backend at most
    `status_timeout` seconds; a backend that fails or does not answer makes the tools that need
    it `unavailable` (logged), never an exception into the caller.
    """

    def __init__(
        self,
        tools: Iterable[Tool] = (),
        *,
        backend: GuardBackend | None = None,
        status_timeout: float = 1.0,
    ) -> None:
        self.backend: GuardBackend = backend or InMemoryBackend()
        self.status_timeout = status_timeout
        self._tools: dict[str, Tool] = {}
        self._unavailable: dict[str, str] = {}
        self._stats: dict[str, StatsRecorder] = {}
        self.version = 0
        """Bumped on every change, so executors know to rebuild their guard chains."""
        for t in tools:
            self.register(t)

    def register(self, tool: Tool, *, replace: bool = False) -> Tool:
        """Add a tool. A name already taken is an error unless `replace=True`."""
        if tool.name in self._tools and not replace:
            raise DuplicateToolError(
                f"a tool named {tool.name!r} is already registered; unregister it first, "
                "pass replace=True, or give the new tool another name"
            )
        self._tools[tool.name] = tool
        self._stats.setdefault(tool.name, StatsRecorder())
        self.version += 1
        return tool

    def unregister(self, name: str) -> Tool:
        """Remove a tool and return it."""
        tool = self.get(name)
        del self._tools[name]
        self._unavailable.pop(name, None)
        self.version += 1
        return tool

    def get(self, name: str) -> Tool:
        """The tool called `name`; `ToolNotFoundError` lists the real names if there is none."""
        found = self._tools.get(name)
        if found is None:
            known = ", ".join(sorted(self._tools)) or "none"
            raise ToolNotFoundError(f"no tool named {name!r}; available tools: {known}")
        return found

    def lookup(self, name: str) -> Tool | None:
        """The tool called `name`, or None."""
        return self._tools.get(name)

    def secrets_of(self, name: str) -> frozenset[str]:
        """The secret parameters of the tool called `name` (none for unknown tools)."""
        tool = self._tools.get(name)
        return tool.policy.secrets if tool is not None else frozenset()

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def __iter__(self) -> Iterator[Tool]:
        return iter(list(self._tools.values()))

    def __len__(self) -> int:
        return len(self._tools)

    def set_available(self, name: str, available: bool, *, reason: str = "") -> None:
        """Let an operator take a tool out of service (and back) without unregistering it."""
        self.get(name)
        if available:
            self._unavailable.pop(name, None)
        else:
            self._unavailable[name] = reason or "taken out of service by an operator"
        self.version += 1

    def unavailable_reason(self, name: str) -> str | None:
        """Why the tool is out of service, or None when it is in service."""
        return self._unavailable.get(name)

    def recorder(self, name: str) -> StatsRecorder:
        """The statistics recorder for a tool (created on first use)."""
        rec = self._stats.get(name)
        if rec is None:
            rec = self._stats[name] = StatsRecorder()
        return rec

    async def status(self, name: str, principal: Principal | None = None) -> ToolStatus:
        """The tool's status now: available, unavailable, rate_limited or circuit_open.

        `rate_limited` is judged for `principal` when the tool's limit is per principal. A tool
        whose guard backend cannot be reached is `unavailable`.
        """
        tool = self.get(name)
        if name in self._unavailable:
            return "unavailable"
        if tool.policy.breaker is None and tool.policy.rate_limit is None:
            return "available"  # nothing to ask the backend
        try:
            if not may_wait(self.backend):  # in-process: no I/O to bound, skip the timer
                return await self._guard_status(tool, principal)
            async with asyncio.timeout(self.status_timeout):
                return await self._guard_status(tool, principal)
        except TimeoutError:
            logger.warning(
                "tool %r is unavailable: its guard backend did not answer within %gs",
                name,
                self.status_timeout,
            )
        except BackendError as exc:
            logger.warning("tool %r is unavailable: its guard backend failed: %s", name, exc)
        except Exception:
            logger.exception("tool %r is unavailable: its status check failed", name)
        return "unavailable"

    async def _guard_status(self, tool: Tool, principal: Principal | None) -> ToolStatus:
        policy = tool.policy
        breaker = policy.breaker
        if breaker is not None and await self.backend.state(tool.name, breaker) == "open":
            return "circuit_open"
        if policy.rate_limit is not None:
            who = (principal or Principal("anonymous")).id
            decision = await self.backend.peek(
                rate_key(tool, policy.rate_limit, who), policy.rate_limit
            )
            if not decision.allowed:
                return "rate_limited"
        return "available"

    async def available(self, principal: Principal | None = None) -> list[Tool]:
        """Tools in service that `principal` may call (all tools when principal is None).

        Once the backend has failed, the other tools that need it are left out without asking
        it again, so a hung backend costs one `status_timeout`, not one per tool.
        """
        result: list[Tool] = []
        backend_down = False
        for tool in self:
            if principal is not None and not principal.may_use(tool.policy.scopes):
                continue
            needs_backend = tool.policy.breaker is not None or tool.policy.rate_limit is not None
            if needs_backend and backend_down:
                continue
            status = await self.status(tool.name, principal)
            if status == "unavailable" and needs_backend and tool.name not in self._unavailable:
                backend_down = True
            if status in ("unavailable", "circuit_open"):
                continue
            result.append(tool)
        return result

    async def schemas(
        self, principal: Principal | None = None, format: SchemaFormat = "openai"
    ) -> list[dict[str, Any]]:
        """Provider-format definitions of the tools `principal` may use right now.

        Tools that are out of service or whose breaker is open are left out, so the model is not
        offered a call that would fail; rate-limited tools stay (the limit clears by itself).
        """
        return [tool.schema(format) for tool in await self.available(principal)]

    async def stats(self) -> dict[str, ToolStats]:
        """A snapshot of every registered tool's statistics and status."""
        return {
            name: self.recorder(name).snapshot(name, await self.status(name))
            for name in list(self._tools)
        }
