"""The durable engine: throughput over 1, 2 and 4 workers, and what it adds to one run.

A fake OpenAI-compatible server (its own process) answers every request after 50 ms; each run
is 3 model calls and 2 tool calls (`tests/engine/fake_openai.py`, `tests/engine/engine_tools.py`),
recorded in PostgreSQL. Throughput: 48 runs submitted at once, from the first submit to the last
run finished. Overhead: the same run in-process against the run submitted to one idle worker,
alternating, median of 20, divided by the run's 5 steps. The in-process agent is configured as
`mainspring worker` configures its own (PostgreSQL run store and audit log, the same budget):
an earlier version compared against an agent without the audit log and charged the audit's
cost to the engine. The engine's share is split into the queue wait (a submit wakes the
workers: engine/_wake.py), the execution (from the workflow's start to its end, as DBOS
recorded them) and the rest (submit, and the client's polling for the result).

Run: `python -m bench engine`.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg

ROOT = Path(__file__).parent.parent
ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
RUNS = 48
LATENCY_RUNS = 20
STEPS = 5


def _database() -> str:
    name = f"ms_bench_engine_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    url = f"postgresql://postgres@127.0.0.1:5432/{name}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE effects (kind text, run_order text, at timestamptz)")
    return url


def _drop(url: str) -> None:
    with psycopg.connect(ADMIN, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {url.rsplit('/', 1)[1]} WITH (FORCE)")


def _env(db: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}:{ROOT}", "ENGINE_EFFECTS_DB": db}


def _workers(
    db: str, model_url: str, count: int, concurrency: int
) -> list[subprocess.Popen[bytes]]:
    return [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "mainspring.cli",
                "worker",
                "--db",
                db,
                "--tools",
                "tests.engine.engine_tools:TOOLS",
                "--model",
                "openai:fake",
                "--base-url",
                model_url,
                "--concurrency",
                str(concurrency),
                "--executor-id",
                f"bench-{i}",
            ],
            env=_env(db),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for i in range(count)
    ]


async def _throughput(db: str) -> float:
    from mainspring.engine import EngineClient, EngineSettings

    client = EngineClient(EngineSettings(db))
    try:
        await client.submit("warm up")
        started = time.perf_counter()
        ids = [await client.submit(f"order-{i}") for i in range(RUNS)]
        for run_id in ids:
            await client.wait(run_id, seconds=600, poll=0.05)
        return RUNS / (time.perf_counter() - started)
    finally:
        client.close()


def _inprocess_agent(db: str, model_url: str) -> Any:
    os.environ["ENGINE_EFFECTS_DB"] = db
    sys.path.insert(0, str(ROOT))
    from tests.engine.engine_tools import TOOLS

    from mainspring.agent import Agent, Budget
    from mainspring.audit import AuditSink, PostgresAuditLog
    from mainspring.models.openai import OpenAIModel
    from mainspring.runs import PostgresRunStore

    return Agent(  # as `mainspring worker` builds its agent (cli/engine.py)
        OpenAIModel("fake", base_url=model_url, api_key="none"),
        TOOLS,
        run_store=PostgresRunStore(db),
        audit=AuditSink(PostgresAuditLog(db)),
        budget=Budget(max_iterations=20),
    )


async def _latencies(
    db: str, model_url: str, lookups: int = 1
) -> tuple[float, float, float, float]:
    """Medians of (engine run, queue wait, execution, in-process run), in seconds.

    Engine and in-process runs alternate, so a change of the machine's load hits both. A run
    looks up `lookups` times, then charges and answers: `2 * lookups + 3` steps.
    """
    from mainspring.engine import EngineClient, EngineSettings

    client = EngineClient(EngineSettings(db))
    agent = _inprocess_agent(db, model_url)
    engine, inproc, ids = [], [], []
    try:
        for i in range(LATENCY_RUNS + 1):
            started = time.perf_counter()
            ids.append(await client.submit(f"single-{i} lookups={lookups}"))
            await client.wait(ids[-1], seconds=120, poll=0.01)
            engine.append(time.perf_counter() - started)
            started = time.perf_counter()
            await agent.run(f"inproc-{i} lookups={lookups}")
            inproc.append(time.perf_counter() - started)
    finally:
        client.close()
        await agent.run_store.aclose()
    with psycopg.connect(db) as conn:
        rows = conn.execute(
            "SELECT started_at_epoch_ms - created_at, updated_at - started_at_epoch_ms "
            "FROM dbos.workflow_status WHERE workflow_uuid = ANY(%s)",
            (ids[1:],),
        ).fetchall()
    waits = statistics.median(r[0] for r in rows) / 1000
    runs = statistics.median(r[1] for r in rows) / 1000
    return statistics.median(engine[1:]), waits, runs, statistics.median(inproc[1:])


LONG_LOOKUPS = 9
LONG_STEPS = 2 * LONG_LOOKUPS + 3


def _marginal(short: float, long: float) -> list[str]:
    """What one more step costs through the engine: the slope between a short and a long run.

    The difference per step of one run mixes the engine's cost per run (submit, queue wait,
    the workflow's own records, the client's polling) with its cost per step; two run lengths
    tell them apart.
    """
    per_step = (long - short) / (LONG_STEPS - STEPS)
    per_run = short - per_step * STEPS
    return [
        f"Runs of {STEPS} and of {LONG_STEPS} steps through the engine took "
        f"{short * 1000:+.0f} ms and {long * 1000:+.0f} ms over the same runs in-process: each "
        f"further step costs {per_step * 1000:+.1f} ms (the target was under 5 ms), and a run "
        f"{per_run * 1000:+.0f} ms once, whatever its length.",
    ]


def _serve_model() -> tuple[subprocess.Popen[str], str]:
    server = subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "engine" / "fake_openai.py"), "--delay", "0.05"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert server.stdout is not None
    return server, f"http://127.0.0.1:{int(server.stdout.readline())}/v1"


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        proc.terminate()
    for proc in procs:
        proc.wait(30)


def main() -> str:
    server, model_url = _serve_model()
    rows = []
    try:
        for count in (1, 2, 4):
            db = _database()
            procs = _workers(db, model_url, count, concurrency=8)
            try:
                rows.append((count, asyncio.run(_throughput(db))))
            finally:
                _stop(procs)
                _drop(db)
        db = _database()
        procs = _workers(db, model_url, 1, concurrency=1)
        try:
            engine, queued, executed, inproc = asyncio.run(_latencies(db, model_url))
            long_engine, _, _, long_inproc = asyncio.run(
                _latencies(db, model_url, lookups=LONG_LOOKUPS)
            )
        finally:
            _stop(procs)
            _drop(db)
    finally:
        server.terminate()
        server.wait(10)
        assert server.stdout is not None
        server.stdout.close()
    lines = [
        "## Engine (DBOS workers on PostgreSQL)",
        "",
        f"{RUNS} runs of {STEPS} steps (3 model calls at 50 ms, 2 tool calls), submitted at once; "
        "each worker a process with concurrency 8, on this 2-core machine.",
        "",
        "| workers | runs/s |",
        "|---|---|",
    ]
    lines += [f"| {count} | {rate:.1f} |" for count, rate in rows]
    per_step = (engine - inproc) / STEPS * 1000
    inside = (executed - inproc) / STEPS * 1000
    lines += [
        "",
        f"One run, median of {LATENCY_RUNS} (alternating): in-process "
        f"{inproc * 1000:.0f} ms (same agent as the worker's), through the engine "
        f"{engine * 1000:.0f} ms: {per_step:+.1f} ms per step all in. Of that, the queue "
        f"wait {queued * 1000:.0f} ms per run (a submit wakes the worker), the execution "
        f"{executed * 1000:.0f} ms ({inside:+.1f} ms per step against in-process), the rest "
        "submit and the client's polling for the result.",
        "",
        *_marginal(engine - inproc, long_engine - long_inproc),
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(main())
