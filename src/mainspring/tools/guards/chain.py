"""Assembling guards into the chain that runs around one tool."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

from mainspring.tools.base import Tool
from mainspring.tools.guards.auth import ApprovalGuard, ScopeGuard
from mainspring.tools.guards.backend import GuardBackend
from mainspring.tools.guards.base import Guard, Handler
from mainspring.tools.guards.cache import CacheGuard
from mainspring.tools.guards.circuit_breaker import CircuitBreakerGuard
from mainspring.tools.guards.rate_limit import RateLimitGuard
from mainspring.tools.guards.timeout import TimeoutGuard
from mainspring.tools.guards.validation import ValidationGuard

GUARD_ORDER: tuple[type[Guard], ...] = (
    ScopeGuard,
    ValidationGuard,
    ApprovalGuard,
    RateLimitGuard,
    CacheGuard,
    CircuitBreakerGuard,
    TimeoutGuard,
)
"""The standard guards, outermost first: what `default_guards` builds (why: see the package)."""


def default_guards(backend: GuardBackend, *, default_timeout: float | None) -> list[Guard]:
    """The standard guards in `GUARD_ORDER`, outermost first."""
    return [
        ScopeGuard(),
        ValidationGuard(),
        ApprovalGuard(),
        RateLimitGuard(backend),
        CacheGuard(backend),
        CircuitBreakerGuard(backend),
        TimeoutGuard(default_timeout),
    ]


def build_chain(tool: Tool, guards: Sequence[Guard], innermost: Handler) -> Handler:
    """Nest the guards that apply to `tool` around `innermost`, first guard outermost."""
    handler = innermost
    for guard in reversed([g for g in guards if g.applies(tool)]):
        handler = _link(guard, handler)
    return handler


def _link(guard: Guard, call_next: Handler) -> Handler:
    # A partial of the bound method is one C-level call per guard instead of a Python frame.
    return partial(guard.wrap, call_next=call_next)
