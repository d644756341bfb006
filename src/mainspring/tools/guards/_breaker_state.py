"""The circuit breaker's state machine, pure: every backend stores this state and calls these.

closed --(N consecutive failures, or failure rate over the window)--> open
open --(cooldown elapsed; one trial admitted)--> half_open
half_open --(trial succeeds)--> closed;  --(trial fails)--> open
A trial whose caller vanished (crash) is given up after another cooldown, so the breaker never
wedges in half-open.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mainspring.tools.guards.backend import BreakerDecision, BreakerStateName
from mainspring.tools.policy import BreakerPolicy

_BUCKETS = 10


@dataclass(slots=True)
class BreakerState:
    """Everything a breaker remembers; small and JSON-serialisable."""

    state: BreakerStateName = "closed"
    consecutive_failures: int = 0
    opened_at: float = 0.0
    trial_started_at: float | None = None
    buckets: dict[int, list[int]] = field(default_factory=dict[int, list[int]])
    """Window buckets: index -> [calls, failures]; only used with a failure-rate policy."""


def view(s: BreakerState, policy: BreakerPolicy, now: float) -> BreakerStateName:
    """The state as a caller would see it now (an expired open state reads as half-open)."""
    if s.state == "open" and now - s.opened_at >= policy.cooldown:
        return "half_open"
    return s.state


def admit(s: BreakerState, policy: BreakerPolicy, now: float) -> BreakerDecision:
    """Decide on one call, mutating `s` when it claims the half-open trial."""
    if s.state == "closed":
        return BreakerDecision(True, "closed")
    if s.state == "open":
        remaining = policy.cooldown - (now - s.opened_at)
        if remaining > 0:
            return BreakerDecision(False, "open", retry_after=remaining)
        s.state = "half_open"
        s.trial_started_at = None
    trial_busy = s.trial_started_at is not None and now - s.trial_started_at < policy.cooldown
    if trial_busy:
        return BreakerDecision(False, "half_open", retry_after=policy.cooldown)
    s.trial_started_at = now
    return BreakerDecision(True, "half_open", trial=True)


def record(
    s: BreakerState, policy: BreakerPolicy, now: float, *, success: bool, trial: bool
) -> None:
    """Fold one outcome into `s`."""
    if trial or s.state == "half_open":
        if trial:
            s.trial_started_at = None
            _reset(s) if success else _open(s, now)
        return
    if s.state == "open":
        return
    s.consecutive_failures = 0 if success else s.consecutive_failures + 1
    if policy.failure_rate is not None:
        _count(s, policy, now, success)
    if s.consecutive_failures >= policy.failures or _rate_tripped(s, policy, now):
        _open(s, now)


def _reset(s: BreakerState) -> None:
    s.state = "closed"
    s.consecutive_failures = 0
    s.buckets.clear()


def _open(s: BreakerState, now: float) -> None:
    s.state = "open"
    s.opened_at = now
    s.trial_started_at = None
    s.buckets.clear()


def _count(s: BreakerState, policy: BreakerPolicy, now: float, success: bool) -> None:
    width = policy.window / _BUCKETS
    index = int(now // width)
    oldest = index - _BUCKETS + 1
    for stale in [k for k in s.buckets if k < oldest]:
        del s.buckets[stale]
    bucket = s.buckets.setdefault(index, [0, 0])
    bucket[0] += 1
    bucket[1] += 0 if success else 1


def _rate_tripped(s: BreakerState, policy: BreakerPolicy, now: float) -> bool:
    if policy.failure_rate is None:
        return False
    calls = sum(b[0] for b in s.buckets.values())
    failures = sum(b[1] for b in s.buckets.values())
    return calls >= policy.min_calls and failures / calls >= policy.failure_rate
