"""The MCP SDK (PyPI `mcp` 2.x), imported in one place so a missing extra says what to install."""

from __future__ import annotations

from mainspring.errors import MissingExtraError

try:
    import httpx2
    import mcp_types as types
    import uvicorn
    from mcp.client._transport import TransportStreams
    from mcp.client.streamable_http import streamable_http_client
    from mcp.os.posix.utilities import terminate_posix_process_tree
    from mcp.server.lowlevel import Server
    from mcp.server.stdio import stdio_server
    from mcp.shared.message import SessionMessage
    from mcp_types import CONNECTION_CLOSED
    from mcp_types.version import MODERN_PROTOCOL_VERSIONS

    from mcp import Client, MCPError
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise MissingExtraError("MCP servers and clients", "mcp") from exc

__all__ = [
    "CONNECTION_CLOSED",
    "MODERN_PROTOCOL_VERSIONS",
    "Client",
    "MCPError",
    "Server",
    "SessionMessage",
    "TransportStreams",
    "httpx2",
    "streamable_http_client",
    "stdio_server",
    "terminate_posix_process_tree",
    "types",
    "uvicorn",
]
