"""`mainspring audit`: verify, tail and query the tamper-evident audit log."""

from __future__ import annotations

import json
import os
import sys
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import anyio
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn
from rich.progress import Progress as RichProgress

from mainspring.audit import verify_file_sync
from mainspring.audit.files import read_file
from mainspring.audit.sink import matches
from mainspring.audit.verify import Progress
from mainspring.config import load_settings
from mainspring.errors import AuditLogError

app = typer.Typer(help="Verify, tail and query the audit log.", no_args_is_help=True)

PathArg = Annotated[
    Path | None,
    typer.Argument(help="Audit log (.jsonl, or .db for SQLite); default <data_dir>/audit.jsonl."),
]


def _resolve(path: Path | None) -> Path:
    resolved = path or Path(load_settings().audit_log_location)  # the audit_log setting
    if not resolved.exists():
        raise typer.BadParameter(f"no audit log at {str(resolved)!r}; pass its path")
    return resolved


def _key(env_name: str | None) -> bytes | None:
    if env_name is None:
        return None
    value = os.environ.get(env_name)
    if not value:
        raise typer.BadParameter(f"environment variable {env_name!r} holding the key is not set")
    return value.encode()


def _anchor(text: str | None) -> tuple[int, str] | None:
    if text is None:
        return None
    seq, sep, digest = text.partition(":")
    if not sep or not seq.isdigit() or len(digest) != 64:
        raise typer.BadParameter(f"anchor {text!r} must be SEQ:HASH as printed by `audit verify`")
    return int(seq), digest


@contextmanager
def _progress_bar() -> Iterator[Progress | None]:
    """A progress bar on a terminal (stderr, gone when done); nothing at all otherwise."""
    if not sys.stderr.isatty():
        yield None
        return
    columns = (TextColumn("verifying"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with RichProgress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("verify", total=None)

        def update(done: int, total: int | None) -> None:
            bar.update(task, completed=done, total=total if total and total >= done else None)

        yield update


@app.command()
def verify(
    path: PathArg = None,
    key_env: Annotated[
        str | None, typer.Option(help="Name of the variable holding the HMAC key.")
    ] = None,
    anchor: Annotated[
        str | None, typer.Option(help="SEQ:HASH of a head kept elsewhere (finds tail deletion).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Check the whole chain; name the first record edited, deleted, reordered or inserted.

    Exit 0 when intact, 1 when tampered, 2 when it cannot be checked (no such log, or a keyed
    log and no key). Reads only: a torn tail is reported, not cut.
    """
    source, key, pinned = _resolve(path), _key(key_env), _anchor(anchor)
    try:
        with _progress_bar() as progress:
            report = verify_file_sync(source, key=key, anchor=pinned, progress=progress)
    except AuditLogError as exc:
        typer.echo(f"Error: {exc}", err=True)
        raise typer.Exit(2) from None
    if as_json:
        typer.echo(json.dumps(report.to_dict(), ensure_ascii=False))
    else:
        typer.echo(str(report))
        if report.ok:
            typer.echo(f"anchor: {report.head_seq}:{report.head_hash}")
    raise typer.Exit(0 if report.ok else 2 if report.reason == "key_required" else 1)


def _collect(path: Path | None, limit: int, filters: dict[str, str | None]) -> list[Any]:
    async def collect(source: Path) -> list[Any]:
        found: deque[Any] = deque(maxlen=limit)
        async for body in read_file(source):
            if isinstance(body, dict) and matches(body, filters):
                found.append(body)
        return list(found)

    source = _resolve(path)
    try:
        return anyio.run(collect, source)
    except AuditLogError as exc:
        typer.echo(f"Error: {exc}", err=True)
        raise typer.Exit(2) from None


def _print(bodies: list[Any], as_json: bool) -> None:
    for b in bodies:
        if as_json:
            typer.echo(json.dumps(b, ensure_ascii=False))
            continue
        error = f" {b.get('error_kind')}" if b.get("outcome") == "error" else ""
        latency = b.get("latency_ms")
        took = f"{latency:.1f}ms" if isinstance(latency, int | float) else f"{latency}ms"
        typer.echo(
            f"#{b.get('seq')} {b.get('time')} run={b.get('run_id')} {b.get('principal')} "
            f"{b.get('kind')}:{b.get('name')} {b.get('outcome')}{error} {took}"
        )


@app.command()
def tail(
    path: PathArg = None,
    lines: Annotated[int, typer.Option("-n", "--lines", help="How many records.")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="Print raw JSON records.")] = False,
) -> None:
    """Print the newest records."""
    _print(_collect(path, lines, {}), as_json)


@app.command()
def query(
    path: PathArg = None,
    run: Annotated[str | None, typer.Option(help="Only this run id.")] = None,
    tool: Annotated[str | None, typer.Option(help="Only this tool or model name.")] = None,
    principal: Annotated[str | None, typer.Option(help="Only this principal.")] = None,
    outcome: Annotated[str | None, typer.Option(help="ok or error.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many (the newest).")] = 1000,
    as_json: Annotated[bool, typer.Option("--json", help="Print raw JSON records.")] = False,
) -> None:
    """Print the records matching every filter given."""
    if outcome not in (None, "ok", "error"):
        raise typer.BadParameter(f"outcome {outcome!r} must be ok or error")
    filters = {"run_id": run, "name": tool, "principal": principal, "outcome": outcome}
    _print(_collect(path, limit, filters), as_json)
