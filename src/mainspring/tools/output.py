r"""What a tool's output may put into the model's context: invisible characters shown, size capped.

Tool output is data from outside (web pages, files, other systems), so it is where a prompt
injection arrives. Two things are done to every result, ok or failed, before the model or any
log sees it:

- **Invisible characters become visible escapes.** Unicode Tags (U+E0000-U+E007F), zero-width
  characters, bidi controls and the supplementary variation selectors can carry instructions a
  model reads and a human reviewing the text cannot see. They are replaced by their escape
  (`\u202e`, `\U000e0041`), not removed: removal would hide that something was there from the
  model, the approver and the auditor, and an escape keeps the evidence readable. A tool whose
  output legitimately needs them (emoji ZWJ sequences, Persian ZWNJ) opts out with
  `keep_invisible=True`.
- **The size is capped** in tokens of the model's tokenizer: the head is kept and a marker says how
  much was cut (`[... cut: 187,402 of 200,000 tokens omitted ...]`). The full text goes to
  `ToolResult.raw_content`, so the run record loses nothing.
"""

from __future__ import annotations

import re

from mainspring.tokens import Tokenizer, default_tokenizer

DEFAULT_MAX_RESULT_TOKENS = 4000
"""Tokens a tool result may put into the model's context unless the tool or executor says else."""

_INVISIBLE = re.compile(
    "["
    "\u00ad"  # soft hyphen
    "\u061c"  # Arabic letter mark (bidi)
    "\u180e"  # Mongolian vowel separator (zero-width)
    "\u200b-\u200f"  # zero-width space, non-joiner, joiner; LRM, RLM
    "\u202a-\u202e"  # bidi embeddings and overrides (LRE, RLE, PDF, LRO, RLO)
    "\u2060-\u2064"  # word joiner and invisible operators
    "\u2066-\u2069"  # bidi isolates (LRI, RLI, FSI, PDI)
    "\ufeff"  # zero-width no-break space (BOM)
    "\ufff9-\ufffb"  # interlinear annotation controls
    "\U000e0000-\U000e007f"  # Tags block: ASCII smuggled as invisible tag characters
    "\U000e0100-\U000e01ef"  # supplementary variation selectors: another smuggling channel
    "]"
)


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def neutralise(text: str) -> str:
    """`text` with every invisible character replaced by its visible escape."""
    if _INVISIBLE.search(text) is None:
        return text
    return _INVISIBLE.sub(_escape, text)


def count_tokens(text: str, tokenizer: Tokenizer) -> int:
    """Tokens in `text`: a `Tokenizer` counts any length (`mainspring.tokens` chunks long text)."""
    return tokenizer.count(text)


def _marker(omitted: int, total: int) -> str:
    return f"\n[... cut: {omitted:,} of {total:,} tokens omitted ...]"


def cap(text: str, max_tokens: int, tokenizer: Tokenizer) -> str | None:
    """`text` cut to `max_tokens` tokens, with a marker saying how much went; None if it fits."""
    # A token covers at least one UTF-8 byte: short texts fit without being counted at all.
    if len(text) * 4 + 16 <= max_tokens or len(text.encode()) + 16 <= max_tokens:
        return None
    total = count_tokens(text, tokenizer)
    if total <= max_tokens:
        return None
    budget = max_tokens - tokenizer.count(_marker(total, total))
    while True:
        head = tokenizer.truncate(text, budget)
        kept = tokenizer.count(head)
        cut = head + _marker(total - kept, total)
        # Piece boundaries can shift a count by a token or two: check what the model gets.
        if tokenizer.count(cut) <= max_tokens or budget <= 1:
            return cut
        budget -= max(1, tokenizer.count(cut) - max_tokens)


def prepare(
    content: str,
    *,
    max_tokens: int | None,
    keep_invisible: bool,
    tokenizer: Tokenizer | None,
) -> tuple[str, str | None]:
    """Neutralise invisible characters (unless kept), then cap at `max_tokens` (None: no cap).

    Returns what the model sees and, when it was cut, the full (neutralised) text.
    """
    text = content if keep_invisible else neutralise(content)
    if max_tokens is None or len(text) * 4 + 16 <= max_tokens:
        return text, None  # the hot path: nothing to count
    cut = cap(text, max_tokens, tokenizer or default_tokenizer())
    return (text, None) if cut is None else (cut, text)
