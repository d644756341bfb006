"""`mainspring config show`: the effective settings and where each one came from."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from mainspring.config import config_file, load_settings

app = typer.Typer(help="Show the effective settings.", no_args_is_help=True)


@app.command()
def show(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Every setting, its value (secrets masked) and its source: default, file or variable."""
    settings = load_settings()
    values = settings.shown()
    path, named = config_file()
    if as_json:
        data = {
            "config_file": str(path) if named or path.exists() else None,
            "settings": {
                name: {"value": value, "source": settings.origins[name]}
                for name, value in values.items()
            },
        }
        typer.echo(json.dumps(data, indent=2))
        return
    typer.echo(f"config file: {path if named or path.exists() else f'none (no ./{path})'}")
    width = max(len(name) for name in values)
    for name, value in values.items():
        shown = "-" if value is None else str(value)
        typer.echo(f"{name:<{width}}  {shown}  ({settings.origins[name]})")
