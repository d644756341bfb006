"""Each run's events, persisted in order, with live delivery to the streams that follow it.

Every event gets the next `seq` of its run and is stored before anyone is told of it, so a client
that reconnects with `Last-Event-ID: n` reads `n+1, n+2, ...` from the table: no gap, no repeat.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import anyio

from mainspring.server._db import ServiceDatabase

_POLL_SECONDS = 5.0
"""Followers also re-read this often, in case another process appended (a resumed run after a
failover); within one process every append and status change wakes them at once."""


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """One event of a run."""

    seq: int
    type: str
    data: dict[str, Any]


class EventLog:
    """Appends run events and wakes the followers of that run.

    `shared`: other processes append to the same runs (the engine's workers execute them), so
    no next `seq` is cached, a `seq` taken meanwhile is retried, and followers re-read every
    `poll_seconds` (nothing in this process wakes them).
    """

    def __init__(
        self, db: ServiceDatabase, *, shared: bool = False, poll_seconds: float = _POLL_SECONDS
    ) -> None:
        self.db = db
        self.shared = shared
        self.poll_seconds = poll_seconds
        self._next: dict[str, int] = {}
        self._signals: dict[str, anyio.Event] = {}
        self._lock = anyio.Lock()

    async def append(self, run_id: str, type: str, data: dict[str, Any]) -> int:
        """Store the run's next event; returns its seq."""
        if self.shared:
            added = await self._append_shared(run_id, type, data)
            self.notify(run_id)
            return added
        async with self._lock:
            seq = self._next.get(run_id)
            if seq is None:
                row = await self.db.fetchone(
                    "SELECT COALESCE(MAX(seq), 0) AS n FROM run_events WHERE run_id = ?", (run_id,)
                )
                seq = int(row["n"]) if row is not None else 0
            seq += 1
            text = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
            await self.db.execute(
                "INSERT INTO run_events (run_id, seq, type, data) VALUES (?,?,?,?)",
                (run_id, seq, type, text),
            )
            self._next[run_id] = seq
        self.notify(run_id)
        return seq

    async def _append_shared(self, run_id: str, type: str, data: dict[str, Any]) -> int:
        text = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
        while True:
            row = await self.db.fetchone(
                "SELECT COALESCE(MAX(seq), 0) AS n FROM run_events WHERE run_id = ?", (run_id,)
            )
            seq = (int(row["n"]) if row is not None else 0) + 1
            added = await self.db.execute(
                "INSERT INTO run_events (run_id, seq, type, data) VALUES (?,?,?,?) "
                "ON CONFLICT DO NOTHING",
                (run_id, seq, type, text),
            )
            if added:  # else another process took this seq a moment ago: take the next
                return seq

    def notify(self, run_id: str) -> None:
        """Wake the run's followers (after an append, or a change of the run's status)."""
        signal = self._signals.pop(run_id, None)
        if signal is not None:
            signal.set()

    def forget(self, run_id: str) -> None:
        """Drop the cached counter of a finished run (it is re-read if the run resumes)."""
        self._next.pop(run_id, None)

    async def read(self, run_id: str, after: int = 0, limit: int = 500) -> list[StoredEvent]:
        """Events with seq > `after`, in order."""
        rows = await self.db.fetchall(
            "SELECT seq, type, data FROM run_events WHERE run_id = ? AND seq > ? "
            "ORDER BY seq LIMIT ?",
            (run_id, after, limit),
        )
        return [StoredEvent(r["seq"], r["type"], json.loads(r["data"])) for r in rows]

    def signal(self, run_id: str) -> anyio.Event:
        """Set at the run's next append. Take it BEFORE reading, so no append slips between."""
        return self._signals.setdefault(run_id, anyio.Event())

    async def wait(self, signal: anyio.Event) -> None:
        """Until the signal fires or the poll interval passes."""
        with anyio.move_on_after(self.poll_seconds):
            await signal.wait()
