"""Per-tool call statistics, kept in this process."""

from __future__ import annotations

import statistics
from collections import deque
from dataclasses import dataclass, field
from typing import Literal

from mainspring.messages import NOT_THE_TOOLS_FAULT, ToolErrorKind

ToolStatus = Literal["available", "unavailable", "rate_limited", "circuit_open"]

_LATENCY_SAMPLES = 1024


@dataclass(frozen=True, slots=True)
class ToolStats:
    """A snapshot of one tool's health."""

    name: str
    status: ToolStatus
    calls: int
    errors: int
    """Failed calls, except those that were not the tool's fault (see `errors_by_kind`)."""
    cache_hits: int
    rate_limited: int
    breaker_rejected: int
    p50_ms: float | None
    p95_ms: float | None
    errors_by_kind: dict[str, int] = field(default_factory=dict[str, int])


class StatsRecorder:
    """Counts outcomes and keeps recent latencies (the last 1024) for percentiles."""

    __slots__ = ("calls", "cache_hits", "errors", "latencies")

    def __init__(self) -> None:
        self.calls = 0
        self.cache_hits = 0
        self.errors: dict[str, int] = {}  # a plain dict: Counter() alone costs ~5 µs to make
        self.latencies: deque[float] = deque(maxlen=_LATENCY_SAMPLES)

    def record(self, latency_ms: float, error_kind: ToolErrorKind | None, cached: bool) -> None:
        """Fold one call in."""
        self.calls += 1
        self.latencies.append(latency_ms)
        if cached:
            self.cache_hits += 1
        if error_kind is not None:
            self.errors[error_kind] = self.errors.get(error_kind, 0) + 1

    def snapshot(self, name: str, status: ToolStatus) -> ToolStats:
        """Freeze the numbers with the tool's current status."""
        p50 = p95 = None
        if len(self.latencies) >= 2:
            cuts = statistics.quantiles(self.latencies, n=100, method="inclusive")
            p50, p95 = cuts[49], cuts[94]
        elif self.latencies:
            p50 = p95 = self.latencies[0]
        return ToolStats(
            name=name,
            status=status,
            calls=self.calls,
            errors=sum(n for k, n in self.errors.items() if k not in NOT_THE_TOOLS_FAULT),
            cache_hits=self.cache_hits,
            rate_limited=self.errors.get("rate_limited", 0),
            breaker_rejected=self.errors.get("circuit_open", 0),
            p50_ms=p50,
            p95_ms=p95,
            errors_by_kind=dict(self.errors),
        )
