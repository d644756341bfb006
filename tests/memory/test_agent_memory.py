"""AgentMemory behaviour over every store: windows, context, limits, TTL, consolidation."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from mainspring.errors import ConfigurationError
from mainspring.memory import (
    AgentMemory,
    EntryFilter,
    MemoryConfig,
    MemoryStore,
    ScoringWeights,
    SQLiteMemoryStore,
)
from mainspring.memory.context import TRUNCATION_MARKER
from mainspring.tokens import default_tokenizer
from tests.memory.conftest import ManualClock

DAY = 24 * 3600.0


def make(store: MemoryStore, clock: ManualClock, **config: Any) -> AgentMemory:
    return AgentMemory(
        store,
        namespace="user-42",
        config=MemoryConfig(**config),
        clock=clock,
    )


async def test_short_term_window_is_bounded_by_count(
    store: MemoryStore, clock: ManualClock
) -> None:
    memory = make(store, clock, short_term_max_entries=3)
    for i in range(5):
        clock.advance(1)
        await memory.add_short_term(f"message {i}")
    short = await memory.find(EntryFilter(kinds=["short"]))
    assert [e.content for e in short] == ["message 2", "message 3", "message 4"]
    evicted = await memory.find(EntryFilter(kinds=["evicted"]))
    assert [e.content for e in evicted] == ["message 0", "message 1"]
    assert (await memory.stats()).counters["evicted.window"] == 2


async def test_short_term_window_is_bounded_by_tokens(
    store: MemoryStore, clock: ManualClock
) -> None:
    tokenizer = default_tokenizer()
    memory = make(store, clock, short_term_max_tokens=25)
    texts = [f"sentence number {i} says something fairly ordinary" for i in range(6)]
    for text in texts:
        clock.advance(1)
        await memory.add_short_term(text)
    kept = [e.content for e in await memory.find(EntryFilter(kinds=["short"]))]
    assert sum(tokenizer.count(t) for t in kept) <= 25
    assert kept == texts[-len(kept) :]
    assert len(kept) < len(texts)


async def test_the_newest_short_term_entry_stays_even_if_alone_over_the_token_bound(
    store: MemoryStore, clock: ManualClock
) -> None:
    memory = make(store, clock, short_term_max_tokens=5)
    await memory.add_short_term("a long message " * 20)
    assert len(await memory.find(EntryFilter(kinds=["short"]))) == 1


async def test_get_context_is_chronological_and_within_budget(
    store: MemoryStore, clock: ManualClock
) -> None:
    memory = make(store, clock)
    await memory.add_long_term("The user is vegetarian", importance=0.9)
    clock.advance(10)
    await memory.add_short_term("User: my flight is on Friday")
    clock.advance(10)
    await memory.add_working("Looking up restaurants near the hotel")
    await memory.add_long_term("The user collects stamps", importance=0.2)
    context = await memory.get_context(max_tokens=2000, query="vegetarian dinner plans")
    assert [e.content for e in context.entries] == [
        "The user is vegetarian",
        "User: my flight is on Friday",
        "Looking up restaurants near the hotel",
        "The user collects stamps",
    ]
    assert context.tokens == default_tokenizer().count(context.text) <= 2000
    assert context.text.split("\n")[0] == "The user is vegetarian"
    [message] = context.to_messages()
    assert message.role == "system" and message.content == context.text


async def test_get_context_prefers_relevant_important_recent_entries(
    store: MemoryStore, clock: ManualClock
) -> None:
    memory = make(store, clock)
    await memory.add_long_term("Old note: the user is vegetarian", importance=0.5)
    clock.advance(60 * DAY)
    await memory.add_long_term("The user is vegetarian", importance=0.5)
    await memory.add_long_term("The user likes jazz concerts", importance=0.5)
    await memory.add_long_term("The user is allergic to peanuts", importance=1.0)
    tokenizer = default_tokenizer()
    one_entry = tokenizer.count("The user is vegetarian")
    context = await memory.get_context(one_entry, query="vegetarian")
    assert [e.content for e in context.entries] == ["The user is vegetarian"]
    ranked = [c.entry.content for c in await memory.search("vegetarian", limit=4)]
    assert ranked[0] == "The user is vegetarian"
    assert ranked.index("Old note: the user is vegetarian") > ranked.index(
        "The user is allergic to peanuts"
    )
    no_query = await memory.get_context(tokenizer.count("The user is allergic to peanuts"))
    assert [e.content for e in no_query.entries] == ["The user is allergic to peanuts"]


async def test_weights_are_configurable(store: MemoryStore, clock: ManualClock) -> None:
    memory = make(store, clock, weights=ScoringWeights(importance=0.0, recency=0.0))
    await memory.add_long_term("important but unrelated", importance=1.0)
    await memory.add_long_term("trivial yet about trains", importance=0.01)
    [best] = await memory.search("trains", limit=1)
    assert best.entry.content == "trivial yet about trains"
    assert best.score == 1.0


async def test_an_entry_larger_than_the_budget_is_truncated_with_a_marker(
    store: MemoryStore, clock: ManualClock
) -> None:
    memory = make(store, clock)
    await memory.add_short_term("word " * 500)
    context = await memory.get_context(max_tokens=40)
    [item] = context.items
    assert item.truncated and item.text.endswith(TRUNCATION_MARKER)
    assert 30 < context.tokens <= 40


async def test_get_context_accepts_a_counting_function(
    store: MemoryStore, clock: ManualClock
) -> None:
    memory = make(store, clock)
    for i in range(10):
        clock.advance(1)
        await memory.add_short_term(f"m{i} a b c")

    def count_words(text: str) -> int:
        return len(text.split())

    context = await memory.get_context(max_tokens=9, tokenizer=count_words)
    assert context.tokens == count_words(context.text) == 8
    assert [e.content for e in context.entries] == ["m8 a b c", "m9 a b c"]


async def test_get_context_records_access_to_long_term_entries(
    store: MemoryStore, clock: ManualClock
) -> None:
    memory = make(store, clock)
    fact = await memory.add_long_term("The user is vegetarian")
    clock.advance(100)
    await memory.get_context(100, query="vegetarian")
    [stored] = await memory.find(EntryFilter(ids=[fact.id]))
    assert (stored.access_count, stored.accessed_at) == (1, clock())


async def test_working_memory_is_cleared_when_the_task_ends(
    store: MemoryStore, clock: ManualClock
) -> None:
    memory = make(store, clock)
    await memory.add_working("step 1 result: 42")
    await memory.add_working("step 2 result: 7")
    await memory.add_short_term("kept")
    assert await memory.clear_working() == 2
    assert [e.content for e in (await memory.get_context(100)).entries] == ["kept"]


async def test_size_limit_evicts_the_lowest_scored(store: MemoryStore, clock: ManualClock) -> None:
    memory = make(store, clock, long_term_max_entries=3)
    await memory.add_long_term("a", importance=0.9)
    await memory.add_long_term("b", importance=0.1)
    await memory.add_long_term("c", importance=0.5)
    clock.advance(1)
    await memory.add_long_term("d", importance=0.8)
    await memory.add([memory.entry(x, importance=0.05) for x in ("e", "f")])
    kept = {e.content for e in await memory.find()}
    assert kept == {"a", "c", "d"}
    assert (await memory.stats()).counters["evicted.limit"] == 3


async def test_byte_limit_evicts_until_under(store: MemoryStore, clock: ManualClock) -> None:
    memory = make(store, clock, long_term_max_bytes=25)
    for i, importance in enumerate([0.9, 0.2, 0.8, 0.3]):
        await memory.add_long_term(f"{i}" * 10, importance=importance)
    stats = await memory.stats()
    assert stats.bytes["long"] <= 25
    assert {e.content for e in await memory.find()} == {"0" * 10, "2" * 10}
    assert stats.evicted == 2


async def test_ttl_hides_then_prunes_entries(store: MemoryStore, clock: ManualClock) -> None:
    memory = make(store, clock, long_term_ttl=DAY)
    await memory.add_long_term("expires with the default ttl")
    await memory.add_long_term("expires sooner", ttl=60)
    clock.advance(120)
    assert [e.content for e in (await memory.get_context(100, query="expires")).entries] == [
        "expires with the default ttl"
    ]
    clock.advance(DAY)
    assert (await memory.get_context(100, query="expires")).entries == []
    assert await memory.prune() == 2
    assert (await memory.stats()).counters == {"expired": 2}


class RecordingSummariser:
    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    async def summarise(self, texts: Sequence[str]) -> str:
        self.calls.append(list(texts))
        return "Summary: " + "; ".join(texts)


async def test_consolidate_promotes_dedupes_and_summarises(
    store: MemoryStore, clock: ManualClock
) -> None:
    summariser = RecordingSummariser()
    memory = AgentMemory(
        store,
        namespace="user-42",
        config=MemoryConfig(short_term_max_entries=2, promote_threshold=0.7),
        summariser=summariser,
        clock=clock,
    )
    await memory.add_long_term("The user is vegetarian", importance=0.6)
    await memory.add_short_term("User: the user is vegetarian", importance=0.9)
    await memory.add_short_term("User: book a table for two", importance=0.3)
    await memory.add_short_term("User: my passport number is X123", importance=0.95)
    await memory.add_short_term("User: thanks", importance=0.1)
    report = await memory.consolidate()
    assert report.summary is not None
    assert summariser.calls == [["User: the user is vegetarian", "User: book a table for two"]]
    assert (report.promoted, report.duplicates, report.summarised, report.dropped) == (1, 1, 2, 2)
    long_term = {e.content: e for e in await memory.find(EntryFilter(kinds=["long"]))}
    assert set(long_term) == {
        "The user is vegetarian",
        "User: my passport number is X123",
        report.summary.content,
    }
    assert long_term["The user is vegetarian"].importance == 0.9  # raised by its duplicate
    assert report.summary.metadata["summary_of"] == 2
    assert await memory.find(EntryFilter(kinds=["evicted"])) == []
    again = await memory.consolidate()
    assert (again.promoted, again.duplicates, again.summary) == (0, 1, None)


async def test_consolidate_accepts_a_plain_async_function(
    store: MemoryStore, clock: ManualClock
) -> None:
    async def summarise(texts: Sequence[str]) -> str:
        return f"{len(texts)} messages"

    memory = AgentMemory(
        store,
        namespace="n",
        config=MemoryConfig(short_term_max_entries=1),
        summariser=summarise,
        clock=clock,
    )
    await memory.add_short_term("one")
    await memory.add_short_term("two")
    report = await memory.consolidate()
    assert report.summary is not None and report.summary.content == "1 messages"


async def test_namespaces_do_not_see_each_other(store: MemoryStore, clock: ManualClock) -> None:
    alice = make(store, clock)
    bob = alice.scoped("bob")
    await alice.add_long_term("alice likes tea", importance=1.0)
    await alice.add_short_term("alice: hello")
    await alice.add_working("alice scratch")
    await bob.add_long_term("bob likes coffee")
    assert [e.content for e in (await bob.get_context(1000, query="alice tea")).entries] == [
        "bob likes coffee"
    ]
    assert await bob.search("alice tea") == [] or all(
        c.entry.namespace == "bob" for c in await bob.search("alice tea")
    )
    assert await bob.forget(EntryFilter()) == 1
    assert len(await alice.find()) == 3
    exported = await alice.export()
    assert {r["namespace"] for r in exported} == {"user-42"}


async def test_export_then_import_round_trips(store: MemoryStore, clock: ManualClock) -> None:
    source = make(store, clock)
    await source.add_long_term("fact", importance=0.7, metadata={"k": "v"})
    await source.add_short_term("recent")
    records = await source.export()
    target = source.scoped("copy")
    assert await target.import_entries(records) == 2
    copied = await target.export()
    assert [{**r, "namespace": "user-42"} for r in copied] == records


async def test_bad_input_is_refused_with_a_reason(tmp_path: Path, clock: ManualClock) -> None:
    store = SQLiteMemoryStore(tmp_path / "m.db")
    memory = make(store, clock)
    with pytest.raises(ValueError, match="importance"):
        await memory.add_long_term("x", importance=1.5)
    with pytest.raises(ValueError, match="max_tokens"):
        await memory.get_context(-1)
    with pytest.raises(ConfigurationError, match="namespace"):
        AgentMemory(store, namespace="")
    with pytest.raises(ConfigurationError, match="belongs to namespace"):
        await memory.add([memory.scoped("other").entry("x")])
    with pytest.raises(ConfigurationError, match="long_term_share"):
        MemoryConfig(long_term_share=2)
    with pytest.raises(ConfigurationError, match="half_life"):
        ScoringWeights(half_life=0)
    await store.close()


def test_open_parses_urls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    memory = AgentMemory.open("sqlite:///agent.db", namespace="user-42")
    assert isinstance(memory.store, SQLiteMemoryStore)
    assert (tmp_path / "agent.db").exists()
    absolute = AgentMemory.open(f"sqlite:///{tmp_path}/abs.db")
    assert (tmp_path / "abs.db").exists()
    assert absolute.namespace == "default"
    with pytest.raises(ConfigurationError, match="unknown memory store URL"):
        AgentMemory.open("mysql://x")


async def test_consolidate_summarises_through_a_model(tmp_path: Path, clock: ManualClock) -> None:
    from mainspring.memory.summariser import ModelSummariser
    from mainspring.testing import ScriptedModel

    with ScriptedModel(["The user greeted and asked for a vegetarian restaurant."]) as model:
        memory = AgentMemory(
            SQLiteMemoryStore(tmp_path / "m.db"),
            config=MemoryConfig(short_term_max_entries=1),
            summariser=model,
            clock=clock,
        )
        assert isinstance(memory.summariser, ModelSummariser)
        await memory.add_short_term("User: hi")
        await memory.add_short_term("User: find a vegetarian place")
        await memory.add_short_term("User: thanks")
        report = await memory.consolidate()
        assert report.summary is not None
        assert report.summary.content == "The user greeted and asked for a vegetarian restaurant."
        [request] = model.requests
        assert request.messages[0].role == "system"
        assert request.messages[1].content == "- User: hi\n- User: find a vegetarian place"
        await memory.close()
