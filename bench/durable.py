"""What durability costs a step: the plain loop vs. the loop with a run store and an audit log.

The durable agent is what `mainspring run` uses: a `SqliteRunStore` (WAL, synchronous=NORMAL) and
an `AuditSink` over a `JsonlAuditLog` (fsync "batch"). The model is a `FunctionModel` answering
instantly with its usage given (no tokenizer in the double) and the tool is a trivial `async def`,
so what differs between the two rows is only the journal and the audit records.

Measured sequentially (one run at a time) and with 50 concurrent runs (where group commit can
share one transaction between runs). Runs standalone, so the same file measures another checkout
(`PYTHONPATH=<checkout>/src python bench/durable.py`): `python -m bench durable`.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench._scripted import scripted_agent

STEPS = 10
"""Tool-calling steps per run (plus the final answer's step)."""
_IDS = itertools.count()


def _agent(store: Any = None, audit: Any = None) -> Any:
    return scripted_agent(STEPS, max_iterations=STEPS + 1, run_store=store, audit=audit)


async def _per_step(agent: Any, runs: int, concurrency: int) -> float:
    """µs per step: `runs` runs, `concurrency` at a time, median of 5 rounds."""
    samples = []
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(runs // concurrency):
            batch = []
            for _ in range(concurrency):
                batch.append(agent.run("go", run_id=f"r{next(_IDS)}"))
            for result in await asyncio.gather(*batch):
                assert result.tool_calls == STEPS, result
        samples.append((time.perf_counter() - started) / (runs * (STEPS + 1)) * 1e6)
    return statistics.median(samples)


async def measure() -> dict[str, float]:
    """µs per step for each configuration, sequential and 50 concurrent runs."""
    from mainspring.audit import AuditSink, JsonlAuditLog
    from mainspring.runs import SqliteRunStore

    out: dict[str, float] = {}
    plain = _agent()
    await _per_step(plain, 20, 1)  # warm up
    out["plain, sequential"] = await _per_step(plain, 100, 1)
    out["plain, 50 concurrent"] = await _per_step(plain, 100, 50)
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteRunStore(Path(tmp) / "runs.db")
        log = JsonlAuditLog(Path(tmp) / "audit.jsonl")
        durable = _agent(store, AuditSink(log))
        await _per_step(durable, 20, 1)
        out["run store + audit, sequential"] = await _per_step(durable, 100, 1)
        out["run store + audit, 50 concurrent"] = await _per_step(durable, 100, 50)
        await store.aclose()
        await log.aclose()
    return out


def main() -> str:
    """The markdown section: this checkout's figures."""
    figures = asyncio.run(measure())
    load = os.getloadavg()[0]
    rows = [f"| {name} | {us:.0f} |" for name, us in figures.items()]
    seq = figures["run store + audit, sequential"] / figures["plain, sequential"]
    conc = figures["run store + audit, 50 concurrent"] / figures["plain, 50 concurrent"]
    return "\n".join(
        [
            "## Durability per step (`bench/durable.py`)",
            "",
            f"A {STEPS}-tool-call run with an instant FunctionModel and a trivial async tool; "
            "SQLite run store (WAL, synchronous=NORMAL) + JSONL audit log (fsync 'batch'); "
            f"median of 5 x 100 runs; load average {load:.2f}:",
            "",
            "| configuration | µs/step |",
            "| --- | ---: |",
            *rows,
            "",
            f"Durable step / plain step: **{seq:.2f}x** sequential, **{conc:.2f}x** with 50 "
            "concurrent runs (target: under 3x).",
        ]
    )


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent.parent))
    result = asyncio.run(measure())
    print(json.dumps({**result, "load": os.getloadavg()[0]}))
