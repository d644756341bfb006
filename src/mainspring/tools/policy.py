"""Policies a tool declares: rate limits, circuit breakers and the rest of its production contract.

They are values, parsed and checked once when the tool is defined, so a typo in `"10/sec"` fails at
import time with a message saying what is accepted, never at the first call in production.
"""

from __future__ import annotations

import re
from dataclasses import KW_ONLY, dataclass, field
from typing import Any, Literal

from mainspring.errors import ConfigurationError

_UNITS = {
    "s": 1.0,
    "sec": 1.0,
    "second": 1.0,
    "m": 60.0,
    "min": 60.0,
    "minute": 60.0,
    "h": 3600.0,
    "hour": 3600.0,
    "d": 86400.0,
    "day": 86400.0,
}
_RATE = re.compile(r"^\s*(\d+)\s*/\s*(\d*\.?\d*)\s*([a-z]+?)s?\s*$")


@dataclass(frozen=True, slots=True)
class RateLimit:
    """At most `limit` calls per `period` seconds, allowing bursts of up to `burst` calls.

    Enforced with GCRA (the generic cell rate algorithm): one timestamp of state per key, exact
    under concurrency, and the same arithmetic in-process and in the Redis Lua script.
    """

    limit: int
    period: float
    _: KW_ONLY
    burst: int | None = None
    """Calls allowed back to back; defaults to `limit` (a full period's worth)."""
    per_principal: bool = False
    """Give every principal its own bucket instead of one bucket per tool."""

    def __post_init__(self) -> None:
        if self.limit < 1 or self.period <= 0:
            raise ConfigurationError(
                f"rate limit needs limit >= 1 and period > 0, got {self.limit}/{self.period}s"
            )
        if self.burst is not None and self.burst < 1:
            raise ConfigurationError(f"rate limit burst must be >= 1, got {self.burst}")

    @property
    def interval(self) -> float:
        """Seconds between calls at the sustained rate."""
        return self.period / self.limit

    @property
    def capacity(self) -> int:
        """Calls allowed back to back."""
        return self.burst if self.burst is not None else self.limit

    @classmethod
    def parse(cls, text: str, *, per_principal: bool = False) -> RateLimit:
        """Read `"10/s"`, `"100/min"`, `"5/2s"` or `"1000/hour"`."""
        match = _RATE.match(text.lower())
        unit = _UNITS.get(match.group(3)) if match else None
        if match is None or unit is None:
            raise ConfigurationError(
                f"cannot read rate limit {text!r}: write '<calls>/<period>' such as '10/s', "
                "'100/min', '5/2s' or '1000/hour'"
            )
        multiplier = float(match.group(2)) if match.group(2) else 1.0
        return cls(int(match.group(1)), multiplier * unit, per_principal=per_principal)


@dataclass(frozen=True, slots=True)
class BreakerPolicy:
    """When a tool's circuit breaker opens, and for how long.

    The breaker opens after `failures` consecutive failures, or, when `failure_rate` is set, when at
    least `min_calls` calls in the last `window` seconds failed at that rate or more. After
    `cooldown` seconds it lets one trial call through (half-open): success closes it, failure
    reopens it. Timeouts count as failures; rejected calls (auth, validation, rate) do not.
    """

    failures: int = 5
    _: KW_ONLY
    window: float = 60.0
    cooldown: float = 30.0
    failure_rate: float | None = None
    min_calls: int = 10

    def __post_init__(self) -> None:
        if self.failures < 1:
            raise ConfigurationError(f"breaker failures must be >= 1, got {self.failures}")
        if self.window <= 0 or self.cooldown <= 0:
            raise ConfigurationError("breaker window and cooldown must be positive seconds")
        if self.failure_rate is not None and not 0 < self.failure_rate <= 1:
            raise ConfigurationError(
                f"breaker failure_rate is a fraction in (0, 1], got {self.failure_rate}"
            )


ApprovalPolicy = bool | Literal["tainted"]
"""When a tool's calls need approval: always (True), never (False), or only tainted calls."""


@dataclass(frozen=True, slots=True)
class ToolPolicy:
    """Everything a tool declares about how it may be called."""

    _: KW_ONLY
    timeout: float | None = None
    """Seconds before the call is cancelled (async) or abandoned (sync); None: executor default."""
    rate_limit: RateLimit | None = None
    cache_ttl: float | None = None
    """Seconds a result stays cached. Declare it only for deterministic tools."""
    breaker: BreakerPolicy | None = None
    scopes: frozenset[str] = frozenset()
    """Scopes the calling principal must hold, all of them."""
    requires_approval: ApprovalPolicy = False
    """True: every call needs an approver's yes. `"tainted"`: only calls the model asked for
    after reading a tool result (non-empty provenance), the ones an injected instruction in that
    result could have caused; calls that follow from the task alone run without asking."""
    secrets: frozenset[str] = frozenset()
    """Parameters whose values are redacted in events and audit records."""
    idempotent: bool = False
    """Safe to run twice with the same arguments (lets a resumed run retry it)."""
    sandbox: Any = None
    """A sandbox the tool runs its code in (see `mainspring.sandbox`)."""
    max_result_tokens: int | None = None
    """Tokens of output the model sees (the rest is cut, with a marker); None: executor default."""
    keep_invisible: bool = False
    """Pass invisible characters (zero-width, bidi, Unicode tags) through instead of escaping."""
    inline: bool = False
    """Run a plain `def` tool on the event loop instead of a worker thread: no thread hop (about
    50 µs), but nothing else runs meanwhile and no timeout can interrupt it. For quick, pure
    functions only; a timeout cannot be declared with it."""
    metadata: dict[str, Any] = field(default_factory=dict[str, Any])

    def __post_init__(self) -> None:
        if self.timeout is not None and self.timeout <= 0:
            raise ConfigurationError(f"timeout must be positive seconds, got {self.timeout}")
        if self.cache_ttl is not None and self.cache_ttl <= 0:
            raise ConfigurationError(f"cache_ttl must be positive seconds, got {self.cache_ttl}")
        if self.requires_approval not in (True, False, "tainted"):
            raise ConfigurationError(
                f"requires_approval must be True, False or 'tainted', got "
                f"{self.requires_approval!r}"
            )
        check_max_result_tokens(self.max_result_tokens)
        if self.inline and (self.timeout is not None or self.sandbox is not None):
            raise ConfigurationError(
                "an inline tool runs on the event loop, where nothing can interrupt it: drop "
                "timeout= and sandbox=, or drop inline=True to run it in a worker thread"
            )


_MIN_RESULT_TOKENS = 64


def check_max_result_tokens(value: int | None) -> None:
    """A result cap must leave room for some output and the cut marker."""
    if value is not None and (isinstance(value, bool) or value < _MIN_RESULT_TOKENS):
        raise ConfigurationError(
            f"max_result_tokens must be an int of at least {_MIN_RESULT_TOKENS} (room for the "
            f"output and the cut marker), or None for the executor's default; got {value!r}"
        )


def coerce_rate_limit(value: str | RateLimit | None) -> RateLimit | None:
    """Accept the `"10/s"` shorthand wherever a `RateLimit` goes."""
    return RateLimit.parse(value) if isinstance(value, str) else value


def coerce_breaker(value: int | BreakerPolicy | None) -> BreakerPolicy | None:
    """Accept a failure count as shorthand for a default `BreakerPolicy`."""
    if isinstance(value, bool):
        raise ConfigurationError("breaker takes a failure count or a BreakerPolicy, not a bool")
    return BreakerPolicy(value) if isinstance(value, int) else value
