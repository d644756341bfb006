"""Guard state in Redis, so processes and hosts sharing one Redis share one limit.

- Rate limits: GCRA in a Lua script (atomic on the server; the same arithmetic as `_gcra.py`).
  Time comes from the Redis server (`TIME`) unless a clock is injected, so hosts need no clock
  agreement.
- Breakers: the pure state machine of `_breaker_state.py`, stored as JSON and updated with an
  optimistic WATCH/MULTI transaction, retried on conflict; exactly one process wins a half-open
  trial. Breaker time is wall-clock time (keep hosts NTP-synced) unless a clock is injected.
- Cache: plain keys with a TTL; size is bounded by the server's `maxmemory` policy.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from mainspring.clock import Clock, WallClock
from mainspring.errors import BackendError, MissingExtraError
from mainspring.tools.guards import _breaker_state as breaker
from mainspring.tools.guards.backend import BreakerDecision, BreakerStateName, RateDecision
from mainspring.tools.policy import BreakerPolicy, RateLimit

if TYPE_CHECKING:
    from redis.asyncio import Redis

_GCRA_LUA = """
local now = tonumber(ARGV[3])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) + tonumber(t[2]) / 1000000
end
local interval = tonumber(ARGV[1])
local capacity = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]))
if (not tat) or tat < now then tat = now end
local new_tat = tat + interval
local allow_at = new_tat - capacity * interval
if now < allow_at - 1e-9 then
  return {0, tostring(allow_at - now)}
end
if ARGV[4] ~= '1' then
  redis.call('SET', KEYS[1], tostring(new_tat), 'PX', math.ceil((new_tat - now) * 1000) + 1000)
end
return {1, '0'}
"""


def _load_redis() -> Any:
    try:
        import redis.asyncio as redis_asyncio
    except ImportError as exc:
        raise MissingExtraError("RedisBackend", "redis") from exc
    return redis_asyncio


class RedisBackend:
    """Guard state shared through Redis. Keys live under `prefix`."""

    def __init__(
        self,
        client: Redis,
        *,
        prefix: str = "mainspring:",
        clock: Clock | None = None,
    ) -> None:
        self._redis = client
        self._prefix = prefix
        self._clock = clock
        self._breaker_clock: Clock = clock or WallClock()
        self._gcra = client.register_script(_GCRA_LUA)

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        socket_timeout: float | None = 0.5,
        socket_connect_timeout: float | None = 0.5,
        retries: int = 1,
        **kwargs: Any,
    ) -> RedisBackend:
        """Connect lazily to `redis://host:port/db`, with timeouts fit for a guard.

        redis-py's defaults (5 s per socket operation, 10 retries with backoff) would hold a tool
        call for most of a minute when Redis hangs; a guard decision takes a millisecond, so
        half a second per operation and one retry (a stale pooled connection after a Redis
        restart) is generous. Each call is also cut at the tool's own deadline. Pass None for
        no timeout. Other keyword arguments go to `RedisBackend` (`prefix`, `clock`).
        """
        redis_asyncio = _load_redis()
        from redis.asyncio.retry import Retry
        from redis.backoff import ExponentialBackoff

        client = redis_asyncio.Redis.from_url(
            url,
            socket_timeout=socket_timeout,
            socket_connect_timeout=socket_connect_timeout,
            retry=Retry(ExponentialBackoff(cap=0.05, base=0.01), retries),
        )
        return cls(client, **kwargs)

    async def _run_gcra(self, key: str, rate: RateLimit, dry_run: bool) -> RateDecision:
        now = "" if self._clock is None else repr(self._clock.now())
        args: list[str | int] = [repr(rate.interval), rate.capacity, now, "1" if dry_run else "0"]
        try:
            allowed, retry_after = await self._gcra(keys=[self._prefix + "rl:" + key], args=args)
        except Exception as exc:
            raise BackendError(f"Redis rate limit for {key!r} failed: {exc}") from exc
        return RateDecision(bool(allowed), float(retry_after))

    async def acquire(self, key: str, rate: RateLimit) -> RateDecision:
        """Take one call from the shared bucket if it has room."""
        return await self._run_gcra(key, rate, dry_run=False)

    async def peek(self, key: str, rate: RateLimit) -> RateDecision:
        """Would a call be allowed now?"""
        return await self._run_gcra(key, rate, dry_run=True)

    async def _update_breaker(self, key: str, step: Any) -> Any:
        """Read-modify-write one breaker state atomically (optimistic, retried on conflict)."""
        from redis.exceptions import WatchError

        full_key = self._prefix + "cb:" + key
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                while True:
                    try:
                        await pipe.watch(full_key)
                        raw = await pipe.get(full_key)
                        state = _decode(raw)
                        outcome = step(state)
                        pipe.multi()  # type: ignore[no-untyped-call]
                        pipe.set(full_key, _encode(state), ex=86_400)
                        await pipe.execute()
                        return outcome
                    except WatchError:
                        continue
        except BackendError:
            raise
        except Exception as exc:
            raise BackendError(f"Redis breaker for {key!r} failed: {exc}") from exc

    async def admit(self, key: str, policy: BreakerPolicy) -> BreakerDecision:
        """Decide whether a call may pass the shared breaker."""
        now = self._breaker_clock.now()
        decision: BreakerDecision = await self._update_breaker(
            key, lambda s: breaker.admit(s, policy, now)
        )
        return decision

    async def record(self, key: str, policy: BreakerPolicy, *, success: bool, trial: bool) -> None:
        """Record an admitted call's outcome in the shared breaker."""
        now = self._breaker_clock.now()
        await self._update_breaker(
            key, lambda s: breaker.record(s, policy, now, success=success, trial=trial)
        )

    async def state(self, key: str, policy: BreakerPolicy) -> BreakerStateName:
        """The shared breaker's state now."""
        try:
            raw = await self._redis.get(self._prefix + "cb:" + key)
        except Exception as exc:
            raise BackendError(f"Redis breaker for {key!r} failed: {exc}") from exc
        return breaker.view(_decode(raw), policy, self._breaker_clock.now())

    async def get(self, key: str) -> str | None:
        """Cached content, or None."""
        try:
            raw = await self._redis.get(self._prefix + "cache:" + key)
        except Exception as exc:
            raise BackendError(f"Redis cache read failed: {exc}") from exc
        return None if raw is None else raw.decode() if isinstance(raw, bytes) else str(raw)

    async def set(self, key: str, value: str, ttl: float) -> None:
        """Cache content for `ttl` seconds."""
        try:
            await self._redis.set(self._prefix + "cache:" + key, value, px=max(1, int(ttl * 1000)))
        except Exception as exc:
            raise BackendError(f"Redis cache write failed: {exc}") from exc

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._redis.aclose()


def _encode(state: breaker.BreakerState) -> str:
    return json.dumps(
        {
            "state": state.state,
            "consecutive_failures": state.consecutive_failures,
            "opened_at": state.opened_at,
            "trial_started_at": state.trial_started_at,
            "buckets": {str(k): v for k, v in state.buckets.items()},
        }
    )


def _decode(raw: bytes | str | None) -> breaker.BreakerState:
    if raw is None:
        return breaker.BreakerState()
    data = json.loads(raw)
    return breaker.BreakerState(
        state=data["state"],
        consecutive_failures=data["consecutive_failures"],
        opened_at=data["opened_at"],
        trial_started_at=data["trial_started_at"],
        buckets={int(k): v for k, v in data["buckets"].items()},
    )
