"""Detects runs that make no progress: the same call again and again, or two calls in turn.

A model that obeys an injected instruction ("call fetch again until it works") or that is simply
stuck repeats itself until the iteration cap, spending tokens and tool quota for nothing. The
tracker sees each requested call before it runs and names the loop as soon as it is certain,
so the loop stops the run with `no_progress` instead of running the call once more.

Pure: no I/O, no clock; the loop feeds it calls in the order the model asked for them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mainspring.messages import call_signature


def call_key(tool: str, arguments: Mapping[str, Any]) -> str:
    """One call's identity: the tool and its arguments in canonical JSON (as replay matches)."""
    return call_signature(tool, arguments)


@dataclass(slots=True)
class ProgressTracker:
    """Counts identical calls in one run.

    Args:
        max_repeats: how many times one call (tool + canonical arguments) may be made in a run.
            Asking for it once more is no progress. An A-B-A-B alternation is caught by the same
            rule (each of its two calls repeats) and reported as a ping-pong.
    """

    max_repeats: int
    _counts: Counter[str] = field(default_factory=Counter[str])
    _history: list[str] = field(default_factory=list[str])

    def admit(self, tool: str, arguments: Mapping[str, Any]) -> str | None:
        """Record a requested call; a description of the loop when it must not run, else None."""
        key = call_key(tool, arguments)
        if self._counts[key] >= self.max_repeats:
            return self._describe(key)
        self._counts[key] += 1
        self._history.append(key)
        return None

    def _describe(self, key: str) -> str:
        partner = self._ping_pong_partner(key)
        times = self._counts[key]
        if partner is not None:
            return (
                f"the model alternated between {_short(key)} and {_short(partner)} "
                f"{times} times without progress"
            )
        return f"the model asked for {_short(key)} {times} times already without progress"

    def _ping_pong_partner(self, key: str) -> str | None:
        """The other call when the recent history is an alternation of `key` and one other."""
        recent = self._history[-2 * self.max_repeats :]
        distinct = set(recent)
        if len(recent) < 4 or len(distinct) != 2 or key not in distinct:
            return None
        if any(a == b for a, b in zip(recent, recent[1:], strict=False)):
            return None
        (partner,) = distinct - {key}
        return partner


def _short(key: str, limit: int = 120) -> str:
    """A call key fit for a message, long arguments elided."""
    return key if len(key) <= limit else key[: limit - 3] + "..."
