"""The default audit log: one JSON object per line in an append-only file.

Durability (`fsync`):
- "always": every `append` is fsynced before it returns (survives power loss; slowest);
- "batch" (default): every `append` is written and flushed to the OS before it returns
  (survives a process crash), and fsynced at most once per `fsync_interval` seconds (a power
  loss can lose that window);
- "never": the OS decides when to write back.

Appends from concurrent runs are batched: the process's writer thread (`mainspring._writer`)
seals every append queued since its last write, in order, and writes them with one `write` (and
at most one `fsync`), then wakes each caller; the policy above holds for every append of the
batch. A write that fails fails every append of that batch and leaves none of it in the file.

Reopening finds the last complete record whatever its size (the file is read backwards in
growing chunks). Whatever follows it (a line torn by a crash, lines that are not records) is
moved to a side file `<log>.torn-<time>`, a warning is logged under `mainspring.audit`, and a
`log_repair` record in the chain says what was cut, so `verify` reports it. Nothing is deleted.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import IO, Any, Literal

import anyio

from mainspring._writer import GroupWriter
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
        self._writer: GroupWriter[Sequence[AuditEntry]] = GroupWriter(
            f"mainspring-audit:{self.path.name}", self._append_batch, _batch_failed
        )
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

    def _append_batch(self, batch: Sequence[Sequence[AuditEntry]]) -> list[list[AuditRecord]]:
        """The writer thread's batch: seal each append in order, then one write for them all."""
        if self._handle is None:
            self._open()
        seq, prev = self._seq, self._prev
        sealed = []
        for entries in batch:
            records = seal_all(entries, seq, prev, self._key)
            if records:
                seq, prev = records[-1].seq, records[-1].hash
            sealed.append(records)
        self._write_records([r for records in sealed for r in records])
        return sealed

    def _write(self, data: bytes) -> None:
        handle = self._handle
        assert handle is not None  # opened in the writer thread before any write
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
        records: list[AuditRecord] = await self.append_soon(entries)
        return records

    def append_soon(self, entries: Sequence[AuditEntry]) -> asyncio.Future[list[AuditRecord]]:
        """Queue `append` now, without waiting: the future completes once the entries are written.

        `AuditSink` queues records this way and waits for them at the run's next step.
        """
        return self._writer.write(entries)

    async def head(self) -> tuple[int, str]:
        """(seq, hash) of the newest record: keep a copy elsewhere to detect tail deletion."""
        head: tuple[int, str] = await self._writer.call(self._head)
        return head

    def _head(self) -> tuple[int, str]:
        if self._handle is None:
            self._open()
        return self._seq, self._prev

    async def bodies(self) -> AsyncIterator[Any]:
        """Every record as stored; a line that is not JSON is yielded as an `Unreadable`."""
        async for body in iter_jsonl(self.path):
            yield body

    async def aclose(self) -> None:
        """Write every queued append, fsync (unless 'never') and close."""
        await self._writer.aclose(self._close)

    def _close(self) -> None:
        if self._handle is not None:
            handle, self._handle = self._handle, None
            if self.fsync != "never":
                os.fsync(handle.fileno())
            handle.close()


def _batch_failed(exc: BaseException, count: int) -> BaseException:
    if isinstance(exc, AuditLogError):
        error = AuditLogError(f"{exc} (none of the {count} append(s) written together is kept)")
    else:
        error = AuditLogError(f"audit log write failed ({type(exc).__name__}: {exc})")
    error.__cause__ = exc
    return error


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
