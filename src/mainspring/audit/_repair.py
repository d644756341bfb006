"""Reopening a JSON-lines log: find its last complete record, and move what follows aside.

A crash mid-write leaves a torn final line; a hand edit can leave lines that are not records.
Neither may break the chain or be lost: the writer continues after the last complete record, and
the bytes after it go to a side file next to the log, which a `log_repair` record names.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any

from mainspring.audit._encode import format_time
from mainspring.audit.base import GENESIS, AuditEntry, head_of
from mainspring.errors import AuditLogError

_CHUNK = 1 << 16


@dataclass(frozen=True, slots=True)
class Cut:
    """Bytes cut off the end of a log on reopening it, and where they are kept."""

    after_seq: int
    """The last complete record before the cut bytes."""
    size: int
    file: str
    """The side file holding exactly the cut bytes (a name in the log's directory)."""
    sha256: str
    lines: int
    """Complete (newline-terminated) lines among the cut bytes; the rest is a torn line."""
    torn: bool
    reason: str

    def to_dict(self) -> dict[str, Any]:
        """As stored in the `log_repair` record's `detail`."""
        return asdict(self)


def repair_entry(cut: Cut) -> AuditEntry:
    """The record that seals a cut into the chain, so `verify` can report it."""
    return AuditEntry(
        "log_repair",
        "cut_tail",
        time=format_time(dt.datetime.now(dt.UTC)),
        outcome="error",
        error_kind="torn_tail" if cut.lines == 0 else "unreadable_tail",
        detail=cut.to_dict(),
    )


def cut_tail(path: Path) -> tuple[int, str, Cut | None]:
    """(seq, hash) of the last complete record, and the `Cut` of anything after it.

    Raises `AuditLogError` only for a file that holds no record at all but complete lines: that
    is not an audit log (a wrong path), and appending to it would hide that.
    """
    if not path.exists() or path.stat().st_size == 0:
        return 0, GENESIS, None
    with path.open("rb+") as handle:
        size = handle.seek(0, os.SEEK_END)
        found = _last_record(handle, size)
        if found is None:
            if _previous_newline(handle, size) > 0:
                raise AuditLogError(
                    f"{str(path)!r} holds no audit record, only lines that are not records: it "
                    f"is not an audit log (`mainspring audit verify {path}` shows what it holds); "
                    "pass the right path or move this file aside"
                )
            seq, digest, keep = 0, GENESIS, 0
        else:
            seq, digest, keep = found
        if keep > size:  # a complete record lacking only its newline: finish the line
            handle.seek(size)
            handle.write(b"\n")
            handle.flush()
            os.fsync(handle.fileno())
            return seq, digest, None
        if keep == size:
            return seq, digest, None
        return seq, digest, _move_aside(path, handle, keep, size, seq)


def _last_record(handle: IO[bytes], size: int) -> tuple[int, str, int] | None:
    """(seq, hash, end of its line) of the last line that is a record; scans back line by line."""
    end = size
    while end > 0:
        handle.seek(end - 1)
        terminated = handle.read(1) == b"\n"
        body_end = end - 1 if terminated else end
        start = _previous_newline(handle, body_end)
        handle.seek(start)
        head = _head(handle.read(body_end - start))
        if head is not None:
            # A record without its newline is complete; `end + 1` asks the caller to add it.
            return head[0], head[1], end if terminated else end + 1
        end = start
    return None


def _head(line: bytes) -> tuple[int, str] | None:
    try:
        return head_of(json.loads(line))
    except (ValueError, RecursionError):
        return None


def _previous_newline(handle: IO[bytes], before: int) -> int:
    """The offset just after the last newline before `before`, or 0: chunks double as they go."""
    chunk, end = _CHUNK, before
    while end > 0:
        start = max(0, end - chunk)
        handle.seek(start)
        found = handle.read(end - start).rfind(b"\n")
        if found >= 0:
            return start + found + 1
        end, chunk = start, chunk * 2
    return 0


def _move_aside(path: Path, handle: IO[bytes], keep: int, size: int, seq: int) -> Cut:
    """Copy bytes [keep, size) to a new side file, fsync it, then cut them off the log."""
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
    side, n = path.with_name(f"{path.name}.torn-{stamp}"), 1
    while side.exists():
        n += 1
        side = path.with_name(f"{path.name}.torn-{stamp}-{n}")
    digest, lines, last = hashlib.sha256(), 0, b""
    handle.seek(keep)
    with side.open("xb") as out:
        remaining = size - keep
        while remaining > 0:
            block = handle.read(min(remaining, 1 << 20))
            if not block:
                break
            out.write(block)
            digest.update(block)
            lines += block.count(b"\n")
            remaining -= len(block)
            last = block[-1:]
        out.flush()
        os.fsync(out.fileno())
    _fsync_dir(path.parent)
    # Only now, with the bytes safe in the side file, cut them off (a crash before this line
    # leaves them in both places; the next reopen moves them again, losing nothing).
    handle.truncate(keep)
    handle.flush()
    os.fsync(handle.fileno())
    torn = last != b"\n"
    what = f"{lines} line(s) after seq {seq} that are not records" if lines else ""
    tail = "a line torn by an interrupted write" if torn else ""
    reason = " and ".join(part for part in (what, tail) if part)
    return Cut(seq, size - keep, side.name, digest.hexdigest(), lines, torn, reason)


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems do not sync directories; the file itself is synced
    finally:
        os.close(fd)


def peek_head(path: Path) -> tuple[int, str] | None:
    """(seq, hash) of the last record, reading only (for a progress bar's total)."""
    try:
        with path.open("rb") as handle:
            found = _last_record(handle, handle.seek(0, os.SEEK_END))
    except OSError:
        return None
    return None if found is None else (found[0], found[1])
