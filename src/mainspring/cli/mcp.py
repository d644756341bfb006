"""`mainspring mcp serve`, and the `--mcp-config FILE` wiring other commands share."""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Annotated, Any

import anyio
import typer

from mainspring import mcp
from mainspring.audit import AuditSink, JsonlAuditLog
from mainspring.config import Settings, load_settings
from mainspring.errors import ConfigurationError, MCPConnectionError, MissingExtraError
from mainspring.sandbox import detect_sandbox
from mainspring.tools import JsonlEventSink, Principal, Tool, ToolExecutor, ToolRegistry
from mainspring.tools.builtin import builtin_tools, python_tool, shell_tool

app = typer.Typer(help="Serve mainspring's guarded tools over MCP.", no_args_is_help=True)

MCP_CONFIG_HELP = 'MCP servers to add, as {"mcpServers": {...}} JSON (see docs/mcp.md).'


def _lazy(name: str) -> Any:
    """A name of `mainspring.mcp` that needs the `mcp` extra, or an install hint."""
    try:
        return getattr(mcp, name)
    except MissingExtraError as exc:
        raise typer.BadParameter(str(exc)) from None


@asynccontextmanager
async def mcp_tools(path: Path | None, registry: ToolRegistry) -> AsyncIterator[list[Tool]]:
    """Start the servers of an MCP config file and register their tools for the block."""
    if path is None:
        yield []
        return
    try:
        servers = mcp.load_mcp_config(path, environ=os.environ)
        toolset = _lazy("MCPToolset")(servers, reserved=[t.name for t in registry])
        await toolset.__aenter__()
    except (ConfigurationError, MCPConnectionError) as exc:
        raise typer.BadParameter(str(exc), param_hint="--mcp-config") from None
    try:
        try:
            tools = toolset.register(registry)
        except ConfigurationError as exc:
            raise typer.BadParameter(str(exc), param_hint="--mcp-config") from None
        yield tools
    finally:
        await toolset.aclose()


def guarded_executor(settings: Settings, tools: list[Tool]) -> ToolExecutor:
    """An executor over `tools` recording events and audit under the data directory."""
    audit = AuditSink(JsonlAuditLog(settings.data_dir / "audit.jsonl"))
    return ToolExecutor(
        ToolRegistry(tools),
        sinks=[JsonlEventSink(settings.event_log_path), audit],
        default_timeout=settings.default_tool_timeout,
    )


CODE_SCOPE = "code"
"""Served over MCP, the python and shell tools need this scope: running code is granted per key."""


def _tools(code: bool) -> list[Tool]:
    tools = builtin_tools()
    if code:
        jail = detect_sandbox()
        for made in (python_tool(jail), shell_tool(jail)):
            policy = replace(made.policy, scopes=made.policy.scopes | {CODE_SCOPE})
            tools.append(replace(made, policy=policy))
    return tools


@app.command("serve")
def serve_command(
    transport: Annotated[str, typer.Option(help="stdio or http (Streamable HTTP).")] = "stdio",
    host: Annotated[str, typer.Option(help="Address to listen on with --transport http.")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option(help="Port with --transport http.")] = 8765,
    code: Annotated[
        bool, typer.Option("--code", help="Also serve the sandboxed python and shell tools.")
    ] = False,
    scope: Annotated[
        list[str] | None,
        typer.Option("--scope", help="Scopes of the stdio caller (repeat the option)."),
    ] = None,
    mcp_config: Annotated[Path | None, typer.Option("--mcp-config", help=MCP_CONFIG_HELP)] = None,
) -> None:
    """Serve the built-in tools over MCP, every call through the guards and the audit log.

    Over HTTP each request needs a bearer key from the `mcp_keys` setting, which names the
    principal and its scopes; the python and shell tools need the `code` scope.
    """
    if transport not in ("stdio", "http"):
        raise typer.BadParameter(f"transport {transport!r} must be stdio or http")
    settings = load_settings()
    executor = guarded_executor(settings, _tools(code))
    if transport == "http":
        verifier = _verifier(settings)
        sys.stderr.write(f"mainspring MCP server on http://{host}:{port}/mcp\n")
        serve = partial(_lazy("serve_http"), executor, verifier, host=host, port=port)
    else:
        # Whoever starts a stdio server is local and chose --code: grant what it serves.
        granted = frozenset(scope or ()) | ({CODE_SCOPE} if code else set())
        serve = partial(_lazy("serve_stdio"), executor, principal=Principal("stdio", granted))

    async def run() -> None:
        try:
            async with mcp_tools(mcp_config, executor.registry):
                await serve()
        finally:
            await executor.aclose()

    anyio.run(run)


def _verifier(settings: Settings) -> Any:
    """Keys from the `mcp_keys` setting (the service's key store can replace this)."""
    if not settings.mcp_keys:
        raise typer.BadParameter(
            "the HTTP transport needs at least one key: set MAINSPRING_MCP_KEYS="
            '\'{"alice": {"key": "<secret>", "scopes": []}}\' or mcp_keys in mainspring.toml'
        )
    return mcp.StaticKeyVerifier(
        {
            k.key.get_secret_value(): Principal(pid, frozenset(k.scopes))
            for pid, k in settings.mcp_keys.items()
        }
    )
