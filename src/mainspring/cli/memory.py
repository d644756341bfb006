"""`mainspring memory`: inspect, search, export, import and forget an agent's memory."""

from __future__ import annotations

import datetime as dt
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import anyio
import typer

from mainspring.cli.progress import Counter, phase, stderr_console
from mainspring.cli.stores import ensure_data_dir
from mainspring.config import load_settings
from mainspring.errors import MainspringError
from mainspring.memory import AgentMemory, EntryFilter, MemoryEntry, MemoryKind
from mainspring.memory.base import KINDS

T = TypeVar("T")

app = typer.Typer(help="Inspect and manage agent memory.", no_args_is_help=True)


def _default_url() -> str:
    settings = load_settings()
    if settings.memory_url is None:
        ensure_data_dir(settings)
    return settings.memory_store_url


@app.callback()
def memory_options(
    ctx: typer.Context,
    url: Annotated[
        str | None,
        typer.Option(
            "--url",
            help="Store URL: sqlite:///file.db or postgresql://... [default: the memory_url "
            "setting, else <data_dir>/memory.db]",
        ),
    ] = None,
    namespace: Annotated[
        str, typer.Option("--namespace", "-n", help="The agent, user or session to act on.")
    ] = "default",
) -> None:
    """Inspect and manage agent memory."""
    ctx.obj = (url or _default_url(), namespace)


