"""Guards: one production concern each, composed around every tool call in a fixed order.

```
scopes -> validation -> approval -> rate limit -> circuit breaker -> cache -> timeout -> tool
```

Cheap rejections come first (a caller without the scope costs nothing, invalid arguments never
reach an approver or a rate bucket); the breaker sits outside the cache so cached answers do not
mask a broken tool's recovery probe, and the timeout is innermost so it bounds only the tool.
"""

from __future__ import annotations

from mainspring.tools.guards.auth import ApprovalGuard, ScopeGuard
from mainspring.tools.guards.backend import (
    BreakerBackend,
    BreakerDecision,
    CacheBackend,
    GuardBackend,
    RateDecision,
    RateLimitBackend,
)
from mainspring.tools.guards.base import Guard, Handler, Invocation
from mainspring.tools.guards.cache import CacheGuard
from mainspring.tools.guards.chain import build_chain, default_guards
from mainspring.tools.guards.circuit_breaker import CircuitBreakerGuard
from mainspring.tools.guards.memory_backend import InMemoryBackend
from mainspring.tools.guards.rate_limit import RateLimitGuard
from mainspring.tools.guards.redis_backend import RedisBackend
from mainspring.tools.guards.timeout import TimeoutGuard
from mainspring.tools.guards.validation import ValidationGuard

__all__ = [
    "ApprovalGuard",
    "BreakerBackend",
    "BreakerDecision",
    "CacheBackend",
    "CacheGuard",
    "CircuitBreakerGuard",
    "Guard",
    "GuardBackend",
    "Handler",
    "InMemoryBackend",
    "Invocation",
    "RateDecision",
    "RateLimitBackend",
    "RateLimitGuard",
    "RedisBackend",
    "ScopeGuard",
    "TimeoutGuard",
    "ValidationGuard",
    "build_chain",
    "default_guards",
]
