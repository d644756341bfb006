"""`consolidate()`: move what matters from the short-term window into long-term memory.

Three steps, each safe to repeat: expired entries are pruned; short-term and evicted entries at
least `promote_threshold` important are copied into long-term unless a near-identical long-term
entry exists (then that one's importance is raised instead); entries evicted from the window are
condensed by the summariser, when there is one, into a single long-term entry, and then deleted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mainspring.memory._sql import query_words
from mainspring.memory.base import EntryFilter, MemoryEntry, Summariser

if TYPE_CHECKING:
    from mainspring.memory.agent_memory import AgentMemory


@dataclass(frozen=True, slots=True)
class ConsolidationReport:
    """What one `consolidate()` call did."""

    promoted: int
    duplicates: int
    """Important entries not copied because a near-identical long-term entry exists."""
    summarised: int
    """Evicted entries condensed into `summary` (0 without a summariser)."""
    dropped: int
    """Evicted entries deleted (they were counted under `evicted.window` when they left)."""
    expired: int
    summary: MemoryEntry | None = None


def similarity(a: str, b: str) -> float:
    """Jaccard similarity of the two texts' word sets: 1.0 for the same words in any order."""
    words_a, words_b = set(query_words(a, 10_000)), set(query_words(b, 10_000))
    if not words_a and not words_b:
        return 1.0 if a.strip() == b.strip() else 0.0
    return len(words_a & words_b) / len(words_a | words_b)


async def _near_duplicate(
    memory: AgentMemory, entry: MemoryEntry, fresh: Sequence[MemoryEntry]
) -> MemoryEntry | None:
    threshold = memory.config.duplicate_similarity
    now = memory.clock.now()
    hits = await memory.store.search(
        memory.namespace, entry.content, kinds=["long"], limit=5, now=now
    )
    for other in [*fresh, *(hit.entry for hit in hits)]:
        if similarity(entry.content, other.content) >= threshold:
            return other
    return None


async def _promote(memory: AgentMemory, window: Sequence[MemoryEntry]) -> tuple[int, int]:
    promoted: list[MemoryEntry] = []
    raised: dict[str, MemoryEntry] = {}
    for entry in window:
        if entry.importance < memory.config.promote_threshold:
            continue
        twin = await _near_duplicate(memory, entry, promoted)
        if twin is None:
            copy = memory.entry(
                entry.content,
                importance=entry.importance,
                metadata={**entry.metadata, "promoted_from": entry.id},
            )
            copy.created_at = entry.created_at
            promoted.append(copy)
        elif twin.importance < entry.importance:
            twin.importance = entry.importance
            raised[twin.id] = twin
    duplicates = sum(1 for e in window if e.importance >= memory.config.promote_threshold)
    duplicates -= len(promoted)
    changed = [*promoted, *(e for e in raised.values() if e not in promoted)]
    if changed:
        await memory.add(changed)
    return len(promoted), duplicates


async def _summarise(memory: AgentMemory, evicted: Sequence[MemoryEntry]) -> MemoryEntry | None:
    summariser = memory.summariser
    if summariser is None or not evicted:
        return None
    texts = [entry.content for entry in evicted]
    if isinstance(summariser, Summariser):
        text = await summariser.summarise(texts)
    else:
        text = await summariser(texts)
    summary = memory.entry(
        text,
        importance=max(entry.importance for entry in evicted),
        metadata={
            "summary_of": len(evicted),
            "first_created_at": evicted[0].created_at,
            "last_created_at": evicted[-1].created_at,
        },
    )
    await memory.add([summary])
    return summary


async def consolidate(memory: AgentMemory) -> ConsolidationReport:
    """Run the three consolidation steps on `memory`'s namespace (see the module docstring)."""
    expired = await memory.prune()
    window = await memory.find(EntryFilter(kinds=["short", "evicted"], now=memory.clock.now()))
    promoted, duplicates = await _promote(memory, window)
    evicted = [entry for entry in window if entry.kind == "evicted"]
    summary = await _summarise(memory, evicted)
    if evicted:
        await memory.store.delete(memory.namespace, EntryFilter(ids=[e.id for e in evicted]))
    return ConsolidationReport(
        promoted=promoted,
        duplicates=duplicates,
        summarised=len(evicted) if summary else 0,
        dropped=len(evicted),
        expired=expired,
        summary=summary,
    )
