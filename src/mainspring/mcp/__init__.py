"""MCP: every MCP server's tools behind mainspring's guards, and mainspring's tools served over MCP.

The configuration types and `load_mcp_config` need nothing extra; `MCPToolset` and the server
functions need the `mcp` extra (`pip install 'mainspring[mcp]'`) and are imported on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mainspring._lazy import lazy_attributes as _lazy_attributes
from mainspring.mcp.base import (
    HttpTarget,
    KeyVerifier,
    MCPServerConfig,
    StdioTarget,
    ToolOverride,
)
from mainspring.mcp.config import load_mcp_config, parse_mcp_config
from mainspring.mcp.keys import StaticKeyVerifier

if TYPE_CHECKING:
    from mainspring.mcp.client import MCPToolset
    from mainspring.mcp.server import build_server, http_app, serve_http, serve_stdio

_LAZY = {
    "MCPToolset": "mainspring.mcp.client",
    "build_server": "mainspring.mcp.server",
    "http_app": "mainspring.mcp.server",
    "serve_http": "mainspring.mcp.server",
    "serve_stdio": "mainspring.mcp.server",
}


__getattr__ = _lazy_attributes(__name__, _LAZY)

__all__ = [
    "HttpTarget",
    "KeyVerifier",
    "MCPServerConfig",
    "MCPToolset",
    "StaticKeyVerifier",
    "StdioTarget",
    "ToolOverride",
    "build_server",
    "http_app",
    "load_mcp_config",
    "parse_mcp_config",
    "serve_http",
    "serve_stdio",
]
