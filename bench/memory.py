"""Memory benchmarks: batched inserts and get_context over 100,000 long-term entries.

Entries are synthetic sentences of 30-60 words drawn (Zipf-like) from a 5,000-word vocabulary,
so full-text postings have realistic skew. Each query is three words drawn the same way.
get_context runs with the default config (touching the returned entries, i.e. one small write).
"""

from __future__ import annotations

import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import anyio

from mainspring.memory import AgentMemory, MemoryStore, SQLiteMemoryStore
from mainspring.tokens import default_tokenizer

ENTRIES = 100_000
BATCH = 1_000
QUERIES = 300
BUDGET = 2_000
POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"


def _words(rng: random.Random) -> Callable[[int], list[str]]:
    vocabulary = [f"w{i}{rng.choice('aeiou')}{rng.choice('nrst')}" for i in range(5_000)]
    weights = [1 / (rank + 1) for rank in range(len(vocabulary))]

    def draw(n: int) -> list[str]:
        return rng.choices(vocabulary, weights, k=n)

    return draw


async def _fill(memory: AgentMemory, draw: Callable[[int], list[str]]) -> float:
    rng = random.Random(7)
    texts = [" ".join(draw(rng.randint(30, 60))) for _ in range(ENTRIES)]
    started = time.perf_counter()
    for start in range(0, ENTRIES, BATCH):
        batch = [
            memory.entry(text, importance=rng.random()) for text in texts[start : start + BATCH]
        ]
        await memory.add(batch)
    return ENTRIES / (time.perf_counter() - started)


async def _contexts(memory: AgentMemory, draw: Callable[[int], list[str]]) -> list[float]:
    tokenizer = default_tokenizer()
    timings = []
    for _ in range(QUERIES):
        query = " ".join(draw(3))
        started = time.perf_counter()
        context = await memory.get_context(BUDGET, query, tokenizer=tokenizer)
        timings.append((time.perf_counter() - started) * 1000)
        assert context.tokens <= BUDGET
    return timings


async def _measure(store: MemoryStore) -> tuple[float, list[float]]:
    memory = AgentMemory(store, namespace="bench")
    draw = _words(random.Random(1))
    # A short-term window like a live conversation's, included in every context.
    for i in range(20):
        await memory.add_short_term(f"User: message {i} " + " ".join(draw(20)))
    rate = await _fill(memory, draw)
    analyze = getattr(store, "analyze", None)
    if analyze is not None:  # PostgreSQL: what autovacuum does within a minute of the load
        await analyze()
    await memory.get_context(BUDGET, "warm up")
    return rate, await _contexts(memory, draw)


def _row(name: str, rate: float, timings: list[float]) -> str:
    timings = sorted(timings)
    p50 = statistics.median(timings)
    p95 = timings[int(len(timings) * 0.95)]
    return f"| {name} | {rate:,.0f} | {p50:.2f} | {p95:.2f} | {timings[-1]:.2f} |"


async def _sqlite() -> str:
    with tempfile.TemporaryDirectory() as tmp:
        store = SQLiteMemoryStore(Path(tmp) / "bench.db")
        try:
            rate, timings = await _measure(store)
        finally:
            await store.close()
    return _row("SQLite (file, WAL, synchronous=NORMAL)", rate, timings)


async def _postgres() -> str:
    from mainspring.memory.postgres import PostgresMemoryStore

    schema = f"bench_memory_{uuid.uuid4().hex[:8]}"
    store = PostgresMemoryStore(POSTGRES_URL, schema=schema)
    try:
        rate, timings = await _measure(store)
    except Exception as exc:  # report, don't crash the other benchmarks
        return f"| PostgreSQL | not measured: {exc} | | | |"
    finally:
        await store.drop_schema()
        await store.close()
    return _row("PostgreSQL 15 (127.0.0.1, tsvector + GIN)", rate, timings)


SEMANTIC_ENTRIES = 5_000


async def _semantic() -> str:
    try:
        import sentence_transformers  # noqa: F401
    except ImportError:
        return "Semantic retrieval: not measured (`make install-embeddings` adds the extra)."
    from mainspring.memory.embeddings import SentenceTransformerEmbedder

    embedder = SentenceTransformerEmbedder(threads=1)
    await embedder.embed(["warm up"])
    draw = _words(random.Random(1))
    rng = random.Random(3)
    texts = [" ".join(draw(rng.randint(30, 60))) for _ in range(SEMANTIC_ENTRIES)]
    with tempfile.TemporaryDirectory() as tmp:
        memory = AgentMemory(
            SQLiteMemoryStore(Path(tmp) / "semantic.db"), namespace="bench", embedder=embedder
        )
        started = time.perf_counter()
        for start in range(0, SEMANTIC_ENTRIES, 500):
            await memory.add([memory.entry(t) for t in texts[start : start + 500]])
        rate = SEMANTIC_ENTRIES / (time.perf_counter() - started)
        timings = []
        for _ in range(50):
            query = " ".join(draw(3))
            began = time.perf_counter()
            await memory.get_context(BUDGET, query)
            timings.append((time.perf_counter() - began) * 1000)
        await memory.close()
    return (
        f"Semantic retrieval (SQLite, all-MiniLM-L6-v2 on CPU with 1 torch thread, "
        "brute-force cosine): "
        f"{SEMANTIC_ENTRIES:,} entries embedded and stored at {rate:,.0f}/s; "
        f"get_context with a query p50 {statistics.median(timings):.1f} ms "
        f"(the query's embedding included)."
    )


def main() -> str:
    rows = [anyio.run(_sqlite), anyio.run(_postgres)]
    semantic = anyio.run(_semantic)
    return "\n".join(
        [
            "## Memory",
            "",
            f"{ENTRIES:,} long-term entries of 30-60 words inserted in batches of {BATCH:,} "
            f"through `AgentMemory.add`; then {QUERIES} calls of "
            f"`get_context(max_tokens={BUDGET:,}, query=<3 words>)` with 20 short-term entries "
            "in the window (o200k tokenizer, access times recorded). "
            "Targets: insert > 20,000/s; SQLite get_context p50 < 10 ms. "
            "Run: `.venv/bin/python -m bench memory`.",
            "",
            "| store | inserts/s | get_context p50 ms | p95 ms | max ms |",
            "| --- | ---: | ---: | ---: | ---: |",
            *rows,
            "",
            semantic,
        ]
    )
