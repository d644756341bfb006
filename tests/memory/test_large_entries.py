"""Entries of 1 MB and 5 MB: stored, counted and cut to the budget, never an exception."""

from __future__ import annotations

import random

import pytest

from mainspring.memory import AgentMemory
from mainspring.memory.context import TRUNCATION_MARKER
from mainspring.tokens import default_tokenizer


def prose(n_chars: int, seed: int) -> str:
    rng = random.Random(seed)
    words = ["the", "agent", "called", "a", "tool", "and", "got", "1,024", "rows", "back."]
    text = " ".join(rng.choice(words) for _ in range(n_chars // 3))
    return text[:n_chars]


@pytest.mark.parametrize("size", [1_000_000, 5_000_000], ids=["1 MB", "5 MB"])
async def test_get_context_truncates_a_huge_entry_within_the_budget(size: int) -> None:
    huge = prose(size, seed=size)
    async with AgentMemory.open("sqlite://:memory:") as memory:
        await memory.add_long_term("The user prefers short answers", importance=0.9)
        await memory.add_short_term(huge)  # counting it for the window raised before
        await memory.add_long_term(huge, importance=0.5)
        for budget in (50, 4_000):
            context = await memory.get_context(max_tokens=budget, query="agent tool rows")
            assert context.tokens == default_tokenizer().count(context.text) <= budget
            assert any(item.truncated for item in context.items)
            cut = next(item for item in context.items if item.truncated)
            assert cut.text.endswith(TRUNCATION_MARKER)
            assert huge.startswith(cut.text.removesuffix(TRUNCATION_MARKER))


async def test_a_huge_working_entry_and_a_small_budget() -> None:
    async with AgentMemory.open("sqlite://:memory:") as memory:
        await memory.add_working("x" * 1_000_000)  # one "word" with nowhere clean to cut
        context = await memory.get_context(max_tokens=10)
        assert 0 < context.tokens <= 10
