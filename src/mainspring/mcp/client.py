"""`MCPToolset`: every tool of a set of MCP servers as a mainspring `Tool`, behind every guard.

Each MCP tool becomes a `Tool` built with `tool_from_schema` from the server's JSON Schema, so
the executor validates, authorises, asks for approval, rate-limits, breaks the circuit, caches
(only where declared deterministic), times out and audits it like any other tool. On top of the
tool's own breaker, each server has one breaker (a dead server fails every tool: the breaker
opens for all of them at once).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from contextlib import AsyncExitStack
from types import TracebackType
from typing import Any

import anyio
import anyio.abc

from mainspring.errors import (
    CircuitOpenError,
    DuplicateToolError,
    MCPConfigError,
    RetryWithFeedback,
    ToolCallError,
    ToolDefinitionError,
)
from mainspring.mcp._connection import Connection
from mainspring.mcp._data import clean_description, clean_schema, model_name
from mainspring.mcp._sdk import types
from mainspring.mcp.base import MCPServerConfig, ToolOverride
from mainspring.tools.base import Tool
from mainspring.tools.decorator import tool_from_schema
from mainspring.tools.guards.backend import BreakerBackend
from mainspring.tools.guards.memory_backend import InMemoryBackend
from mainspring.tools.policy import ToolPolicy
from mainspring.tools.registry import ToolRegistry

logger = logging.getLogger("mainspring.mcp")

# Outcomes that say the server is unhealthy (as the tool breaker counts them).
_FAILURE_KINDS = frozenset({"tool_error", "timeout"})


def result_content(result: types.CallToolResult) -> Any:
    """What the model reads: the structured result when there is one, else the content text.

    The spec asks a tool with structured output to send the same JSON as text too, so the
    structured value loses nothing and is exact. Non-text blocks are described, not inlined.
    """
    if result.structured_content is not None:
        return result.structured_content
    parts: list[str] = []
    for block in result.content:
        if isinstance(block, types.TextContent):
            parts.append(block.text)
        elif isinstance(block, types.ImageContent | types.AudioContent):
            size = len(block.data) * 3 // 4
            parts.append(f"[{block.type}: {block.mime_type}, {size} bytes]")
        elif isinstance(block, types.ResourceLink):
            parts.append(f"[resource link: {block.uri}]")
        elif isinstance(block, types.EmbeddedResource):
            resource = block.resource
            if isinstance(resource, types.TextResourceContents):
                parts.append(resource.text)
            else:
                parts.append(f"[resource {resource.uri}: {resource.mime_type or 'binary'}]")
    return "\n".join(parts)


def _policy(config: MCPServerConfig, override: ToolOverride, server_tool: str) -> ToolPolicy:
    def pick(mine: Any, server: Any) -> Any:
        return server if mine is None else mine

    return ToolPolicy(
        timeout=pick(override.timeout, config.timeout),
        rate_limit=pick(override.rate_limit, config.rate_limit),
        cache_ttl=override.cache_ttl,
        breaker=config.breaker,
        scopes=pick(override.scopes, config.scopes),
        requires_approval=pick(override.requires_approval, config.requires_approval),
        max_result_tokens=pick(override.max_result_tokens, config.max_result_tokens),
        metadata={"mcp_server": config.name, "mcp_tool": server_tool},
    )


class MCPToolset:
    """The tools of several MCP servers, connected, kept up to date, and guarded.

    Use it as an async context manager: entering starts (stdio) or connects (HTTP) every server
    and lists its tools; a server that does not answer within its `connect_timeout` fails the
    whole entry with an error naming it. `register(registry)` adds the tools to a registry and
    keeps them in step when a server announces `notifications/tools/list_changed`.

    Args:
        servers: the servers, e.g. from `load_mcp_config`.
        backend: where the per-server breakers live; the registry's backend once registered.
        reserved: names already taken (built-in tools); an MCP tool named the same is an error.
    """

    def __init__(
        self,
        servers: Iterable[MCPServerConfig],
        *,
        backend: BreakerBackend | None = None,
        reserved: Iterable[str] = (),
    ) -> None:
        self.servers = list(servers)
        names = [s.name for s in self.servers]
        if len(set(names)) != len(names):
            raise MCPConfigError(f"MCP server names must be unique, got {names}")
        self._backend: BreakerBackend = backend or InMemoryBackend()
        self._backend_given = backend is not None
        self._reserved = set(reserved)
        self._connections = {s.name: Connection(s, self._refresh) for s in self.servers}
        self._tools: dict[str, dict[str, Tool]] = {s.name: {} for s in self.servers}
        self._registry: ToolRegistry | None = None
        self._stack: AsyncExitStack | None = None

    @property
    def tools(self) -> list[Tool]:
        """Every tool of every server, under the names the model sees."""
        return [t for per_server in self._tools.values() for t in per_server.values()]

    def connection(self, server: str) -> Connection:
        """The live connection to one server (its stderr tail, restart count, last error)."""
        return self._connections[server]

    async def __aenter__(self) -> MCPToolset:
        stack = AsyncExitStack()
        group = await stack.enter_async_context(anyio.create_task_group())
        stack.callback(group.cancel_scope.cancel)
        stack.callback(self._close_connections)
        try:
            for conn in self._connections.values():
                group.start_soon(conn.run, name=f"mcp server {conn.name}")
            for conn in self._connections.values():
                await conn.wait_first_attempt()
                if conn.error is not None:
                    raise conn.failure()
            for conn in self._connections.values():
                self._tools[conn.name] = await self._build(conn)
            self._check_collisions()
        except BaseException:
            await stack.aclose()
            raise
        self._stack = stack
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop every server and close every connection."""
        stack, self._stack = self._stack, None
        if stack is not None:
            await stack.aclose()

    def _close_connections(self) -> None:
        for conn in self._connections.values():
            conn.close()

    def register(self, registry: ToolRegistry) -> list[Tool]:
        """Add every tool to `registry` (a name it already has is an error) and track changes."""
        taken = sorted(t.name for t in self.tools if t.name in registry)
        if taken:
            raise DuplicateToolError(
                f"MCP tools {taken} would shadow tools already registered; give the server a "
                "'prefix' (e.g. \"prefix\": \"srv_\") or rename the tool under 'tools'"
            )
        for t in self.tools:
            registry.register(t)
        ours = {t.name for t in self.tools}
        self._reserved |= {t.name for t in registry if t.name not in ours}
        self._registry = registry
        if not self._backend_given:  # share breaker state where the registry keeps its own
            self._backend = registry.backend
        return self.tools

    def _check_collisions(self) -> None:
        seen: dict[str, str] = {}
        for server, tools in self._tools.items():
            for name in tools:
                other = seen.get(name) or ("a registered tool" if name in self._reserved else None)
                if other is not None:
                    raise MCPConfigError(
                        f"tool name {name!r} of MCP server {server!r} collides with {other!r}; "
                        "give one server a 'prefix' or rename the tool under 'tools'"
                    )
                seen[name] = server

    async def _build(self, conn: Connection) -> dict[str, Tool]:
        built: dict[str, Tool] = {}
        for listed in await conn.list_tools():
            try:
                made = self._make_tool(conn, listed)
            except ToolDefinitionError as exc:
                logger.warning("MCP server %r: tool %r left out: %s", conn.name, listed.name, exc)
                continue
            if made.name in built:
                raise MCPConfigError(
                    f"MCP server {conn.name!r}: tools {listed.name!r} and "
                    f"{built[made.name].policy.metadata['mcp_tool']!r} map to the same name "
                    f"{made.name!r}; rename one under 'tools'"
                )
            built[made.name] = made
        return built

    def _make_tool(self, conn: Connection, listed: types.Tool) -> Tool:
        config = conn.config
        override = config.tools.get(listed.name, ToolOverride())
        name = override.name or model_name(config.prefix, listed.name)
        server_tool = listed.name

        async def call(**arguments: Any) -> Any:
            return await self._call(conn, server_tool, arguments)

        return tool_from_schema(
            name,
            clean_description(listed.description, tool=listed.name),
            clean_schema(listed.input_schema, tool=listed.name),
            call,
            policy=_policy(config, override, server_tool),
        )

    async def _call(self, conn: Connection, tool: str, arguments: dict[str, Any]) -> Any:
        """One call through the server's breaker; `is_error` results go back to the model."""
        key, policy = f"mcp-server:{conn.name}", conn.config.breaker
        decision = await self._backend.admit(key, policy)
        if not decision.allowed:
            raise CircuitOpenError(
                f"MCP server {conn.name!r} is failing repeatedly and its circuit is "
                f"{decision.state}; retry after {decision.retry_after:.1f}s or use another tool",
                retry_after=decision.retry_after,
            )
        try:
            result = await conn.call(tool, arguments)
        except ToolCallError as exc:
            await self._backend.record(
                key, policy, success=exc.kind not in _FAILURE_KINDS, trial=decision.trial
            )
            raise
        except Exception as exc:  # a malformed result fails validation inside the SDK
            await self._backend.record(key, policy, success=False, trial=decision.trial)
            raise ToolCallError(
                f"MCP server {conn.name!r} sent a result mainspring cannot read: "
                f"{type(exc).__name__}: {str(exc)[:300]}"
            ) from None
        except BaseException:
            # Cancelled, most often by the timeout guard: shielded, so the timeout still counts.
            with anyio.CancelScope(shield=True):
                await self._backend.record(key, policy, success=False, trial=decision.trial)
            raise
        await self._backend.record(key, policy, success=True, trial=decision.trial)
        if result.is_error:
            # The server answered: it is healthy and the model can correct its call.
            raise RetryWithFeedback(str(result_content(result)) or "the tool reported an error")
        return result_content(result)

    async def _refresh(self, conn: Connection) -> None:
        """Re-list one server's tools and bring the registry in step."""
        try:
            fresh = await self._build(conn)
        except Exception as exc:
            logger.warning("MCP server %r: tool list refresh failed: %s", conn.name, exc)
            return
        old = self._tools[conn.name]
        others = {n for s, ts in self._tools.items() if s != conn.name for n in ts}
        clashes = [n for n in fresh if n in others or (n not in old and n in self._reserved)]
        for name in clashes:
            logger.error("MCP server %r: new tool %r collides; left out", conn.name, name)
            fresh.pop(name)
        self._tools[conn.name] = fresh
        registry = self._registry
        if registry is None:
            return
        for name in set(old) - set(fresh):
            if name in registry:
                registry.unregister(name)
        for made in fresh.values():
            registry.register(made, replace=True)
        logger.info("MCP server %r: %d tools after refresh", conn.name, len(fresh))
