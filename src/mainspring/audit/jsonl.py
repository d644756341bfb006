"""The default audit log: one JSON object per line in an append-only file.

Durability (`fsync`):
- "always": every `append` is fsynced before it returns (survives power loss; slowest);
- "batch" (default): every `append` is written and flushed to the OS before it returns
  (survives a process crash), and fsynced at most once per `fsync_interval` seconds (a power
  loss can lose that window);
- "never": the OS decides when to write back.

Reopening finds the last complete record whatever its size (the file is read backwards in
growing chunks). Whatever follows it (a line torn by a crash, lines that are not records) is
moved to a side file `<log>.torn-<time>`, a warning is logged under `mainspring.audit`, and a
`log_repair` record in the chain says what was cut, so `verify` reports it. Nothing is deleted.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import IO, Any, Literal

import anyio

from mainspring.audit._repair import Cut, cut_tail, repair_entry
from mainspring.audit.base import GENESIS, AuditEntry, AuditRecord, Unreadable, seal_all
from mainspring.errors import AuditLogError

FsyncPolicy = Literal["always", "batch", "never"]
logger = logging.getLogger("mainspring.audit")


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
        self._handle: IO[bytes] | None = None
        self._seq = 0
        self._prev = GENESIS
        self._last_sync = 0.0
        self._size = 0
        """Where the next write starts: one writer per file, so tracked, not asked of the OS."""

    def _open(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._seq, self._prev, cut = cut_tail(self.path)
            self._handle = self.path.open("ab", buffering=0)
            self._size = self._handle.seek(0, os.SEEK_END)
        except OSError as exc:
            raise AuditLogError(f"cannot open audit log {str(self.path)!r}: {exc}") from exc
        if cut is not None:
            self._record_cut(cut)

    def _record_cut(self, cut: Cut) -> None:
        logger.warning(
            "audit log %s: cut %d bytes after seq %d (%s); kept in %s",
            self.path,
            cut.size,
            cut.after_seq,
            cut.reason,
            cut.file,
        )
        self._write_records(seal_all([repair_entry(cut)], self._seq, self._prev, self._key))

    def _write_records(self, records: list[AuditRecord]) -> None:
        data = "".join(r.to_json() + "\n" for r in records).encode()
        self._write(data)
        if records:
            self._seq, self._prev = records[-1].seq, records[-1].hash

    def _write(self, data: bytes) -> None:
        handle = self._handle
        assert handle is not None  # opened under the lock before any write
        start = self._size
        try:
            view = memoryview(data)
            while view:  # a raw file may write less than asked (a signal, a full disk)
                view = view[handle.write(view) or 0 :]
            self._size = start + len(data)
            now = time.monotonic()
            due = self.fsync == "batch" and now - self._last_sync >= self._fsync_interval
            if self.fsync == "always" or due:
                os.fsync(handle.fileno())
                self._last_sync = now
        except OSError as exc:
            # Take back a partial write, so the next append does not glue onto half a line.
            self._size = start
            with contextlib.suppress(OSError):  # if even that fails, reopening cuts it aside
                os.ftruncate(handle.fileno(), start)
            raise AuditLogError(f"cannot write audit log {str(self.path)!r}: {exc}") from exc

    async def append(self, entries: Sequence[AuditEntry]) -> list[AuditRecord]:
        """Seal and write entries in order; durable per the fsync policy when this returns.

        Any entry can be written (see docs/audit.md, "What is stored"); only an I/O failure
        raises (`AuditLogError`), and then nothing of this append is left in the file.
        """
        async with self._lock:
            if self._handle is None:
                await anyio.to_thread.run_sync(self._open)
            records = seal_all(entries, self._seq, self._prev, self._key)
            await anyio.to_thread.run_sync(self._write_records, records)
            return records

    async def head(self) -> tuple[int, str]:
        """(seq, hash) of the newest record: keep a copy elsewhere to detect tail deletion."""
        async with self._lock:
            if self._handle is None:
                await anyio.to_thread.run_sync(self._open)
            return self._seq, self._prev

    async def bodies(self) -> AsyncIterator[Any]:
        """Every record as stored; a line that is not JSON is yielded as an `Unreadable`."""
        async for body in iter_jsonl(self.path):
            yield body

    async def aclose(self) -> None:
        """Fsync (unless 'never') and close."""
        async with self._lock:
            if self._handle is not None:
                handle, self._handle = self._handle, None
                await anyio.to_thread.run_sync(self._close, handle)

    def _close(self, handle: IO[bytes]) -> None:
        if self.fsync != "never":
            os.fsync(handle.fileno())
        handle.close()


async def iter_jsonl(path: Path, batch: int = 2048) -> AsyncIterator[Any]:
    """Parsed lines of a JSON-lines file, read off the event loop in batches.

    Read as bytes, so no content (invalid UTF-8, stray line separators) can stop the reader; a
    line that does not parse is yielded as an `Unreadable`, `torn` if it is the unterminated end.
    """
    try:
        handle = await anyio.to_thread.run_sync(path.open, "rb")
    except OSError as exc:
        raise AuditLogError(f"cannot read audit log {str(path)!r}: {exc}") from exc
    number = 0
    try:
        while True:
            lines = await anyio.to_thread.run_sync(_read_lines, handle, batch)
            if not lines:
                return
            for line in lines:
                number += 1
                yield _parse(line, number)
    finally:
        handle.close()


def _read_lines(handle: IO[bytes], count: int) -> list[bytes]:
    lines = []
    for line in handle:
        lines.append(line)
        if len(lines) >= count:
            break
    return lines


_DECODER = json.JSONDecoder()


def _parse(line: bytes, number: int) -> Any:
    try:
        return _DECODER.decode(line.decode("utf-8"))
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        raw = line.rstrip(b"\n")
        text = raw.decode("utf-8", "backslashreplace")
        return Unreadable(text, f"line {number}", torn=not line.endswith(b"\n"), size=len(raw))
