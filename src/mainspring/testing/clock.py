"""A clock that moves only when told to, for exact and instant tests of time-based behaviour."""

from __future__ import annotations


class FakeClock:
    """Starts at `start` and advances only through `advance`."""

    def __init__(self, start: float = 1_000.0) -> None:
        self._now = start

    def now(self) -> float:
        """The current fake time."""
        return self._now

    def advance(self, seconds: float) -> None:
        """Move time forward; moving it backwards is a test bug."""
        if seconds < 0:
            raise ValueError(f"a clock cannot go backwards (advance({seconds}))")
        self._now += seconds
