"""`mainspring tools`: what the agent can call."""

from __future__ import annotations

import json
from typing import Annotated

import anyio
import typer

from mainspring.tools import ToolRegistry
from mainspring.tools.builtin import builtin_tools

app = typer.Typer(help="Inspect the built-in tools.", no_args_is_help=True)


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
) -> None:
    """List the built-in tools with their descriptions (and schemas with --json or --format)."""
    if format not in (None, "openai", "anthropic"):
        raise typer.BadParameter(f"{format!r} is not a format; use openai or anthropic")
    registry = ToolRegistry(builtin_tools())
    if as_json or format is not None:
        format = format or "openai"
        schemas = anyio.run(lambda: registry.schemas(format=format))  # type: ignore[arg-type]
        typer.echo(json.dumps(schemas, indent=2))
        return
    for t in registry:
        first_line = t.description.splitlines()[0]
        params = ", ".join(t.parameters.get("properties", {}))
        typer.echo(f"{t.name}({params})  {first_line}")
