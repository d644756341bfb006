"""One live connection to one MCP server, kept up by a supervisor task.

The SDK's `Client` holds task groups, which must be entered and left by the same task, so each
server gets a long-lived task that opens the client, waits until the connection is lost or the
toolset closes, and reopens it with backoff (a crashed stdio server is restarted; an HTTP
server is reconnected). Calls from any task borrow the current client.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from typing import Any

import anyio

from mainspring.errors import MCPConnectionError, ToolCallError
from mainspring.mcp._sdk import (
    CONNECTION_CLOSED,
    MODERN_PROTOCOL_VERSIONS,
    Client,
    MCPError,
    httpx2,
    streamable_http_client,
    types,
)
from mainspring.mcp.base import HttpTarget, MCPServerConfig, StdioTarget
from mainspring.mcp.stdio import StderrTail, stdio_transport

logger = logging.getLogger("mainspring.mcp")

_FIRST_BACKOFF = 0.5
_MAX_BACKOFF = 30.0
_LOST = (anyio.ClosedResourceError, anyio.BrokenResourceError, httpx2.TransportError, OSError)

OnChange = Callable[["Connection"], Awaitable[None]]


def _describe(exc: BaseException) -> str:
    """One line for an error, looking inside the ExceptionGroups anyio and httpx2 raise."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    if isinstance(exc, TimeoutError):
        return "timed out"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


