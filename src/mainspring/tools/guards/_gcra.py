"""GCRA (generic cell rate algorithm): a token bucket stored as one timestamp.

The state is the theoretical arrival time (TAT) of the next call. A call at `now` is allowed when
the bucket, refilled at one call per `interval`, still has room for it. The Redis backend runs the
same arithmetic in Lua (kept side by side with this in `redis_backend.py`).
"""

from __future__ import annotations

from mainspring.tools.policy import RateLimit

# Float sums of the interval drift (0.2 * 5 != 1.0); a nanosecond of slack keeps bursts exact.
_EPSILON = 1e-9


def gcra(tat: float | None, now: float, rate: RateLimit) -> tuple[bool, float, float]:
    """Return (allowed, new_tat, retry_after) for one call at `now` given the stored TAT."""
    interval = rate.interval
    base = now if tat is None or tat < now else tat
    new_tat = base + interval
    allow_at = new_tat - rate.capacity * interval
    if now < allow_at - _EPSILON:
        return False, base, allow_at - now
    return True, new_tat, 0.0
