"""Verifying a stored log by its path or URL, from async code or from a plain script."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio

from mainspring.audit._repair import peek_head
from mainspring.audit.jsonl import iter_jsonl
from mainspring.audit.sqlite import count_rows, iter_sqlite
from mainspring.audit.verify import Progress, VerifyReport, verify_log
from mainspring.errors import AuditLogError, ConfigurationError

SQLITE_SUFFIXES = (".db", ".sqlite", ".sqlite3")
"""A path ending so is read as a SQLite log; any other path as JSON lines."""
_POSTGRES = ("postgres://", "postgresql://")


async def verify_file(
    source: str | Path,
    *,
    key: bytes | None = None,
    anchor: tuple[int, str] | None = None,
    progress: Progress | None = None,
    schema: str = "mainspring",
) -> VerifyReport:
    """Verify the log at a path (JSON lines, or SQLite by suffix) or a PostgreSQL URL.

    Reads only: nothing is created, cut or repaired. For a JSON-lines log, the side files of
    every cut are checked too (`kept` in each of `report.cuts`), and side files that no
    `log_repair` record names are listed. Raises `AuditLogError` when there is nothing to read.
    `schema` is where a PostgreSQL log's tables are.
    """
    text = str(source)
    if text.startswith(_POSTGRES):
        from mainspring.audit.postgres import PostgresAuditLog  # optional extra, loaded on use

        log = PostgresAuditLog(text, schema=schema, key=key)
        try:
            return await verify_log(log.bodies(), key=key, anchor=anchor, progress=progress)
        finally:
            await log.aclose()
    path = Path(source)
    if not await anyio.Path(path).is_file():
        raise AuditLogError(f"no audit log at {text!r}; pass the path of an existing log")
    if path.suffix in SQLITE_SUFFIXES:
        total = await anyio.to_thread.run_sync(count_rows, path)
        bodies = iter_sqlite(path)
        return await verify_log(bodies, key=key, anchor=anchor, progress=progress, total=total)
    head = await anyio.to_thread.run_sync(peek_head, path)
    total = None if head is None else head[0]
    report = await verify_log(
        iter_jsonl(path), key=key, anchor=anchor, progress=progress, total=total
    )
    cuts = await anyio.to_thread.run_sync(_side_files, path, report.cuts)
    return dataclasses.replace(report, cuts=cuts)


def read_file(path: Path) -> AsyncIterator[Any]:
    """The stored records of a JSON-lines or SQLite log, read only (`Unreadable` where not JSON)."""
    return iter_sqlite(path) if path.suffix in SQLITE_SUFFIXES else iter_jsonl(path)


def verify_file_sync(
    source: str | Path,
    *,
    key: bytes | None = None,
    anchor: tuple[int, str] | None = None,
    progress: Progress | None = None,
    schema: str = "mainspring",
) -> VerifyReport:
    """`verify_file` for code without an event loop (a script, a cron job). Not inside one."""
    try:
        anyio.get_current_task()
    except RuntimeError:
        return anyio.run(
            lambda: verify_file(source, key=key, anchor=anchor, progress=progress, schema=schema)
        )
    raise ConfigurationError(
        "verify_file_sync() was called from inside a running event loop; use "
        "`await verify_file(...)` there instead"
    )


def _side_files(path: Path, cuts: tuple[dict[str, Any], ...]) -> tuple[dict[str, Any], ...]:
    checked = []
    for cut in cuts:
        side = path.parent / str(cut.get("file", ""))
        checked.append({**cut, "kept": _sha256(side) == cut.get("sha256")})
    named = {str(cut.get("file")) for cut in cuts}
    for side in sorted(path.parent.glob(f"{path.name}.torn-*")):
        if side.name not in named:
            checked.append(
                {
                    "seq": None,
                    "file": side.name,
                    "size": side.stat().st_size,
                    "sha256": _sha256(side),
                    "reason": "a side file no log_repair record names (the writer stopped "
                    "between moving the bytes and recording the cut)",
                    "kept": True,
                }
            )
    return tuple(checked)


def _sha256(path: Path) -> str | None:
    digest = hashlib.sha256()
    try:
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    except OSError:
        return None
    return digest.hexdigest()
