"""Shared guard state behind small protocols: in-process by default, Redis across processes.

The protocols speak in decisions, not storage operations, so each backend can make a decision
atomically in its own way (a lock-free dict in-process, a Lua script or a CAS in Redis).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

from mainspring.tools.policy import BreakerPolicy, RateLimit

BreakerStateName = Literal["closed", "open", "half_open"]


@dataclass(frozen=True, slots=True)
class RateDecision:
    """Whether a call may proceed now, and if not, after how many seconds."""

    allowed: bool
    retry_after: float = 0.0


@dataclass(frozen=True, slots=True)
class BreakerDecision:
    """Whether a call may pass the breaker; `trial` marks the single half-open probe."""

    allowed: bool
    state: BreakerStateName
    trial: bool = False
    retry_after: float = 0.0


class RateLimitBackend(Protocol):
    """Token-bucket state per key."""

    async def acquire(self, key: str, rate: RateLimit) -> RateDecision:
        """Take one call's worth from the bucket if it has room."""
        ...

    async def peek(self, key: str, rate: RateLimit) -> RateDecision:
        """Would a call be allowed now? Takes nothing."""
        ...


class BreakerBackend(Protocol):
    """Circuit-breaker state per key."""

    async def admit(self, key: str, policy: BreakerPolicy) -> BreakerDecision:
        """Decide whether a call may pass; claims the half-open trial when it is free."""
        ...

    async def record(self, key: str, policy: BreakerPolicy, *, success: bool, trial: bool) -> None:
        """Record the outcome of an admitted call."""
        ...

    async def state(self, key: str, policy: BreakerPolicy) -> BreakerStateName:
        """The breaker's state now (for status reports)."""
        ...


class CacheBackend(Protocol):
    """Results of deterministic tools, bounded in size and age."""

    async def get(self, key: str) -> str | None:
        """The cached content, or None."""
        ...

    async def set(self, key: str, value: str, ttl: float) -> None:
        """Store content for `ttl` seconds."""
        ...


class GuardBackend(RateLimitBackend, BreakerBackend, CacheBackend, Protocol):
    """Everything the guards share; one object per deployment (in-process or Redis)."""

    async def aclose(self) -> None:
        """Release connections."""
        ...
