"""Budgets: the caps that end a run, checked before every model call.

The check is a pure function of what the run has spent and what the next call would cost, so it
is trivially testable and the loop only asks it. Hitting a cap is not an error: the run ends
with a `stop_reason` naming the cap and whatever partial result it has.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from mainspring.errors import ConfigurationError
from mainspring.messages import Usage
from mainspring.models.base import Pricing, cost_of

StopReason = Literal[
    "final_answer",
    "max_iterations",
    "max_tokens",
    "max_cost",
    "max_seconds",
    "max_tool_calls",
    "error",
]
"""Why a run ended. Every value but `final_answer` comes with a partial result."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Budget:
    """Caps for one run; `None` means no cap (iterations always have one)."""

    max_iterations: int = 10
    """Model calls."""
    max_tokens: int | None = None
    """Input plus output tokens over all model calls."""
    max_cost_usd: float | None = None
    """Dollars over all model calls, at the model's pricing."""
    max_seconds: float | None = None
    """Wall-clock seconds since the run started."""
    max_tool_calls: int | None = None
    """Tool calls executed."""

    def __post_init__(self) -> None:
        for name in (
            "max_iterations",
            "max_tokens",
            "max_cost_usd",
            "max_seconds",
            "max_tool_calls",
        ):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ConfigurationError(f"Budget.{name} must be >= 0, got {value!r}")

    @property
    def needs_prompt_count(self) -> bool:
        """Whether the check needs the next prompt's token count (counting is not free)."""
        return self.max_tokens is not None or self.max_cost_usd is not None


@dataclass(frozen=True, slots=True)
class Spent:
    """What a run has used so far."""

    iterations: int = 0
    usage: Usage = Usage()
    tool_calls: int = 0
    seconds: float = 0.0


def check_before_call(
    budget: Budget, spent: Spent, prompt_tokens: int, pricing: Pricing | None
) -> StopReason | None:
    """The cap the next model call would break, or None to go ahead.

    A call whose prompt alone would take the run over its token or cost cap is not sent: its
    reply could only add to the overrun.
    """
    if spent.iterations >= budget.max_iterations:
        return "max_iterations"
    if budget.max_seconds is not None and spent.seconds >= budget.max_seconds:
        return "max_seconds"
    if (
        budget.max_tokens is not None
        and spent.usage.total_tokens + prompt_tokens > budget.max_tokens
    ):
        return "max_tokens"
    if budget.max_cost_usd is not None:
        next_cost = cost_of(pricing, prompt_tokens, 0)
        if spent.usage.cost_usd + next_cost > budget.max_cost_usd:
            return "max_cost"
    return None


def check_tool_calls(budget: Budget, spent: Spent, requested: int) -> StopReason | None:
    """`max_tool_calls` when running `requested` more calls would exceed the cap."""
    if budget.max_tool_calls is not None and spent.tool_calls + requested > budget.max_tool_calls:
        return "max_tool_calls"
    return None


def reply_token_cap(budget: Budget, spent: Spent, prompt_tokens: int) -> int | None:
    """The most tokens the next reply may use without breaking `max_tokens` (None: no cap)."""
    if budget.max_tokens is None:
        return None
    return max(1, budget.max_tokens - spent.usage.total_tokens - prompt_tokens)
