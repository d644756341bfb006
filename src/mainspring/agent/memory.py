"""`InProcessMemory`: the smallest memory that fits the agent's `Memory` protocol.

It keeps the most recent entries in a bounded ring and returns the newest that fit the token
budget, in chronological order. `mainspring.memory.AgentMemory` (persistent, ranked, long-term)
plugs into the same place.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mainspring.messages import Message
from mainspring.tokens import Tokenizer, default_tokenizer


@dataclass(frozen=True, slots=True)
class TextContext:
    """Remembered text, already within its token budget."""

    text: str
    tokens: int

    def to_messages(self) -> list[Message]:
        """One system message carrying the context, or none when it is empty."""
        if not self.text:
            return []
        return [Message("system", f"What you remember from earlier:\n{self.text}")]


class InProcessMemory:
    """Recent messages in a bounded ring, in this process only."""

    def __init__(self, max_entries: int = 200, tokenizer: Tokenizer | None = None) -> None:
        self.entries: deque[str] = deque(maxlen=max_entries)
        self.tokenizer = tokenizer or default_tokenizer()

    async def add_short_term(
        self, content: str, *, importance: float = 0.5, metadata: Mapping[str, Any] | None = None
    ) -> str:
        """Remember `content`, labelled with `metadata["role"]` when given."""
        role = (metadata or {}).get("role")
        entry = f"{role}: {content}" if role else content
        self.entries.append(entry)
        return entry

    async def get_context(self, max_tokens: int, query: str | None = None) -> TextContext:
        """The newest entries that fit in `max_tokens`, oldest first. `query` is not used."""
        chosen: list[str] = []
        used = 0
        for entry in reversed(self.entries):
            cost = self.tokenizer.count(entry) + 1  # the joining newline
            if used + cost > max_tokens:
                break
            chosen.append(entry)
            used += cost
        return TextContext("\n".join(reversed(chosen)), used)
