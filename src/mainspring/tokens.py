"""Token counting shared by models and memory.

A `Tokenizer` counts and truncates text in a model's own tokens. Budgets (memory context, agent
token caps) are only as true as the tokenizer behind them, so the default is a real BPE
(OpenAI's `o200k_base`, shipped offline by the `bpe-openai` package), never a word count.
Local models supply their own tokenizer (llama.cpp's) through the same protocol.

Any length of text can be counted and truncated. `bpe-openai` refuses one call of 1,000,000
characters or 200,000 tokens, so longer text is encoded in chunks of at most `CHUNK_CHARS`
characters, cut where OpenAI's pre-tokenizer always ends a piece (before a space or tab that
follows a non-space, or before punctuation that follows a letter or digit). BPE never merges
across pieces, so the chunks' tokens are exactly the whole text's tokens. Only a run of more
than `CHUNK_CHARS / 2` characters with no such place (one enormous "word", e.g. 30,000 letters
in a row) is cut elsewhere. Such a forced cut changes the count by -3 to +4 tokens (measured
over 40,000 random cuts in `o200k_base` and `cl100k_base`), so `count` adds `CUT_MARGIN` (8)
tokens per forced cut and stays an upper bound, which is what budgets need.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from functools import lru_cache
from typing import Protocol, runtime_checkable

from mainspring import _bpe


@runtime_checkable
class Tokenizer(Protocol):
    """Counts and truncates text in one model's tokens."""

    name: str

    def count(self, text: str) -> int:
        """Number of tokens in `text`."""
        ...

    def truncate(self, text: str, max_tokens: int) -> str:
        """The longest prefix of `text` that is at most `max_tokens` tokens."""
        ...


CHUNK_CHARS = 40_000
"""Characters per encoder call: at most 4 tokens per character keeps a chunk under
bpe-openai's 200,000-token limit, and far under its 1,000,000-character one."""

MEMO_CHARS = 64
"""Texts up to this length have their count remembered (per encoding, shared)."""

MEMO_ENTRIES = 4096
"""Remembered counts per encoding before the memo starts over (at most ~0.5 MiB)."""

_MEMOS: dict[str, dict[str, int]] = {}

CUT_MARGIN = 8
"""Tokens added to a count per forced cut inside a run without spaces (see the module doc)."""


def chunks(text: str, size: int = CHUNK_CHARS) -> Iterator[tuple[str, bool]]:
    """`text` in pieces of at most `size` characters, each with whether its end was forced.

    A clean cut falls where the BPE pre-tokenizer always ends a piece (see `_CUT`), as late as
    possible in the second half of the window; a forced cut (no such place there) falls at
    `size`.
    """
    start, end = 0, len(text)
    while end - start > size:
        cut = _clean_cut(text, start + size // 2, start + size)
        yield text[start : cut or start + size], cut is None
        start = cut or start + size
    yield text[start:], False


# Places where every OpenAI split pattern (r50k to o200k) ends a piece: a space or tab after a
# non-space (no piece holds a non-space then a space), and punctuation or a symbol after a letter
# or digit (pieces of letters or digits take no punctuation after them; the apostrophe is left
# out because contractions like 's attach to the word before).
_CUT = re.compile(r"(?<=\S)[ \t]|(?<=[^\W_])(?:[^\w\s']|_)")


def _clean_cut(text: str, low: int, high: int) -> int | None:
    """The last clean cut in (low, high], or None; searched from the end in growing windows."""
    width = 256
    while True:
        start = max(low, high - width)
        best: int | None = None
        for match in _CUT.finditer(text, start + 1, high + 1):
            index = match.start()
            char = text[index]
            # `re` counts combining marks as non-word characters; they belong to the word before.
            if char in " \t" or unicodedata.category(char)[0] in "PS":
                best = index
        if best is not None or start == low:
            return best
        width *= 8


class BPETokenizer:
    """OpenAI's byte-pair encodings (`o200k_base`, `cl100k_base`, ...), offline.

    Cheap to make: the encoding's tables are loaded at the first count or cut (about 60 ms
    and 65 MiB for `o200k_base`, once per process, shared by every tokenizer of that name).
    """

    def __init__(self, encoding: str = "o200k_base") -> None:
        self.name = _bpe.check_encoding(encoding)
        self._loaded: _bpe.RustTokenizer | None = None
        self._memo = _MEMOS.setdefault(self.name, {})

    @classmethod
    def for_model(cls, model: str) -> BPETokenizer:
        """The encoding an OpenAI model uses; `o200k_base` for models it does not know."""
        return cls(_bpe.encoding_for_model(model))

    @property
    def _encoding(self) -> _bpe.RustTokenizer:
        if self._loaded is None:
            self._loaded = _bpe.load(self.name)
        return self._loaded

    def _encode(self, text: str) -> list[int]:
        try:
            return self._encoding.encode(text)
        except UnicodeEncodeError:  # lone surrogates: count them as the replacement character
            return self._encoding.encode(_without_surrogates(text))

    def count(self, text: str) -> int:
        """Number of tokens in `text`, of any length (see the module docstring for long text)."""
        if len(text) <= MEMO_CHARS:
            # Tool names, small arguments and short results recur in every step of a run, and
            # a run's text is counted by the loop and again by test doubles: remembered.
            memo = self._memo
            known = memo.get(text)
            if known is None:
                if len(memo) >= MEMO_ENTRIES:
                    memo.clear()
                known = memo[text] = self._count(text)
            return known
        return self._count(text)

    def _count(self, text: str) -> int:
        if len(text) <= CHUNK_CHARS:
            try:
                return self._encoding.count(text)
            except UnicodeEncodeError:
                return self._encoding.count(_without_surrogates(text))
        return sum(len(self._encode(piece)) + CUT_MARGIN * forced for piece, forced in chunks(text))

    def truncate(self, text: str, max_tokens: int) -> str:
        """The longest prefix of at most `max_tokens` tokens, cut on a token boundary.

        Long text is encoded chunk by chunk only as far as the prefix reaches, so cutting a
        5 MB text to a few thousand tokens encodes a few thousand tokens' worth of it.
        """
        if max_tokens <= 0:
            return ""
        kept: list[str] = []
        room = max_tokens
        for piece, forced in chunks(text):
            tokens = self._encode(piece)
            # A forced cut may have split a token: stop short of the chunk's last few tokens.
            need = len(tokens) + CUT_MARGIN * forced
            if need <= room:
                kept.append(piece)
                room -= need
                continue
            kept.append(self._decode_prefix(tokens, max(0, room - CUT_MARGIN * forced)))
            break
        return "".join(kept)

    def _decode_prefix(self, tokens: list[int], size: int) -> str:
        # A token prefix can end inside a multi-byte character, which cannot be decoded: drop
        # that partial character's tokens (a few at most).
        for end in range(size, -1, -1):
            try:
                return self._encoding.decode(tokens[:end])
            except ValueError:
                continue
        return ""


def _without_surrogates(text: str) -> str:
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


@lru_cache(maxsize=1)
def default_tokenizer() -> Tokenizer:
    """The tokenizer used when a caller names none: `o200k_base`."""
    return BPETokenizer("o200k_base")
