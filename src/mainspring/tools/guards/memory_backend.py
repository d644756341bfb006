"""Guard state in this process: the default, with nothing to run or configure.

Every decision is made without an `await` between read and write, so on one event loop it is
atomic without locks. Limits are per process: use `RedisBackend` to share them.
"""

from __future__ import annotations

from mainspring.clock import Clock, MonotonicClock
from mainspring.tools.guards import _breaker_state as breaker
from mainspring.tools.guards._gcra import gcra
from mainspring.tools.guards._ttl_cache import TTLCache
from mainspring.tools.guards.backend import BreakerDecision, BreakerStateName, RateDecision
from mainspring.tools.policy import BreakerPolicy, RateLimit


class InMemoryBackend:
    """Rate buckets, breaker states and a bounded TTL cache, held in dicts."""

    never_waits = True
    """No method awaits anything, so guards need not bound their waits on it."""

    def __init__(self, *, clock: Clock | None = None, cache_size: int = 10_000) -> None:
        self.clock = clock or MonotonicClock()
        self._tats: dict[str, float] = {}
        self._breakers: dict[str, breaker.BreakerState] = {}
        self._cache = TTLCache(cache_size, self.clock.now)

    async def acquire(self, key: str, rate: RateLimit) -> RateDecision:
        """Take one call from the bucket if it has room."""
        allowed, new_tat, retry_after = gcra(self._tats.get(key), self.clock.now(), rate)
        if allowed:
            self._tats[key] = new_tat
        return RateDecision(allowed, retry_after)

    async def peek(self, key: str, rate: RateLimit) -> RateDecision:
        """Would a call be allowed now?"""
        allowed, _, retry_after = gcra(self._tats.get(key), self.clock.now(), rate)
        return RateDecision(allowed, retry_after)

    def _breaker(self, key: str) -> breaker.BreakerState:
        state = self._breakers.get(key)
        if state is None:
            state = self._breakers[key] = breaker.BreakerState()
        return state

    async def admit(self, key: str, policy: BreakerPolicy) -> BreakerDecision:
        """Decide whether a call may pass the breaker."""
        return breaker.admit(self._breaker(key), policy, self.clock.now())

    async def record(self, key: str, policy: BreakerPolicy, *, success: bool, trial: bool) -> None:
        """Record an admitted call's outcome."""
        breaker.record(self._breaker(key), policy, self.clock.now(), success=success, trial=trial)

    async def state(self, key: str, policy: BreakerPolicy) -> BreakerStateName:
        """The breaker's state now."""
        found = self._breakers.get(key)
        return "closed" if found is None else breaker.view(found, policy, self.clock.now())

    async def get(self, key: str) -> str | None:
        """Cached content, or None when absent or expired."""
        return self._cache.get(key)

    async def set(self, key: str, value: str, ttl: float) -> None:
        """Cache content for `ttl` seconds, evicting the least recently used when full."""
        self._cache.set(key, value, ttl)

    async def aclose(self) -> None:
        """Nothing to release."""
