"""mainspring's guarded tools served over MCP: stdio, or Streamable HTTP behind bearer keys.

Every call goes through the caller's `ToolExecutor`, so the guards and the audit apply as they
do for an agent. A refusal (not found, invalid arguments, forbidden, rate limited, open circuit,
timeout) comes back as a tool result with `is_error` set and the executor's message, never as a
protocol error or a dropped session: an MCP client's model can read it and act.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from mainspring.mcp._sdk import Server, stdio_server, types, uvicorn
from mainspring.mcp.base import KeyVerifier
from mainspring.messages import ToolCall
from mainspring.tools.base import ANONYMOUS, Approver, CallContext, Principal
from mainspring.tools.executor import ToolExecutor

PRINCIPAL_KEY = "mainspring.principal"
"""Where the bearer middleware leaves the caller's `Principal` in the ASGI scope."""


def _principal(ctx: Any, default: Principal) -> Principal:
    request = getattr(ctx, "request", None)
    scope = getattr(request, "scope", None)
    if isinstance(scope, dict):
        found = scope.get(PRINCIPAL_KEY)
        if isinstance(found, Principal):
            return found
    return default


def _result(content: str, ok: bool, kind: str | None) -> types.CallToolResult:
    meta = None if kind is None else {"mainspring/error_kind": kind}
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=content)], is_error=not ok, _meta=meta
    )


def build_server(
    executor: ToolExecutor,
    *,
    name: str = "mainspring",
    principal: Principal = ANONYMOUS,
    approver: Approver | None = None,
) -> Server[Any]:
    """An MCP server (the SDK's low-level `Server`) offering the executor's tools.

    Args:
        executor: runs every call, with its guards and sinks.
        name: the server name clients see.
        principal: who calls when the transport says nothing (stdio); over HTTP the bearer
            key's principal replaces it.
        approver: decides calls of tools that require approval (without one they are refused).
    """
    registry = executor.registry

    async def list_tools(
        ctx: Any, params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        who = _principal(ctx, principal)
        return types.ListToolsResult(
            tools=[
                types.Tool(name=t.name, description=t.description, input_schema=t.parameters)
                for t in await registry.available(who)
            ]
        )

    async def call_tool(ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
        who = _principal(ctx, principal)
        call_id = f"mcp-{ctx.request_id}" if ctx.request_id is not None else "mcp"
        call = ToolCall(call_id, params.name, dict(params.arguments or {}))
        result = await executor.execute(call, CallContext(principal=who, approver=approver))
        return _result(
            result.content, result.ok, None if result.error is None else result.error.kind
        )

    def input_schema(tool_name: str) -> dict[str, Any] | None:
        found = registry.lookup(tool_name)
        return None if found is None else found.parameters

    return Server(
        name,
        get_tool_input_schema=input_schema,
        on_list_tools=list_tools,
        on_call_tool=call_tool,
    )


async def serve_stdio(
    executor: ToolExecutor,
    *,
    principal: Principal = ANONYMOUS,
    approver: Approver | None = None,
) -> None:
    """Serve on this process's stdin and stdout until the client closes them."""
    server = build_server(executor, principal=principal, approver=approver)
    async with stdio_server() as (read, write):
        await server.run(read, write, server.create_initialization_options())


class BearerAuth:
    """ASGI middleware: every HTTP request needs `Authorization: Bearer <key>` of a known key."""

    def __init__(self, app: ASGIApp, verifier: KeyVerifier) -> None:
        self.app = app
        self.verifier = verifier

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Refuse with 401 or pass the request on with the key's principal in the scope."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        scheme, _, key = headers.get(b"authorization", b"").decode("latin-1").partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            await _refuse(send, "missing bearer key: send 'Authorization: Bearer <key>'")
            return
        principal = await self.verifier.verify(key.strip())
        if principal is None:
            await _refuse(send, "unknown bearer key")
            return
        await self.app({**scope, PRINCIPAL_KEY: principal}, receive, send)


async def _refuse(send: Send, message: str) -> None:
    body = json.dumps({"error": "unauthorized", "message": message}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 401,
            "headers": [
                (b"content-type", b"application/json"),
                (b"www-authenticate", b'Bearer realm="mainspring"'),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def http_app(
    executor: ToolExecutor,
    verifier: KeyVerifier,
    *,
    host: str = "127.0.0.1",
    path: str = "/mcp",
    approver: Approver | None = None,
) -> ASGIApp:
    """The Streamable HTTP app at `path`, behind `BearerAuth` with `verifier` (a `KeyVerifier`)."""
    server = build_server(executor, approver=approver)
    app = server.streamable_http_app(streamable_http_path=path, host=host)
    return BearerAuth(app, verifier)


async def serve_http(
    executor: ToolExecutor,
    verifier: KeyVerifier,
    *,
    host: str = "127.0.0.1",
    port: int = 8765,
    approver: Approver | None = None,
) -> None:
    """Serve Streamable HTTP on `host:port` at `/mcp` until cancelled."""
    app = http_app(executor, verifier, host=host, approver=approver)
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on")
    await uvicorn.Server(config).serve()
