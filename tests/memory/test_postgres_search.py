"""PostgreSQL-specific retrieval: pruning of near-ubiquitous words from planner statistics."""

from __future__ import annotations

from mainspring.memory import MemoryEntry
from tests.memory.conftest import POSTGRES_URL, postgres_store


async def test_words_in_most_entries_are_left_out_once_analyzed() -> None:
    from mainspring.memory.postgres import PostgresMemoryStore

    probe = await postgres_store()
    assert isinstance(probe, PostgresMemoryStore)
    await probe.close()
    store = PostgresMemoryStore(
        POSTGRES_URL, schema=probe.schema, max_term_share=0.5, min_pruned_docs=3
    )
    try:
        await store.put([MemoryEntry("a", f"common filler {i}") for i in range(10)])
        await store.put([MemoryEntry("a", "common but rare word")])
        assert len(await store.search("a", "common", kinds=["long"], limit=20, now=0)) == 11
        await store.analyze()
        hits = await store.search("a", "common rare", kinds=["long"], limit=20, now=0)
        assert [h.entry.content for h in hits] == ["common but rare word"]
        assert await store.search("a", "common", kinds=["long"], limit=20, now=0) == []
    finally:
        await store.drop_schema()
        await store.close()
