"""How `AgentMemory` scores, bounds and consolidates: one typed, validated settings object."""

from __future__ import annotations

from dataclasses import KW_ONLY, dataclass, field

from mainspring.errors import ConfigurationError
from mainspring.memory.base import MIN_IMPORTANCE, MemoryEntry, Prior


@dataclass(frozen=True, slots=True)
class ScoringWeights:
    """Weights of the long-term score `relevance**r * importance**i * recency**t`.

    A weighted geometric mean: each factor lies in 0..1 and its weight is its exponent, so a
    weight of 0 ignores that factor and 2 makes it count twice. `recency` is
    `0.5 ** (seconds since last access / half_life)`. Relevance is the entry's lexical (BM25) or
    semantic (cosine) match divided by the best match among the candidates; entries that do not
    match the query at all get `min_relevance`, so a very important fact can still appear.
    """

    _: KW_ONLY
    relevance: float = 1.0
    importance: float = 1.0
    recency: float = 1.0
    half_life: float = 7 * 24 * 3600.0
    """Seconds after which an unaccessed entry's recency factor halves."""
    min_relevance: float = 0.05

    def __post_init__(self) -> None:
        for name in ("relevance", "importance", "recency"):
            if getattr(self, name) < 0:
                raise ConfigurationError(f"ScoringWeights.{name} must be >= 0")
        if self.half_life <= 0:
            raise ConfigurationError("ScoringWeights.half_life must be > 0 seconds")
        if not 0 < self.min_relevance <= 1:
            raise ConfigurationError("ScoringWeights.min_relevance must be in (0, 1]")

    @property
    def prior(self) -> Prior:
        """The query-free part of the score, in the form stores sort by."""
        return Prior(self.importance, self.recency, self.half_life)

    def score(self, entry: MemoryEntry, relevance: float, now: float) -> float:
        """The entry's score in 0..1 given its normalised relevance (0..1) at time `now`."""
        age = max(now - entry.accessed_at, 0.0)
        recency = 0.5 ** (age / self.half_life)
        importance = max(entry.importance, MIN_IMPORTANCE)
        relevance = max(relevance, self.min_relevance)
        score: float = (
            relevance**self.relevance * importance**self.importance * recency**self.recency
        )
        return score


@dataclass(frozen=True, slots=True)
class MemoryConfig:
    """Bounds and policies of one `AgentMemory`. Every limit is per namespace."""

    _: KW_ONLY
    short_term_max_entries: int = 20
    short_term_max_tokens: int = 2000
    """Older short-term entries beyond either bound move out of the window (kind `evicted`)."""
    long_term_max_entries: int | None = None
    long_term_max_bytes: int | None = None
    """Over either bound, the lowest-scored long-term entries (importance x recency) go."""
    long_term_ttl: float | None = None
    """Default lifetime of a long-term entry in seconds; `None` keeps entries until evicted."""
    weights: ScoringWeights = field(default_factory=ScoringWeights)
    long_term_share: float = 0.5
    """Share of the context budget reserved for long-term entries before recent ones fill it."""
    candidates: int = 50
    """How many long-term entries are fetched and scored per `get_context`."""
    promote_threshold: float = 0.7
    """`consolidate()` copies short-term entries at least this important into long-term."""
    duplicate_similarity: float = 0.85
    """Word-set (Jaccard) similarity at or above which two entries count as the same."""
    touch_on_read: bool = True
    """Whether `get_context` records an access on the long-term entries it returns."""

    def __post_init__(self) -> None:
        checks = {
            "short_term_max_entries must be >= 1": self.short_term_max_entries >= 1,
            "short_term_max_tokens must be >= 1": self.short_term_max_tokens >= 1,
            "long_term_max_entries must be >= 1 or None": (
                self.long_term_max_entries is None or self.long_term_max_entries >= 1
            ),
            "long_term_max_bytes must be >= 1 or None": (
                self.long_term_max_bytes is None or self.long_term_max_bytes >= 1
            ),
            "long_term_ttl must be > 0 or None": (
                self.long_term_ttl is None or self.long_term_ttl > 0
            ),
            "long_term_share must be in 0..1": 0 <= self.long_term_share <= 1,
            "candidates must be >= 1": self.candidates >= 1,
            "promote_threshold must be in 0..1": 0 <= self.promote_threshold <= 1,
            "duplicate_similarity must be in (0, 1]": 0 < self.duplicate_similarity <= 1,
        }
        for message, ok in checks.items():
            if not ok:
                raise ConfigurationError(f"MemoryConfig.{message}")
