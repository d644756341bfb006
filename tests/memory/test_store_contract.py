"""The `MemoryStore` contract: every store (SQLite, PostgreSQL) must pass every test here."""

from __future__ import annotations

import pytest

from mainspring.errors import MemoryStoreError
from mainspring.memory import EntryFilter, MemoryEntry, MemoryStore, Prior
from mainspring.memory.base import log_prior

NOW = 1_700_000_000.0


def entry(content: str, namespace: str = "a", **fields: object) -> MemoryEntry:
    fields.setdefault("created_at", NOW)
    fields.setdefault("accessed_at", fields["created_at"])
    return MemoryEntry(namespace, content, **fields)  # type: ignore[arg-type]


async def test_put_then_find_round_trips_every_field(store: MemoryStore) -> None:
    original = entry(
        "The user is vegetarian",
        kind="long",
        importance=0.9,
        access_count=3,
        metadata={"source": "profile", "n": 2, "ok": True},
        expires_at=NOW + 60,
        embedding=(0.5, -1.0, 0.25),
    )
    await store.put([original])
    [found] = await store.find("a", EntryFilter())
    assert found == original


async def test_put_replaces_an_entry_with_the_same_id(store: MemoryStore) -> None:
    first = entry("draft", kind="short")
    await store.put([first])
    await store.put([MemoryEntry("a", "final", id=first.id, kind="long", created_at=NOW)])
    found = await store.find("a", EntryFilter())
    assert [(e.id, e.content, e.kind) for e in found] == [(first.id, "final", "long")]
    assert [h.entry.id for h in await store.search("a", "final", kinds=["long"], limit=5, now=NOW)]
    assert not await store.search("a", "draft", kinds=["long", "short"], limit=5, now=NOW)


async def test_a_large_batch_round_trips_and_its_repeated_ids_keep_the_last(
    store: MemoryStore,
) -> None:
    # Large batches take the bulk path (COPY on PostgreSQL): same fields, same replacement rule.
    batch = [
        entry(
            f"note {i} about w{i % 7}",
            kind="long",
            importance=i / 100,
            metadata={"i": i, "tags": ["x", "y"], "quote": 'a "b"\tc\n'},
            embedding=(float(i), -0.5) if i % 2 else None,
            expires_at=None if i % 3 else NOW + 60,
        )
        for i in range(100)
    ]
    again = [MemoryEntry("a", f"rewritten {i}", id=batch[i].id, created_at=NOW) for i in (3, 50)]
    await store.put([*batch, *again])
    found = {e.id: e for e in await store.find("a", EntryFilter())}
    assert len(found) == 100
    assert found[batch[3].id].content == "rewritten 3"
    assert found[batch[50].id].kind == "long" and found[batch[50].id].content == "rewritten 50"
    assert found[batch[7].id] == batch[7]
    assert found[batch[9].id] == batch[9]
    hits = await store.search("a", "rewritten", kinds=["long"], limit=5, now=NOW)
    assert {h.entry.id for h in hits} == {batch[3].id, batch[50].id}


async def test_find_filters_and_orders(store: MemoryStore) -> None:
    entries = [
        entry("one", kind="short", created_at=NOW + 1, metadata={"topic": "food"}),
        entry("two", kind="long", created_at=NOW + 2, metadata={"topic": "travel"}),
        entry("three", kind="long", created_at=NOW + 3, metadata={"topic": "food", "flag": True}),
        entry("four", kind="working", created_at=NOW + 4, expires_at=NOW + 10),
    ]
    await store.put(entries)

    async def contents(where: EntryFilter) -> list[str]:
        return [e.content for e in await store.find("a", where)]

    assert await contents(EntryFilter()) == ["one", "two", "three", "four"]
    assert await contents(EntryFilter(newest_first=True, limit=2)) == ["four", "three"]
    assert await contents(EntryFilter(kinds=["long"])) == ["two", "three"]
    assert await contents(EntryFilter(ids=[entries[0].id, entries[3].id])) == ["one", "four"]
    assert await contents(EntryFilter(ids=[])) == []
    assert await contents(EntryFilter(metadata={"topic": "food"})) == ["one", "three"]
    assert await contents(EntryFilter(metadata={"flag": True})) == ["three"]
    assert await contents(EntryFilter(created_after=NOW + 1, created_before=NOW + 4)) == [
        "two",
        "three",
    ]
    assert await contents(EntryFilter(contains="hre")) == ["three"]
    assert await contents(EntryFilter(now=NOW + 10)) == ["one", "two", "three"]
    assert await contents(EntryFilter(expired_by=NOW + 10)) == ["four"]


async def test_search_ranks_by_lexical_relevance(store: MemoryStore) -> None:
    await store.put(
        [
            entry("The user is vegetarian and likes spicy food"),
            entry("Vegetarian dinner: vegetarian curry, vegetarian rice"),
            entry("The flight leaves on Friday"),
            entry("vegetarian note kept short-term", kind="short"),
        ]
    )
    hits = await store.search("a", "vegetarian dinner?", kinds=["long"], limit=10, now=NOW)
    assert [h.entry.content for h in hits] == [
        "Vegetarian dinner: vegetarian curry, vegetarian rice",
        "The user is vegetarian and likes spicy food",
    ]
    assert hits[0].relevance > hits[1].relevance > 0
    assert await store.search("a", "?! ...", kinds=["long"], limit=10, now=NOW) == []
    assert len(await store.search("a", "vegetarian", kinds=["long"], limit=1, now=NOW)) == 1


async def test_search_stems_words(store: MemoryStore) -> None:
    await store.put([entry("The user's flight was delayed"), entry("unrelated")])
    hits = await store.search("a", "Flights delays", kinds=["long"], limit=5, now=NOW)
    assert [h.entry.content for h in hits] == ["The user's flight was delayed"]


