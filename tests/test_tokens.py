"""Counting and truncating text of any length: chunks are exact where the pre-tokenizer splits."""

from __future__ import annotations

import json
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mainspring.messages import Message
from mainspring.models import count_prompt_tokens
from mainspring.tokens import CUT_MARGIN, MEMO_CHARS, MEMO_ENTRIES, BPETokenizer, chunks

ENCODINGS = ["o200k_base", "cl100k_base"]
WORDS = ["alpha", "Beta", "gamma", "tokenizer", "naïve", "Straße", "中文", "42", "3.14", "don't"]

# Characters that stress the pre-tokenizer at a cut: spaces and tabs in runs, newlines, marks,
# contractions, digits, CJK and emoji.
texts = st.lists(
    st.one_of(
        st.sampled_from(
            [" ", "  ", "\t", "\n", "\r\n", "'s", "'ll", "e\u0301", "_", "²", "\u00a0", "\u3000"]
        ),
        st.characters(codec="utf-8", categories=["L", "N", "P", "S", "Zs", "Mn"]),
    ),
    max_size=200,
).map("".join)


def prose(n_chars: int, seed: int = 0) -> str:
    rng = random.Random(seed)
    out: list[str] = []
    size = 0
    while size < n_chars:
        word = rng.choice(WORDS) + rng.choice([" ", " ", ", ", ".\n", "\t"])
        out.append(word)
        size += len(word)
    return "".join(out)[:n_chars]


@pytest.mark.parametrize("encoding", ENCODINGS)
@settings(max_examples=300, deadline=None)
@given(text=texts, size=st.integers(min_value=2, max_value=40))
def test_clean_chunks_count_exactly_what_the_whole_text_counts(
    encoding: str, text: str, size: int
) -> None:
    tokenizer = BPETokenizer(encoding)
    parts = list(chunks(text, size))
    assert "".join(piece for piece, _ in parts) == text
    assert all(len(piece) <= size for piece, _ in parts)
    if not any(forced for _, forced in parts):
        assert sum(tokenizer.count(piece) for piece, _ in parts) == tokenizer.count(text)


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_forced_cuts_keep_the_count_an_upper_bound(encoding: str) -> None:
    # Runs of letters with nowhere clean to cut: every cut splits a "word".
    rng = random.Random(7)
    tokenizer = BPETokenizer(encoding)
    for _ in range(3000):
        text = "".join(rng.choice(WORDS[:6]) for _ in range(rng.randint(3, 40))).replace(" ", "")
        cut = rng.randint(1, len(text) - 1)
        split = tokenizer.count(text[:cut]) + tokenizer.count(text[cut:])
        assert tokenizer.count(text) <= split + CUT_MARGIN


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(prose(1_000_000), id="1 MB prose"),
        pytest.param(prose(5_000_000, seed=1), id="5 MB prose"),
        pytest.param(
            json.dumps([{"id": i, "v": [i, 2 * i], "w": "x" * (i % 7)} for i in range(60_000)],
                       separators=(",", ":"))[:1_000_000],
            id="1 MB minified JSON",
        ),
        pytest.param("a" * 1_000_000, id="1 MB without a word boundary"),
        pytest.param("中文" * 500_000, id="1 MB of CJK"),
    ],
)  # fmt: skip
def test_any_length_is_counted_and_truncated(text: str) -> None:
    tokenizer = BPETokenizer()
    total = tokenizer.count(text)  # raised "Input too long to encode safely" before
    assert total > 0
    for budget in (1, 2_000, 150_000):
        prefix = tokenizer.truncate(text, budget)
        assert text.startswith(prefix)
        assert tokenizer.count(prefix) <= budget
        # The longest prefix, give or take the margins of forced cuts before it.
        assert tokenizer.count(prefix) >= min(total, 0.99 * budget - CUT_MARGIN)
    assert tokenizer.truncate(text, total + CUT_MARGIN) == text


def test_chunked_count_equals_the_direct_count_below_the_library_limit() -> None:
    # The longest text bpe-openai still takes in one call: under 200,000 tokens.
    text = prose(500_000, seed=3)
    tokenizer = BPETokenizer()
    direct = len(tokenizer._encoding.encode(text))
    assert tokenizer.count(text) == direct


def test_a_1mb_message_is_counted_in_a_prompt() -> None:
    tokenizer = BPETokenizer()
    huge = prose(1_000_000)
    messages = [Message("user", huge), Message("tool", huge, tool_call_id="c1")]
    assert count_prompt_tokens(tokenizer, messages) > 2 * tokenizer.count(huge)


@pytest.mark.parametrize("encoding", ENCODINGS)
@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=80))
def test_a_remembered_count_is_the_count(encoding: str, text: str) -> None:
    tokenizer = BPETokenizer(encoding)
    direct = tokenizer._count(text)
    assert tokenizer.count(text) == direct
    assert BPETokenizer(encoding).count(text) == direct  # a second tokenizer reads the same memo


def test_the_memo_of_counts_stays_bounded() -> None:
    tokenizer = BPETokenizer("o200k_base")
    for n in range(MEMO_ENTRIES * 2):
        tokenizer.count(f"word {n}")
    assert len(tokenizer._memo) <= MEMO_ENTRIES
    assert tokenizer.count("x" * (MEMO_CHARS + 1)) == tokenizer._count("x" * (MEMO_CHARS + 1))
    assert "x" * (MEMO_CHARS + 1) not in tokenizer._memo  # longer text is never kept
