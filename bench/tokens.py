"""Counting and truncating long text with the default BPE (o200k_base), chunked past its limits.

bpe-openai refuses one call of 1,000,000 characters or 200,000 tokens; `BPETokenizer` encodes
longer text in chunks. This times `count` and `truncate(text, 2,000)` on texts of 1 MB and 5 MB
and reports the peak Python allocations of a count (tracemalloc; the Rust encoder's own buffers
are freed per chunk).

Run: `python -m bench tokens`.
"""

from __future__ import annotations

import json
import random
import statistics
import time
import tracemalloc
from collections.abc import Callable

WORDS = ["the", "agent", "called", "a", "tool", "and", "got", "1,024", "rows", "back.", "naïve"]


def _prose(n_chars: int) -> str:
    rng = random.Random(n_chars)
    return " ".join(rng.choice(WORDS) for _ in range(n_chars // 3))[:n_chars]


def _json(n_chars: int) -> str:
    rows = [{"id": i, "name": WORDS[i % len(WORDS)], "v": [i, 2 * i]} for i in range(n_chars // 20)]
    return json.dumps(rows, separators=(",", ":"))[:n_chars]


def _median_ms(fn: Callable[[], object], repeats: int = 5) -> float:
    timings = []
    for _ in range(repeats):
        began = time.perf_counter()
        fn()
        timings.append((time.perf_counter() - began) * 1000)
    return statistics.median(timings)


def main() -> str:
    from mainspring.tokens import BPETokenizer

    tokenizer = BPETokenizer()
    tokenizer.count("warm up")
    cases = {
        "prose, 1 MB": _prose(1_000_000),
        "prose, 5 MB": _prose(5_000_000),
        "minified JSON, 1 MB": _json(1_000_000),
        "1 MB with no space or punctuation": "a" * 1_000_000,
    }
    rows = []
    for name, text in cases.items():
        tokens = tokenizer.count(text)
        count_ms = _median_ms(lambda text=text: tokenizer.count(text))
        cut_ms = _median_ms(lambda text=text: tokenizer.truncate(text, 2_000))
        tracemalloc.start()
        tokenizer.count(text)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        rows.append(f"| {name} | {tokens:,} | {count_ms:,.0f} | {cut_ms:.1f} | {peak / 1e6:.2f} |")
    return "\n".join(
        [
            "## Token counting of long text",
            "",
            "`BPETokenizer` (o200k_base) on texts past bpe-openai's one-call limits, median of 5. "
            "Run: `.venv/bin/python -m bench tokens`.",
            "",
            "| text | tokens | count ms | truncate to 2,000 ms | count peak Python MB |",
            "| --- | ---: | ---: | ---: | ---: |",
            *rows,
        ]
    )