async def test_search_skips_expired_entries(store: MemoryStore) -> None:
    await store.put([entry("cheese omelette", expires_at=NOW + 5)])
    assert await store.search("a", "omelette", kinds=["long"], limit=5, now=NOW + 1)
    assert not await store.search("a", "omelette", kinds=["long"], limit=5, now=NOW + 5)


async def test_search_by_embedding_uses_cosine_similarity(store: MemoryStore) -> None:
    await store.put(
        [
            entry("north", embedding=(0.0, 1.0)),
            entry("east", embedding=(1.0, 0.0)),
            entry("north-east", embedding=(0.7, 0.7)),
            entry("no vector"),
        ]
    )
    hits = await store.search(
        "a", "ignored", kinds=["long"], limit=2, now=NOW, embedding=(0.1, 1.0)
    )
    assert [h.entry.content for h in hits] == ["north", "north-east"]
    assert hits[0].relevance == pytest.approx(0.995, abs=0.001)


async def test_ranked_orders_by_importance_and_recency(store: MemoryStore) -> None:
    day = 24 * 3600.0
    entries = [
        entry("old important", importance=0.9, accessed_at=NOW - 30 * day),
        entry("new trivial", importance=0.1, accessed_at=NOW),
        entry("new important", importance=0.9, accessed_at=NOW),
        entry("zero", importance=0.0, accessed_at=NOW),
        entry("short", importance=1.0, kind="short"),
    ]
    await store.put(entries)
    prior = Prior(importance_weight=1.0, recency_weight=1.0, half_life=7 * day)
    expected = sorted(entries[:4], key=lambda e: log_prior(e, prior), reverse=True)
    best = await store.ranked("a", prior, kinds=["long"], limit=10, now=NOW)
    assert [e.content for e in best] == [e.content for e in expected]
    worst = await store.ranked("a", prior, kinds=["long"], limit=2, now=NOW, lowest=True)
    assert [e.content for e in worst] == [e.content for e in expected[::-1][:2]]
    recency_only = Prior(importance_weight=0.0, recency_weight=1.0)
    oldest = await store.ranked("a", recency_only, kinds=["long"], limit=1, now=NOW, lowest=True)
    assert oldest[0].content == "old important"


async def test_touch_records_an_access(store: MemoryStore) -> None:
    first, second = entry("x"), entry("y")
    await store.put([first, second])
    await store.touch("a", [first.id], NOW + 100)
    await store.touch("a", [first.id], NOW + 50)  # an older access never moves time back
    await store.touch("a", [], NOW + 200)
    found = {e.content: e for e in await store.find("a", EntryFilter())}
    assert (found["x"].accessed_at, found["x"].access_count) == (NOW + 100, 2)
    assert (found["y"].accessed_at, found["y"].access_count) == (NOW, 0)


async def test_delete_by_ids_filter_and_all(store: MemoryStore) -> None:
    entries = [entry(f"e{i}", kind="long" if i % 2 else "short") for i in range(6)]
    await store.put(entries)
    assert await store.delete("a", EntryFilter(ids=[entries[0].id])) == 1
    assert await store.delete("a", EntryFilter(kinds=["short"])) == 2
    assert await store.delete("a", EntryFilter(kinds=["long"], limit=1)) == 1
    assert [e.content for e in await store.find("a", EntryFilter())] == ["e3", "e5"]
    assert await store.delete("a", EntryFilter()) == 2
    assert await store.find("a", EntryFilter()) == []


async def test_counters_and_stats(store: MemoryStore) -> None:
    await store.put([entry("abc"), entry("défg", kind="short")])
    await store.count("a", "evicted.limit", 2)
    await store.count("a", "evicted.limit")
    await store.count("b", "evicted.limit", 7)
    stats = await store.stats("a")
    assert stats.entries == {"long": 1, "short": 1}
    assert stats.bytes == {"long": 3, "short": 5}
    assert stats.counters == {"evicted.limit": 3}
    assert stats.evicted == 3


async def test_namespaces_are_isolated(store: MemoryStore) -> None:
    mine = entry("secret vegetarian fact", namespace="alice", embedding=(1.0, 0.0))
    await store.put([mine])
    theirs = entry("other vegetarian fact", namespace="bob", embedding=(1.0, 0.0))
    await store.put([theirs])
    everything = EntryFilter()
    assert [e.id for e in await store.find("bob", everything)] == [theirs.id]
    assert await store.find("bob", EntryFilter(ids=[mine.id])) == []
    hits = await store.search("bob", "vegetarian secret", kinds=["long"], limit=10, now=NOW)
    assert [h.entry.id for h in hits] == [theirs.id]
    semantic = await store.search(
        "bob", "", kinds=["long"], limit=10, now=NOW, embedding=(1.0, 0.0)
    )
    assert [h.entry.id for h in semantic] == [theirs.id]
    ranked = await store.ranked("bob", Prior(), kinds=["long"], limit=10, now=NOW)
    assert [e.id for e in ranked] == [theirs.id]
    await store.touch("bob", [mine.id], NOW + 1)
    assert await store.delete("bob", EntryFilter(ids=[mine.id])) == 0
    assert await store.delete("bob", everything) == 1
    [kept] = await store.find("alice", everything)
    assert kept == mine  # untouched: same access time and count
    assert (await store.stats("bob")).entries == {}


async def test_a_closed_store_refuses_calls(store: MemoryStore) -> None:
    await store.put([entry("x")])
    await store.close()
    with pytest.raises(MemoryStoreError, match="closed"):
        await store.find("a", EntryFilter())