class Connection:
    """Keeps one server connected; `call` and `list_tools` use whichever client is current."""

    def __init__(self, config: MCPServerConfig, on_change: OnChange) -> None:
        self.config = config
        self.stderr = StderrTail(config.name)
        self._on_change = on_change
        self._client: Client | None = None
        self._ready = anyio.Event()
        self._lost = anyio.Event()
        self._attempted = anyio.Event()
        self._changed = anyio.Event()
        self._closing = False
        self.error: BaseException | None = None
        """Why the last connection attempt failed (None after a success)."""
        self.connects = 0
        """How many times a connection was opened (1 + restarts)."""

    @property
    def name(self) -> str:
        """The server's configured name."""
        return self.config.name

    @property
    def _recovery(self) -> str:
        if isinstance(self.config.target, StdioTarget):
            return "it is being restarted"
        return "reconnecting"

    def failure(self) -> MCPConnectionError:
        """The last connection error as a message naming the server (with its stderr tail)."""
        reason = "not connected" if self.error is None else _describe(self.error)
        target = self.config.target
        where = (
            f"command {target.command!r}"
            if isinstance(target, StdioTarget)
            else f"URL {target.url!r}"
        )
        message = (
            f"did not start or answer initialize within {self.config.connect_timeout:g}s "
            f"({where}): {reason}"
        )
        if tail := self.stderr.text():
            message += f"\nits stderr ended with:\n{tail[-1500:]}"
        return MCPConnectionError(self.name, message)

    async def wait_first_attempt(self) -> None:
        """Return once the first connection attempt has succeeded or failed."""
        await self._attempted.wait()

    def _client_for(self, exit_stack: AsyncExitStack) -> Client:
        target = self.config.target
        if isinstance(target, HttpTarget):
            http = httpx2.AsyncClient(
                headers=dict(target.headers),
                timeout=httpx2.Timeout(self.config.connect_timeout, read=None),
            )
            exit_stack.push_async_callback(http.aclose)
            server: Any = streamable_http_client(target.url, http_client=http)
        else:
            server = stdio_transport(target, self.stderr, self._lost.set)
        # cache=None: the toolset keeps its own tool list and refreshes it on list_changed.
        return Client(server, mode="auto", cache=None, message_handler=self._on_message)

    async def _on_message(self, message: types.ServerNotification | Exception) -> None:
        # Handshake-era servers announce tool changes spontaneously; 2026 ones through listen.
        if isinstance(message, types.ToolListChangedNotification):
            self._changed.set()

    async def _listen(self, client: Client) -> None:
        if client.protocol_version not in MODERN_PROTOCOL_VERSIONS:
            return
        try:
            async with client.listen(tools_list_changed=True) as subscription:
                async for _event in subscription:
                    self._changed.set()
        except Exception as exc:  # a server without listen support still works, unrefreshed
            logger.debug("MCP server %r: no tool-change subscription: %s", self.name, exc)

    async def _refresher(self) -> None:
        # Refreshing lists tools over the same connection, so it never runs inside the SDK's
        # message handler (whose reader would wait on itself); a burst of changes is one refresh.
        while True:
            await self._changed.wait()
            self._changed = anyio.Event()
            await self._on_change(self)

    async def _serve_once(self) -> None:
        # One scope around the whole connection: a scope that ended between entering the
        # client and leaving it would cut across the client's own task groups.
        with anyio.CancelScope(
            deadline=anyio.current_time() + self.config.connect_timeout
        ) as scope:
            async with AsyncExitStack() as stack:
                client = await stack.enter_async_context(self._client_for(stack))
                scope.deadline = math.inf
                await self._serve(client)
        if scope.cancelled_caught:
            raise TimeoutError("connect timed out")

    async def _serve(self, client: Client) -> None:
        self._client, self.error = client, None
        self.connects += 1
        self._ready.set()
        self._attempted.set()
        if self.connects > 1:
            logger.info("MCP server %r reconnected", self.name)
            self._changed.set()  # it may have come back with other tools
        async with anyio.create_task_group() as group:
            group.start_soon(self._listen, client)
            group.start_soon(self._refresher)
            await self._lost.wait()
            group.cancel_scope.cancel()

    async def run(self) -> None:
        """The supervisor loop: connect, wait for loss, reconnect with backoff until closed."""
        delay = _FIRST_BACKOFF
        while not self._closing:
            try:
                await self._serve_once()
                delay = _FIRST_BACKOFF
            except Exception as exc:
                self.error = exc
                logger.warning("MCP server %r: connection failed: %s", self.name, _describe(exc))
            finally:
                self._drop()
                self._lost = anyio.Event()
                self._attempted.set()
            if self._closing:
                return
            await anyio.sleep(delay)
            delay = min(delay * 2, _MAX_BACKOFF)

    def _drop(self) -> None:
        """Stop lending the current client; callers wait for the next one."""
        self._client = None
        if self._ready.is_set():
            self._ready = anyio.Event()

    def mark_lost(self, client: Client) -> None:
        """`client`'s connection is gone: the supervisor reopens it (a stale client is ignored)."""
        if client is self._client:
            self._drop()
            self._lost.set()

    def close(self) -> None:
        """Stop the supervisor after the current connection closes."""
        self._closing = True
        self._lost.set()

    async def client(self) -> Client:
        """The connected client, waiting up to `connect_timeout` for a restart to finish."""
        if self._client is not None:
            return self._client
        with anyio.move_on_after(self.config.connect_timeout):
            await self._ready.wait()
        if self._client is None:
            raise ToolCallError(
                f"MCP server {self.name!r} is not connected ({self.failure()}); "
                f"{self._recovery}: retry later or use another tool"
            )
        return self._client

    async def list_tools(self) -> list[types.Tool]:
        """Every tool the server lists, all pages, within `connect_timeout`."""
        client = await self.client()
        tools: list[types.Tool] = []
        cursor: str | None = None
        with anyio.fail_after(self.config.connect_timeout):
            for _ in range(1000):  # a paginator that never ends cannot hang us
                page = await client.list_tools(cursor=cursor)
                tools.extend(page.tools)
                cursor = page.next_cursor
                if cursor is None:
                    break
        return tools

    async def call(self, name: str, arguments: dict[str, Any]) -> types.CallToolResult:
        """Call a tool; a lost connection becomes a `ToolCallError` and triggers a restart."""
        client = await self.client()
        try:
            return await client.call_tool(name, arguments)
        except MCPError as exc:
            if exc.code == CONNECTION_CLOSED:
                self.mark_lost(client)
                raise ToolCallError(
                    f"MCP server {self.name!r} closed the connection during the call "
                    f"(it crashed or exited); {self._recovery}: retry the call"
                ) from None
            raise ToolCallError(
                f"MCP server {self.name!r} refused the call: {exc.error.message}"
            ) from None
        except _LOST as exc:
            self.mark_lost(client)
            raise ToolCallError(
                f"MCP server {self.name!r} connection failed ({_describe(exc)}); "
                "reconnecting: retry the call"
            ) from None
