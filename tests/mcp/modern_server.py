"""A well-behaved MCP server on the SDK's own `MCPServer` (2026-07-28 protocol), over stdio or
Streamable HTTP: `grow` adds a tool and publishes the change to `subscriptions/listen`."""

from __future__ import annotations

import sys

from mcp.server.mcpserver import Context, MCPServer

server = MCPServer("modern")


@server.tool()
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@server.tool()
async def grow(ctx: Context) -> str:
    """Add a `shrink` tool and tell listening clients."""

    def shrink(x: int) -> int:
        """Halve an integer."""
        return x // 2

    server.add_tool(shrink)
    await ctx.notify_tools_changed()
    return "grown"


if __name__ == "__main__":
    if sys.argv[1:2] == ["http"]:
        server.run("streamable-http", host="127.0.0.1", port=int(sys.argv[2]))
    else:
        server.run()
