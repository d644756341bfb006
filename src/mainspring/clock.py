"""Time as a dependency: guards and budgets ask a `Clock`, so tests can drive time exactly."""

from __future__ import annotations

import datetime as dt
import time
from typing import Protocol


class Clock(Protocol):
    """A source of seconds. Only differences between readings are meaningful."""

    def now(self) -> float:
        """Seconds since an arbitrary, fixed origin."""
        ...


class MonotonicClock:
    """Monotonic time: immune to wall-clock jumps; right within one process."""

    __slots__ = ()

    def now(self) -> float:
        """`time.monotonic()`."""
        return time.monotonic()


class WallClock:
    """Unix time: comparable across processes and hosts (keep them NTP-synced)."""

    __slots__ = ()

    def now(self) -> float:
        """`time.time()`."""
        return time.time()


def utc_now() -> str:
    """The current time as ISO 8601 UTC, to the millisecond: the timestamp of every record."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")
