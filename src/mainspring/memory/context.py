"""Packing scored entries into a token budget that is never exceeded.

The budget is checked with the caller's tokenizer on the exact text handed back, not estimated:
entries are picked greedily in priority order using their individual counts, then the joined text
is counted and, should joining ever cost more than the parts (BPE merges across a separator can),
the lowest-priority pick is dropped until the text fits.
"""

from __future__ import annotations

from collections.abc import Callable, MutableMapping, Sequence
from dataclasses import dataclass

from mainspring.memory.base import MemoryEntry
from mainspring.messages import Message
from mainspring.tokens import Tokenizer

TokenCounter = Tokenizer | Callable[[str], int]
"""A `Tokenizer`, or any function that counts the tokens of a text (e.g. `model.count_tokens`)."""

SEPARATOR = "\n"
TRUNCATION_MARKER = " […truncated]"


class CountingTokenizer:
    """A `Tokenizer` over a bare counting function; truncates by binary search on characters."""

    def __init__(self, count: Callable[[str], int], name: str = "custom") -> None:
        self._count = count
        self.name = name

    def count(self, text: str) -> int:
        """Tokens in `text`, as the wrapped function counts them."""
        return self._count(text)

    def truncate(self, text: str, max_tokens: int) -> str:
        """The longest character prefix whose count is at most `max_tokens`."""
        if self._count(text) <= max_tokens:
            return text
        low, high = 0, len(text)  # invariant: text[:low] fits, text[:high] does not
        while high - low > 1:
            middle = (low + high) // 2
            if self._count(text[:middle]) <= max_tokens:
                low = middle
            else:
                high = middle
        return text[:low]


def as_tokenizer(counter: TokenCounter) -> Tokenizer:
    """Accept a `Tokenizer` or a counting function and return a `Tokenizer`."""
    if isinstance(counter, Tokenizer):
        return counter
    if callable(counter):
        return CountingTokenizer(counter, getattr(counter, "__name__", "custom"))
    raise TypeError(f"tokenizer must be a Tokenizer or a function str -> int, not {counter!r}")


@dataclass(frozen=True, slots=True)
class ContextItem:
    """One entry as it appears in a context: its text may be a truncated prefix."""

    entry: MemoryEntry
    text: str
    tokens: int
    score: float
    truncated: bool = False


@dataclass(frozen=True, slots=True)
class MemoryContext:
    """What `get_context` returns: entries in chronological order and their joined text."""

    items: tuple[ContextItem, ...]
    text: str
    tokens: int
    """`tokenizer.count(text)`: never more than `max_tokens`."""
    max_tokens: int

    @property
    def entries(self) -> list[MemoryEntry]:
        """The entries, oldest first."""
        return [item.entry for item in self.items]

    def to_messages(self) -> list[Message]:
        """One system message carrying the context, or none when it is empty."""
        if not self.text:
            return []
        return [Message(role="system", content=self.text)]


@dataclass(frozen=True, slots=True)
class Candidate:
    """An entry offered to the packer, with its score and the token ceiling for its group."""

    entry: MemoryEntry
    score: float
    ceiling: int
    """Offer it only while the tokens used so far, plus its own, stay within this."""
    truncate: bool = True
    """Whether an entry larger than the whole budget may be cut to the room left."""


class Packer:
    """Greedy selection under a hard token budget, in the order candidates are offered."""

    def __init__(
        self,
        max_tokens: int,
        tokenizer: Tokenizer,
        counts: MutableMapping[str, int] | None = None,
    ) -> None:
        """Pack into `max_tokens`; `counts` caches token counts by text across packers."""
        self.max_tokens = max_tokens
        self.tokenizer = tokenizer
        self.used = 0
        self.picked: list[ContextItem] = []
        self._seen: set[str] = set()
        self._counts: MutableMapping[str, int] = {} if counts is None else counts
        self._separator = tokenizer.count(SEPARATOR)
        self._marker = tokenizer.count(TRUNCATION_MARKER)

    def offer(self, candidate: Candidate) -> bool:
        """Take the candidate if it fits under its ceiling; returns whether it was taken."""
        entry = candidate.entry
        if entry.id in self._seen:
            return False
        joint = self._separator if self.picked else 0
        room = min(candidate.ceiling, self.max_tokens) - self.used - joint
        if room <= 0:
            return False
        tokens = self._counts.get(entry.content)
        if tokens is None:
            tokens = self._counts[entry.content] = self.tokenizer.count(entry.content)
        if tokens <= room:
            self._take(ContextItem(entry, entry.content, tokens, candidate.score), joint)
            return True
        if candidate.truncate and tokens > self.max_tokens:  # keep a marked prefix
            item = self._truncated(candidate, room)
            if item is not None:
                self._take(item, joint)
                return True
        return False

    def _truncated(self, candidate: Candidate, room: int) -> ContextItem | None:
        keep = room - self._marker
        while keep > 0:
            text = self.tokenizer.truncate(candidate.entry.content, keep) + TRUNCATION_MARKER
            tokens = self.tokenizer.count(text)
            if tokens <= room:
                return ContextItem(candidate.entry, text, tokens, candidate.score, truncated=True)
            keep -= tokens - room
        return None

    def _take(self, item: ContextItem, joint: int) -> None:
        self.picked.append(item)
        self._seen.add(item.entry.id)
        self.used += item.tokens + joint

    def result(self) -> MemoryContext:
        """The picked entries oldest first, dropping the last picks if the joined text overflows."""
        picked = list(self.picked)
        while True:
            items = tuple(sorted(picked, key=lambda i: (i.entry.created_at, i.entry.id)))
            text = SEPARATOR.join(item.text for item in items)
            tokens = self.tokenizer.count(text) if items else 0
            if tokens <= self.max_tokens or not picked:
                return MemoryContext(items, text, tokens, self.max_tokens)
            picked.pop()


def pack(
    candidates: Sequence[Candidate], max_tokens: int, tokenizer: TokenCounter
) -> MemoryContext:
    """Pack candidates (highest priority first) into at most `max_tokens` tokens."""
    packer = Packer(max_tokens, as_tokenizer(tokenizer))
    for candidate in candidates:
        packer.offer(candidate)
    return packer.result()
