"""`mainspring serve`: the HTTP service on uvicorn, with the built-in tools and yours."""

from __future__ import annotations

import os
from collections.abc import Iterable
from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mainspring.cli.run import build_model
from mainspring.config import load_settings
from mainspring.errors import ConfigurationError, MissingExtraError
from mainspring.mcp import MCPServerConfig, load_mcp_config
from mainspring.models.base import Model
from mainspring.tools import Tool, ToolRegistry
from mainspring.tools.builtin import builtin_tools

if TYPE_CHECKING:
    from mainspring.server import ServerSettings


def load_tools(spec: str) -> list[Tool]:
    """The tools named by `MODULE:ATTR`: a `Tool`, a list of them, a registry, or a factory."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise typer.BadParameter(f"--tools {spec!r} must look like 'package.module:ATTRIBUTE'")
    try:
        value: Any = getattr(import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise typer.BadParameter(f"--tools {spec!r}: {exc}") from None
    if callable(value) and not isinstance(value, Tool):
        value = value()
    items: Iterable[Any] = [value] if isinstance(value, Tool) else value
    if not isinstance(value, (Tool, ToolRegistry, list, tuple)):
        raise typer.BadParameter(
            f"--tools {spec!r} is a {type(value).__name__}; point it at a Tool, a list of tools, "
            "a ToolRegistry, or a function returning one of those"
        )
    tools = list(items)
    wrong = [type(t).__name__ for t in tools if not isinstance(t, Tool)]
    if wrong:
        raise typer.BadParameter(f"--tools {spec!r} holds non-tools: {', '.join(wrong)}")
    return tools


def serve_tools(specs: list[str]) -> list[Tool]:
    """The built-in tools plus those of each `MODULE:ATTR` (also for `worker --service`)."""
    tools = builtin_tools()
    for spec in specs:
        tools += load_tools(spec)
    seen: set[str] = set()
    for t in tools:
        if t.name in seen:
            raise typer.BadParameter(f"two tools are named {t.name!r}; rename one")
        seen.add(t.name)
    return tools


def serve_models(settings: ServerSettings, base_url: str | None) -> dict[str, Model]:
    """Every model the settings allow, by name."""
    # --base-url belongs to the default model (as with `mainspring run`), not to every one.
    return {
        name: build_model(name, base_url if name == settings.model else None)
        for name in settings.models
    }


def mcp_servers(path: Path) -> list[MCPServerConfig]:
    """The servers of an mcpServers file; a bad file is a usage error."""
    try:
        return load_mcp_config(path, environ=os.environ)
    except ConfigurationError as exc:
        raise typer.BadParameter(str(exc), param_hint="--mcp-config") from None


def serve_command(
    host: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
    model: Annotated[str | None, typer.Option(help="Default model of a run.")] = None,
    base_url: Annotated[
        str | None, typer.Option(help="OpenAI-compatible server URL for the default model.")
    ] = None,
    allow_model: Annotated[
        list[str] | None, typer.Option(help="Another model a request may name (repeatable).")
    ] = None,
    tools: Annotated[
        list[str] | None, typer.Option(help="MODULE:ATTR of your tools (repeatable).")
    ] = None,
    mcp_config: Annotated[
        Path | None,
        typer.Option("--mcp-config", help="An mcpServers JSON file whose tools runs may use."),
    ] = None,
    engine_url: Annotated[
        str | None,
        typer.Option(help="The engine's PostgreSQL: queue runs for `mainspring worker --service`."),
    ] = None,
) -> None:
    """Serve agents over HTTP: keys, quotas, runs with live events, approvals, dashboard."""
    # The server extra is optional: without it only this command fails, with an install hint.
    try:
        import uvicorn

        from mainspring.server import create_app, load_server_settings
    except (ImportError, MissingExtraError) as exc:
        typer.echo(str(MissingExtraError("mainspring serve", "server")), err=True)
        raise typer.Exit(2) from exc

    base = load_settings()
    try:
        settings = load_server_settings(
            base,
            host=host,
            port=port,
            model=model,
            allowed_models=tuple(allow_model) if allow_model else None,
            engine_url=engine_url,
        )
    except ConfigurationError as exc:
        raise typer.BadParameter(str(exc)) from None
    servers = [] if mcp_config is None else mcp_servers(mcp_config)
    try:
        app = create_app(
            settings,
            tools=serve_tools(tools or []),
            models=serve_models(settings, base_url or base.base_url),
            mcp_servers=servers,
        )
    except (ConfigurationError, MissingExtraError) as exc:
        raise typer.BadParameter(str(exc)) from None
    typer.echo(f"mainspring serving on http://{settings.host}:{settings.port}", err=True)
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="info")
