"""Audit log throughput: records appended per second under each fsync policy, and verify speed.

Run: `python -m bench audit`. "one per append" is how `AuditSink` writes (each tool call sealed
before the call returns); "batches of 100" is a bulk importer.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import anyio

from mainspring.audit import (
    AuditEntry,
    AuditLog,
    JsonlAuditLog,
    SqliteAuditLog,
    verify_file,
    verify_log,
)
from mainspring.audit.jsonl import FsyncPolicy


def _entry(i: int) -> AuditEntry:
    return AuditEntry(
        "tool_call",
        "calculator",
        time="2026-11-25T08:00:00+00:00",
        run_id=f"run-{i // 10}",
        principal="bench",
        arguments={"expression": f"{i} * 2"},
        latency_ms=0.2,
    )


async def _rate(log: AuditLog, count: int, batch: int) -> float:
    start = time.perf_counter()
    for i in range(0, count, batch):
        await log.append([_entry(j) for j in range(i, i + batch)])
    elapsed = time.perf_counter() - start
    await log.aclose()
    return count / elapsed


async def _measure(folder: Path) -> list[str]:
    rows = []
    for store in ("jsonl", "sqlite"):
        for policy, count in (("batch", 20_000), ("always", 1_000)):
            for batch in (1, 100):
                n = count if batch == 1 else count * 5
                fsync: FsyncPolicy = "always" if policy == "always" else "batch"
                path = folder / f"{store}-{policy}-{batch}.{'jsonl' if store == 'jsonl' else 'db'}"
                log: AuditLog = (
                    JsonlAuditLog(path, fsync=fsync)
                    if store == "jsonl"
                    else SqliteAuditLog(path, fsync=fsync)
                )
                rate = await _rate(log, n, batch)
                rows.append(f"| {store} | {policy} | {batch} | {n:,} | {rate:,.0f} |")
    path = folder / "verify.jsonl"
    await _rate(JsonlAuditLog(path), 100_000, 1000)
    start = time.perf_counter()
    report = await verify_log(JsonlAuditLog(path).bodies())
    elapsed = time.perf_counter() - start
    assert report.ok
    rows.append("")
    rows.append(
        f"Verifying 100,000 records (JSON lines): {elapsed:.2f} s "
        f"({100_000 / elapsed:,.0f} records/s)."
    )
    start = time.perf_counter()
    report = await verify_file(path)  # what `mainspring audit verify` runs (side files too)
    elapsed = time.perf_counter() - start
    assert report.ok
    rows.append(f"`verify_file` on the same log: {elapsed:.2f} s.")
    rows.append(await _reopen_after_huge_record(folder / "huge.jsonl"))
    return rows


async def _reopen_after_huge_record(path: Path) -> str:
    log = JsonlAuditLog(path)
    await log.append([_entry(0)])
    huge = AuditEntry(
        "tool_call", "echo", time="2026-11-25T08:00:00Z", arguments={"t": "x" * 5_000_000}
    )
    await log.append([huge])
    await log.aclose()
    start = time.perf_counter()
    reopened = JsonlAuditLog(path)
    await reopened.append([_entry(1)])  # finds the head behind the 5 MB record
    elapsed = time.perf_counter() - start
    await reopened.aclose()
    return f"Reopening a log whose last record is 5 MB and appending: {elapsed * 1000:.0f} ms."


def main() -> str:
    with tempfile.TemporaryDirectory() as folder:
        rows = anyio.run(_measure, Path(folder))
    return "\n".join(
        [
            "## Audit log (`bench/audit.py`)",
            "",
            "`batch` (default) writes and flushes every append and fsyncs at most once a second;",
            "`always` fsyncs every append before it returns.",
            "",
            "| store | fsync | records per append | records | records/s |",
            "| --- | --- | ---: | ---: | ---: |",
            *rows,
        ]
    )
