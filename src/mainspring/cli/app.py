"""The root of the command tree; each command group lives in its own module."""

from __future__ import annotations

from typing import Annotated

import typer

from mainspring import __version__
from mainspring.cli import (
    audit,
    demo,
    engine,
    keys,
    mcp,
    memory,
    run,
    runs,
    serve,
    settings,
    tools,
)
from mainspring.cli.errors import DEBUG_KEY, ErrorHandlingGroup

app = typer.Typer(
    name="mainspring",
    help="Production infrastructure for LLM agents.",
    cls=ErrorHandlingGroup,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(tools.app, name="tools")
app.add_typer(audit.app, name="audit")
app.add_typer(runs.app, name="runs")
app.add_typer(memory.app, name="memory")
app.add_typer(settings.app, name="config")
app.add_typer(mcp.app, name="mcp")
app.add_typer(keys.app, name="keys")
app.command("demo")(demo.demo_command)
app.command("run")(run.run_command)
app.command("serve")(serve.serve_command)
app.command("worker")(engine.worker_command)
app.command("submit")(engine.submit_command)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"mainspring {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
    debug: Annotated[
        bool,
        typer.Option(
            "--debug", envvar="MAINSPRING_DEBUG", help="Show tracebacks instead of short errors."
        ),
    ] = False,
) -> None:
    """Production infrastructure for LLM agents."""
    ctx.meta[DEBUG_KEY] = debug
