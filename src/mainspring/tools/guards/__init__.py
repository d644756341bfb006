"""Guards: one production concern each, composed around every tool call in a fixed order.

```
scopes -> validation -> approval -> rate limit -> cache -> circuit breaker -> timeout -> tool
```

(`GUARD_ORDER`; a test checks this drawing against it.) Cheap rejections come first (a caller
without the scope costs nothing, invalid arguments never reach an approver or a rate bucket). The
cache sits outside the breaker: a hit is answered without touching the breaker, so a half-open
recovery probe is always a real run of the tool. The timeout's deadline starts at the first
backend wait after approval and bounds every later wait and the tool's run: a hung backend ends
the call as `unavailable` within the tool's timeout, never as the tool's fault.
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
from mainspring.tools.guards.chain import GUARD_ORDER, build_chain, default_guards
from mainspring.tools.guards.circuit_breaker import CircuitBreakerGuard
from mainspring.tools.guards.memory_backend import InMemoryBackend
from mainspring.tools.guards.rate_limit import RateLimitGuard
from mainspring.tools.guards.redis_backend import RedisBackend
from mainspring.tools.guards.timeout import TimeoutGuard
from mainspring.tools.guards.validation import ValidationGuard

__all__ = [
    "GUARD_ORDER",
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
