"""Property tests: a context never exceeds its budget, as counted by the tokenizer given."""

from __future__ import annotations

from collections.abc import Callable

import anyio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mainspring.memory import AgentMemory, MemoryConfig, MemoryEntry, SQLiteMemoryStore
from mainspring.memory.context import (
    SEPARATOR,
    TRUNCATION_MARKER,
    Candidate,
    CountingTokenizer,
    pack,
)
from mainspring.tokens import BPETokenizer, Tokenizer, default_tokenizer

# Text that stresses BPE: words, punctuation, digits, newlines, emoji and other multi-byte runs.
texts = st.text(
    alphabet=st.one_of(
        st.sampled_from(list("abc xyz.,!?\n\t0123456789'\"-_")),
        st.characters(codec="utf-8", categories=["L", "N", "P", "S", "Zs"]),
    ),
    max_size=400,
)


def count_words(text: str) -> int:
    return len(text.split())


def count_chars(text: str) -> int:
    return len(text)


TOKENIZERS: list[Tokenizer] = [
    default_tokenizer(),
    BPETokenizer("cl100k_base"),
    CountingTokenizer(count_words, "words"),
    CountingTokenizer(count_chars, "chars"),
]
tokenizers = st.sampled_from(TOKENIZERS)


def entries_from(contents: list[str], kinds: list[str] | None = None) -> list[MemoryEntry]:
    return [
        MemoryEntry("ns", text, created_at=float(i), accessed_at=float(i), kind="long")
        for i, text in enumerate(contents)
    ]


@settings(max_examples=300, deadline=None)
@given(
    contents=st.lists(texts, max_size=12),
    max_tokens=st.integers(min_value=0, max_value=300),
    tokenizer=tokenizers,
    ceiling_cut=st.integers(min_value=0, max_value=300),
)
def test_pack_never_exceeds_the_budget(
    contents: list[str], max_tokens: int, tokenizer: Tokenizer, ceiling_cut: int
) -> None:
    entries = entries_from(contents)
    candidates = [
        Candidate(e, 1.0, ceiling_cut if i % 2 else max_tokens, truncate=i % 3 != 0)
        for i, e in enumerate(entries)
    ]
    context = pack(candidates, max_tokens, tokenizer)
    assert context.tokens == (tokenizer.count(context.text) if context.items else 0)
    assert context.tokens <= max_tokens
    assert context.text == SEPARATOR.join(item.text for item in context.items)
    # Chronological, each entry at most once, and truncation is always marked.
    assert [i.entry.created_at for i in context.items] == sorted(
        i.entry.created_at for i in context.items
    )
    assert len({i.entry.id for i in context.items}) == len(context.items)
    for item in context.items:
        if item.truncated:
            assert item.text.endswith(TRUNCATION_MARKER)
            assert item.text.removesuffix(TRUNCATION_MARKER) in item.entry.content
        else:
            assert item.text == item.entry.content


@settings(max_examples=100, deadline=None)
@given(content=st.text(min_size=200, max_size=2000), max_tokens=st.integers(10, 60))
def test_an_oversized_entry_is_truncated_not_dropped(content: str, max_tokens: int) -> None:
    tokenizer = default_tokenizer()
    entry = entries_from([content])[0]
    context = pack([Candidate(entry, 1.0, max_tokens)], max_tokens, tokenizer)
    if tokenizer.count(content) > max_tokens:
        [item] = context.items
        assert item.truncated
    assert context.tokens <= max_tokens


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    short=st.lists(texts, max_size=8),
    working=st.lists(texts, max_size=3),
    long=st.lists(st.tuples(texts, st.floats(0, 1)), max_size=10),
    max_tokens=st.integers(min_value=0, max_value=200),
    query=st.one_of(st.none(), texts),
    share=st.floats(0, 1),
    tokenizer=st.sampled_from([*TOKENIZERS, count_words]),
)
def test_get_context_never_exceeds_the_budget(
    short: list[str],
    working: list[str],
    long: list[tuple[str, float]],
    max_tokens: int,
    query: str | None,
    share: float,
    tokenizer: Tokenizer | Callable[[str], int],
) -> None:
    async def scenario() -> None:
        config = MemoryConfig(
            short_term_max_entries=5, short_term_max_tokens=80, long_term_share=share
        )
        ticks = iter(range(1_000_000))
        memory = AgentMemory(
            SQLiteMemoryStore(":memory:"), config=config, clock=lambda: float(next(ticks))
        )
        for text in short:
            await memory.add_short_term(text)
        for text in working:
            await memory.add_working(text)
        await memory.add([memory.entry(text, importance=imp) for text, imp in long])
        context = await memory.get_context(max_tokens, query, tokenizer=tokenizer)
        count = tokenizer.count if isinstance(tokenizer, Tokenizer) else tokenizer
        assert context.tokens <= max_tokens
        assert count(context.text) <= max_tokens
        created = [(e.created_at, e.id) for e in context.entries]
        assert created == sorted(created)
        await memory.close()

    anyio.run(scenario)
