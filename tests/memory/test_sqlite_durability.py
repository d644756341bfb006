"""SQLite durability and migrations: a writer killed mid-stream loses nothing it acknowledged."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import anyio

from mainspring.memory import EntryFilter, SQLiteMemoryStore
from mainspring.memory.sqlite import MIGRATIONS, apply_migrations

WRITER = textwrap.dedent(
    """
    import sys, anyio
    from mainspring.memory import MemoryEntry, SQLiteMemoryStore

    async def main(path):
        store = SQLiteMemoryStore(path)
        i = 0
        while True:
            batch = [MemoryEntry("ns", f"entry number {i + k}", id=f"id-{i + k:07d}")
                     for k in range(1 + i % 7)]
            await store.put(batch)
            # Acknowledge only after put() returned, i.e. after COMMIT.
            sys.stdout.write("".join(e.id + "\\n" for e in batch))
            sys.stdout.flush()
            i += len(batch)

    anyio.run(main, sys.argv[1])
    """
)


def test_sigkill_mid_stream_keeps_every_acknowledged_entry(tmp_path: Path) -> None:
    path = tmp_path / "memory.db"
    acknowledged: list[str] = []
    with subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, text=True
    ) as writer:
        assert writer.stdout is not None
        try:
            while len(acknowledged) < 2000:
                line = writer.stdout.readline()
                assert line, f"writer died early with code {writer.poll()}"
                acknowledged.append(line.strip())
            os.kill(writer.pid, signal.SIGKILL)
            # Lines already in the pipe were acknowledged before the kill: they count too.
            acknowledged.extend(line.strip() for line in writer.stdout if line.endswith("\n"))
        finally:
            writer.kill()
    assert writer.returncode == -signal.SIGKILL

    async def stored_ids() -> set[str]:
        store = SQLiteMemoryStore(path)
        entries = await store.find("ns", EntryFilter())
        hits = await store.search("ns", "entry number 17", kinds=["long"], limit=5, now=0.0)
        assert hits[0].entry.content == "entry number 17"  # the full-text index survived too
        await store.close()
        return {e.id for e in entries}

    survived = anyio.run(stored_ids)
    missing = set(acknowledged) - survived
    assert not missing, f"{len(missing)} acknowledged entries lost, e.g. {sorted(missing)[:3]}"
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    conn.execute("INSERT INTO entries_fts (entries_fts) VALUES ('integrity-check')")
    conn.close()


def test_migrations_are_recorded_and_applied_once(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    anyio.run(SQLiteMemoryStore(path).close)
    conn = sqlite3.connect(path)
    names = [row[0] for row in conn.execute("SELECT name FROM _mainspring_migrations")]
    assert names == [name for name, _ in MIGRATIONS]
    assert apply_migrations(conn) == []
    assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    conn.close()
