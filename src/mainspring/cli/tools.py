"""`mainspring tools`: what the agent can call, and one call through every guard."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import anyio
import typer

from mainspring.cli.mcp import MCP_CONFIG_HELP, guarded_executor, mcp_tools
from mainspring.config import load_settings
from mainspring.messages import ToolCall, ToolResult, read_arguments
from mainspring.tools import CallContext, Principal, Tool, ToolRegistry
from mainspring.tools.builtin import builtin_tools

app = typer.Typer(help="Inspect and call the tools.", no_args_is_help=True)

McpConfigOption = Annotated[Path | None, typer.Option("--mcp-config", help=MCP_CONFIG_HELP)]


def _listing(tools: list[Tool], format: str) -> list[dict[str, Any]]:
    # `name` at the top of every entry, whatever the format, so scripts need not know it.
    return [
        {"name": t.name, **t.schema(format), **_origin(t)}  # type: ignore[arg-type]
        for t in tools
    ]


def _origin(t: Tool) -> dict[str, Any]:
    server = t.policy.metadata.get("mcp_server")
    return {} if server is None else {"mcp_server": server}


@app.command("list")
def list_tools(
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the full schemas as JSON.")
    ] = False,
    format: Annotated[
        str | None,
        typer.Option(
            "--format", help="Print the schemas as JSON in this format: openai or anthropic."
        ),
    ] = None,
    mcp_config: McpConfigOption = None,
) -> None:
    """List the built-in tools (and an MCP config's) with their descriptions.

    With --json or --format, the schemas as JSON (openai format unless --format says).
    """
    if format not in (None, "openai", "anthropic"):
        raise typer.BadParameter(f"{format!r} is not a format; use openai or anthropic")
    registry = ToolRegistry(builtin_tools())

    async def collect() -> list[Tool]:
        async with mcp_tools(mcp_config, registry):
            return list(registry)

    tools = anyio.run(collect)
    if as_json or format is not None:
        typer.echo(json.dumps(_listing(tools, format or "openai"), indent=2))
        return
    for t in tools:
        first_line = t.description.splitlines()[0]
        params = ", ".join(t.parameters.get("properties", {}))
        origin = f"  [mcp: {t.policy.metadata['mcp_server']}]" if _origin(t) else ""
        typer.echo(f"{t.name}({params})  {first_line}{origin}")


def _result_json(result: ToolResult) -> dict[str, Any]:
    error = result.error
    return {
        "ok": result.ok,
        "tool": result.tool,
        "content": result.content,
        "error": None
        if error is None
        else {"kind": error.kind, "message": error.message, "retry_after": error.retry_after},
        "latency_ms": round(result.latency_ms, 3),
        "cached": result.cached,
    }


@app.command("call")
def call_tool(
    name: Annotated[str, typer.Argument(help="The tool to call.")],
    args: Annotated[str, typer.Option("--args", help="Arguments as a JSON object.")] = "{}",
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    scope: Annotated[
        list[str] | None, typer.Option("--scope", help="Scopes the caller holds (repeatable).")
    ] = None,
    mcp_config: McpConfigOption = None,
) -> None:
    """Run one tool call through the executor and every guard; exit 1 when the tool failed."""
    arguments, problem = read_arguments(args)
    if problem is not None:
        raise typer.BadParameter(problem, param_hint="--args")
    settings = load_settings()
    executor = guarded_executor(settings, builtin_tools())
    ctx = CallContext(principal=Principal("cli", frozenset(scope or ())))

    async def run() -> ToolResult:
        try:
            async with mcp_tools(mcp_config, executor.registry):
                return await executor.execute(ToolCall("cli-1", name, arguments), ctx)
        finally:
            await executor.aclose()

    result = anyio.run(run)
    if as_json:
        typer.echo(json.dumps(_result_json(result)))
    elif result.ok:
        typer.echo(result.content)
    else:
        kind = result.error.kind if result.error else "error"
        typer.echo(f"{kind}: {result.content}", err=True)
    raise typer.Exit(0 if result.ok else 1)
