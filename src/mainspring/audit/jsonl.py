"""The default audit log: one JSON object per line in an append-only file.

Durability (`fsync`):
- "always": every `append` is fsynced before it returns (survives power loss; slowest);
- "batch" (default): every `append` is written and flushed to the OS before it returns
  (survives a process crash), and fsynced at most once per `fsync_interval` seconds (a power
  loss can lose that window);
- "never": the OS decides when to write back.
A line torn by a crash mid-write was never acknowledged; it is cut off when the log is reopened.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import IO, Any, Literal

import anyio

from mainspring.audit.base import GENESIS, AuditEntry, AuditRecord, seal_all
from mainspring.errors import AuditLogError

FsyncPolicy = Literal["always", "batch", "never"]
_TAIL_CHUNK = 1 << 16


def _read_head(path: Path) -> tuple[int, str]:
    """The (seq, hash) of the last complete record, cutting off a torn final line."""
    if not path.exists() or path.stat().st_size == 0:
        return 0, GENESIS
    with path.open("rb+") as handle:
        size = handle.seek(0, os.SEEK_END)
        start = max(0, size - _TAIL_CHUNK)
        handle.seek(start)
        tail = handle.read()
        if not tail.endswith(b"\n"):
            cut = tail.rfind(b"\n")
            handle.truncate(start + cut + 1 if cut >= 0 else start)
            tail = tail[: cut + 1] if cut >= 0 else b""
    lines = tail.splitlines()
    if not lines:
        return 0, GENESIS
    try:
        body = json.loads(lines[-1])
        return int(body["seq"]), str(body["hash"])
    except (ValueError, KeyError, TypeError) as exc:
        raise AuditLogError(
            f"the last record of {str(path)!r} is unreadable ({exc}); run "
            f"`mainspring audit verify {path}` before appending to it"
        ) from None


class JsonlAuditLog:
    """A hash-chained JSON-lines audit log. One writer process per file."""

    def __init__(
        self,
        path: str | Path,
        *,
        key: bytes | None = None,
        fsync: FsyncPolicy = "batch",
        fsync_interval: float = 1.0,
    ) -> None:
        self.path = Path(path)
        self.fsync = fsync
        self._key = key
        self._fsync_interval = fsync_interval
        self._lock = anyio.Lock()
        self._handle: IO[str] | None = None
        self._seq = 0
        self._prev = GENESIS
        self._last_sync = 0.0

    def _open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._seq, self._prev = _read_head(self.path)
        self._handle = self.path.open("a", encoding="utf-8")

    def _write(self, lines: str) -> None:
        handle = self._handle
        assert handle is not None  # opened under the lock before any write
        handle.write(lines)
        handle.flush()
        now = time.monotonic()
        due = self.fsync == "batch" and now - self._last_sync >= self._fsync_interval
        if self.fsync == "always" or due:
            os.fsync(handle.fileno())
            self._last_sync = now

    async def append(self, entries: Sequence[AuditEntry]) -> list[AuditRecord]:
        """Seal and write entries in order; durable per the fsync policy when this returns."""
        async with self._lock:
            if self._handle is None:
                await anyio.to_thread.run_sync(self._open)
            records = seal_all(entries, self._seq, self._prev, self._key)
            text = "".join(r.to_json() + "\n" for r in records)
            try:
                await anyio.to_thread.run_sync(self._write, text)
            except OSError as exc:
                raise AuditLogError(f"cannot write audit log {str(self.path)!r}: {exc}") from exc
            if records:
                self._seq, self._prev = records[-1].seq, records[-1].hash
            return records

    async def head(self) -> tuple[int, str]:
        """(seq, hash) of the newest record: keep a copy elsewhere to detect tail deletion."""
        async with self._lock:
            if self._handle is None:
                await anyio.to_thread.run_sync(self._open)
            return self._seq, self._prev

    async def bodies(self) -> AsyncIterator[Any]:
        """Every record as stored; an unparsable line is yielded as its raw text."""
        async for body in iter_jsonl(self.path):
            yield body

    async def aclose(self) -> None:
        """Fsync (unless 'never') and close."""
        async with self._lock:
            if self._handle is not None:
                handle, self._handle = self._handle, None
                await anyio.to_thread.run_sync(self._close, handle)

    def _close(self, handle: IO[str]) -> None:
        handle.flush()
        if self.fsync != "never":
            os.fsync(handle.fileno())
        handle.close()


async def iter_jsonl(path: Path, batch: int = 2048) -> AsyncIterator[Any]:
    """Parsed lines of a JSON-lines file, read off the event loop in batches."""
    handle = await anyio.to_thread.run_sync(lambda: path.open("r", encoding="utf-8"))
    try:
        while True:
            lines = await anyio.to_thread.run_sync(_read_lines, handle, batch)
            if not lines:
                return
            for line in lines:
                yield _parse(line)
    finally:
        handle.close()


def _read_lines(handle: IO[str], count: int) -> list[str]:
    lines = []
    for line in handle:
        lines.append(line)
        if len(lines) >= count:
            break
    return lines


def _parse(line: str) -> Any:
    try:
        return json.loads(line)
    except ValueError:
        return line
