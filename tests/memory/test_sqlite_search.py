"""SQLite-specific retrieval: stemming, pruning of ubiquitous words, crowded namespaces, top-k."""

from __future__ import annotations

import anyio
from hypothesis import given, settings
from hypothesis import strategies as st

from mainspring.memory import MemoryEntry, Prior, SQLiteMemoryStore
from mainspring.memory._ranking import Column, RankKey, top_by_prior
from mainspring.memory.base import log_prior


async def test_query_words_are_stemmed_like_the_index() -> None:
    store = SQLiteMemoryStore(":memory:")
    await store.put([MemoryEntry("a", "The user's flight was delayed")])
    hits = await store.search("a", "flights delays", kinds=["long"], limit=5, now=0)
    assert [h.entry.content for h in hits] == ["The user's flight was delayed"]
    await store.close()


async def test_a_word_searched_before_it_was_added_is_found_after() -> None:
    store = SQLiteMemoryStore(":memory:", min_pruned_docs=1)
    await store.put([MemoryEntry("a", "filler") for _ in range(3)])
    assert await store.search("a", "vegetarian", kinds=["long"], limit=5, now=0) == []
    await store.put([MemoryEntry("a", "vegetarian")])
    assert len(await store.search("a", "vegetarian", kinds=["long"], limit=5, now=0)) == 1
    await store.close()


async def test_words_in_most_entries_are_left_out_of_large_namespaces() -> None:
    store = SQLiteMemoryStore(":memory:", max_term_share=0.5, min_pruned_docs=3)
    await store.put([MemoryEntry("a", f"common filler {i}") for i in range(10)])
    await store.put([MemoryEntry("a", "common but rare word")])
    hits = await store.search("a", "common rare", kinds=["long"], limit=20, now=0)
    assert [h.entry.content for h in hits] == ["common but rare word"]
    assert await store.search("a", "common filler", kinds=["long"], limit=20, now=0) == []
    small = SQLiteMemoryStore(":memory:", max_term_share=0.5)  # under min_pruned_docs: all kept
    await small.put([MemoryEntry("a", f"common filler {i}") for i in range(10)])
    assert len(await small.search("a", "common", kinds=["long"], limit=20, now=0)) == 10
    await store.close()
    await small.close()


async def test_a_namespace_crowded_out_by_another_still_finds_its_entries() -> None:
    store = SQLiteMemoryStore(":memory:")
    await store.put([MemoryEntry("big", f"apple pie number {i}") for i in range(50)])
    await store.put([MemoryEntry("big", "apple", kind="short") for _ in range(50)])
    mine = MemoryEntry("small", "an apple a day")
    await store.put([mine])
    hits = await store.search("small", "apple", kinds=["long"], limit=2, now=0)
    assert [h.entry.id for h in hits] == [mine.id]
    await store.close()


entries = st.lists(st.tuples(st.floats(0, 1), st.integers(0, 10**6)), min_size=0, max_size=120)


@settings(max_examples=60, deadline=None)
@given(
    rows=entries,
    importance_weight=st.sampled_from([0.0, 0.5, 1.0, 3.0]),
    recency_weight=st.sampled_from([0.0, 1.0, 2.0]),
    half_life=st.sampled_from([60.0, 3600.0, 10**6]),
    limit=st.integers(1, 50),
    lowest=st.booleans(),
)
def test_threshold_top_k_equals_a_full_sort(
    rows: list[tuple[float, int]],
    importance_weight: float,
    recency_weight: float,
    half_life: float,
    limit: int,
    lowest: bool,
) -> None:
    prior = Prior(importance_weight, recency_weight, half_life)

    async def scenario() -> None:
        store = SQLiteMemoryStore(":memory:")
        stored = [
            MemoryEntry("a", f"e{i}", importance=imp, created_at=float(i), accessed_at=float(at))
            for i, (imp, at) in enumerate(rows)
        ]
        await store.put(stored)
        got = await store.ranked("a", prior, kinds=["long"], limit=limit, now=0, lowest=lowest)
        keys = sorted((log_prior(e, prior) for e in stored), reverse=not lowest)[:limit]
        assert [log_prior(e, prior) for e in got] == keys
        await store.close()

    anyio.run(scenario)


@settings(max_examples=300, deadline=None)
@given(
    rows=entries,
    importance_weight=st.sampled_from([0.0, 0.5, 1.0, 3.0]),
    recency_weight=st.sampled_from([0.0, 1.0, 2.0]),
    half_life=st.sampled_from([60.0, 3600.0, 10**6]),
    limit=st.integers(1, 10),
    lowest=st.booleans(),
)
def test_threshold_algorithm_with_tiny_chunks(
    rows: list[tuple[float, int]],
    importance_weight: float,
    recency_weight: float,
    half_life: float,
    limit: int,
    lowest: bool,
) -> None:
    prior = Prior(importance_weight, recency_weight, half_life)
    stored = [
        MemoryEntry("a", f"e{i}", importance=imp, accessed_at=float(at))
        for i, (imp, at) in enumerate(rows)
    ]

    async def fetch(column: Column, descending: bool, offset: int, count: int) -> list[RankKey]:
        ordered = sorted(stored, key=lambda e: getattr(e, column), reverse=descending)
        chunk = ordered[offset : offset + count]
        return [RankKey(e.id, e.importance, e.accessed_at, e.created_at) for e in chunk]

    ids = anyio.run(lambda: top_by_prior(fetch, prior, limit, lowest, first_chunk=1))
    by_id = {e.id: e for e in stored}
    keys = sorted((log_prior(e, prior) for e in stored), reverse=not lowest)[:limit]
    assert [log_prior(by_id[i], prior) for i in ids] == keys