def _run(ctx: typer.Context, action: Callable[[AgentMemory], Awaitable[T]]) -> T:
    url, namespace = ctx.obj

    async def main() -> T:
        async with AgentMemory.open(url, namespace=namespace) as memory:
            return await action(memory)

    try:
        return anyio.run(main)
    except (MainspringError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc


def _line(entry: MemoryEntry) -> str:
    when = dt.datetime.fromtimestamp(entry.created_at, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
    text = entry.content.replace("\n", " ")
    if len(text) > 100:
        text = text[:99] + "…"
    return f"{entry.id}  {when}  {entry.kind:<7}  {entry.importance:.2f}  {text}"


def _kinds(kind: list[str] | None) -> list[MemoryKind] | None:
    for name in kind or []:
        if name not in KINDS:
            raise typer.BadParameter(f"{name!r} is not a kind; use one of {', '.join(KINDS)}")
    return [k for k in KINDS if k in (kind or [])] or None


KindOption = Annotated[
    list[str] | None, typer.Option("--kind", "-k", help="short, working, long or evicted.")
]


JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _entry_json(entry: MemoryEntry) -> dict[str, Any]:
    data = entry.to_dict()
    data.pop("embedding", None)  # hundreds of floats nobody reads on a terminal
    return data


@app.command()
def show(
    ctx: typer.Context,
    kind: KindOption = None,
    limit: Annotated[int, typer.Option(help="Show at most this many, newest first.")] = 50,
    as_json: JsonOption = False,
) -> None:
    """List entries: id, created (UTC), kind, importance, content."""
    where = EntryFilter(kinds=_kinds(kind), limit=limit, newest_first=True)
    entries = _run(ctx, lambda memory: memory.find(where))
    if as_json:
        typer.echo(json.dumps([_entry_json(e) for e in entries], indent=2, ensure_ascii=False))
        return
    if not entries:
        typer.echo(f"no entries in namespace {ctx.obj[1]!r}", err=True)
    for entry in entries:
        typer.echo(_line(entry))


@app.command()
def search(
    ctx: typer.Context,
    query: Annotated[str, typer.Argument(help="Words to look for.")],
    limit: Annotated[int, typer.Option(help="How many results.")] = 10,
    as_json: JsonOption = False,
) -> None:
    """Rank long-term entries for QUERY exactly as get_context does; prints score first."""
    found = _run(ctx, lambda memory: memory.search(query, limit=limit))
    if as_json:
        data = [{"score": c.score, **_entry_json(c.entry)} for c in found]
        typer.echo(json.dumps(data, indent=2, ensure_ascii=False))
        return
    if not found:
        typer.echo(f"no long-term entries match {query!r} in namespace {ctx.obj[1]!r}", err=True)
    for candidate in found:
        typer.echo(f"{candidate.score:.3f}  {_line(candidate.entry)}")


@app.command("export")
def export_entries(
    ctx: typer.Context,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File to write (default: stdout).")
    ] = None,
) -> None:
    """Write every entry of the namespace as JSON lines."""
    records = _run(ctx, lambda memory: memory.export())
    lines = "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records)
    if output is None:
        typer.echo(lines, nl=False)
    else:
        output.write_text(lines, encoding="utf-8")
        typer.echo(f"exported {len(records)} entries to {output}", err=True)


@app.command("import")
def import_entries(
    ctx: typer.Context,
    source: Annotated[str, typer.Argument(help="JSON-lines file from export, or - for stdin.")],
) -> None:
    """Load exported entries into the namespace (entries with the same id are replaced).

    A record without `created_at` is stamped with the time of the import.
    """
    if source != "-" and not Path(source).is_file():
        raise typer.BadParameter(
            f"no such file {source!r}; give a JSON-lines file written by `mainspring memory "
            "export`, or - for stdin"
        )
    console = stderr_console()
    with phase(console, f"reading {'stdin' if source == '-' else source}"):
        text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
        records = _parse_lines(text)

    async def load(memory: AgentMemory) -> int:
        done = 0
        with Counter(console, f"importing into {memory.namespace!r}", len(records)) as counter:
            for start in range(0, len(records), IMPORT_BATCH):
                batch = records[start : start + IMPORT_BATCH]
                done += await memory.import_entries(batch)
                counter.advance(len(batch))
        return done

    count = _run(ctx, load)
    typer.echo(f"imported {count} entries")


IMPORT_BATCH = 500
"""Entries per store transaction during an import (and per step of the progress bar)."""


def _parse_lines(text: str) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise typer.BadParameter(f"line {number} is not JSON: {exc}") from exc
    return records


@app.command()
def forget(
    ctx: typer.Context,
    entry_id: Annotated[
        list[str] | None, typer.Option("--id", help="An entry id (repeatable).")
    ] = None,
    kind: KindOption = None,
    metadata: Annotated[
        list[str] | None,
        typer.Option("--metadata", "-m", help="KEY=VALUE the metadata must hold (repeatable)."),
    ] = None,
    contains: Annotated[str | None, typer.Option(help="Text the content contains.")] = None,
    everything: Annotated[bool, typer.Option("--all", help="Forget the whole namespace.")] = False,
) -> None:
    """Delete entries by id or filter (e.g. for a privacy request)."""
    pairs: dict[str, Any] = {}
    for item in metadata or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise typer.BadParameter(f"--metadata {item!r}: expected KEY=VALUE")
        try:
            pairs[key] = json.loads(value)
        except json.JSONDecodeError:
            pairs[key] = value
    where = EntryFilter(
        ids=entry_id or None, kinds=_kinds(kind), metadata=pairs or None, contains=contains
    )
    if where == EntryFilter() and not everything:
        raise typer.BadParameter("give --id, --kind, --metadata or --contains, or --all")
    count = _run(ctx, lambda memory: memory.forget(where))
    typer.echo(f"forgot {count} entries")


@app.command()
def stats(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Entries and bytes per kind, evictions and expiries."""
    result = _run(ctx, lambda memory: memory.stats())
    data = {
        "namespace": result.namespace,
        "entries": dict(result.entries),
        "bytes": dict(result.bytes),
        "evicted": result.evicted,
        "counters": dict(result.counters),
    }
    if as_json:
        typer.echo(json.dumps(data, indent=2))
        return
    typer.echo(f"namespace {result.namespace}")
    for kind in KINDS:
        typer.echo(
            f"  {kind:<8} {result.entries.get(kind, 0):>8} entries "
            f"{result.bytes.get(kind, 0):>10} bytes"
        )
    for name, value in sorted(result.counters.items()):
        typer.echo(f"  {name:<16} {value}")
