"""Budgets: the caps a run must stay within, checked BEFORE each model call is sent.

A call whose prompt alone would break the token or cost cap is never sent: the run stops with
that reason and a partial result. Hitting a budget is an outcome, never an exception.
"""

from __future__ import annotations

from dataclasses import KW_ONLY, dataclass

from mainspring.errors import ConfigurationError
from mainspring.messages import StopReason, Usage

__all__ = ["Budget", "Spent", "StopReason", "check_before_model_call", "tool_calls_allowed"]


@dataclass(frozen=True, slots=True)
class Budget:
    """Caps on one run. `None` means no cap on that dimension."""

    _: KW_ONLY
    max_iterations: int | None = 10
    """Model calls."""
    max_tokens: int | None = None
    """Input plus output tokens over all model calls."""
    max_cost_usd: float | None = None
    max_seconds: float | None = None
    """Wall-clock seconds of this attempt (a resumed run gets a fresh allowance)."""
    max_tool_calls: int | None = None
    max_repeated_calls: int | None = 3
    """How often one call (same tool, same arguments) may run; asking once more, directly or in
    an A-B-A-B ping-pong, stops the run with `no_progress`. None: never stop for repetition."""

    def __post_init__(self) -> None:
        for name in (
            "max_iterations",
            "max_tokens",
            "max_cost_usd",
            "max_seconds",
            "max_tool_calls",
            "max_repeated_calls",
        ):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ConfigurationError(f"budget {name} must be positive or None, got {value}")


@dataclass(frozen=True, slots=True)
class Spent:
    """What a run has used so far."""

    usage: Usage
    iterations: int
    tool_calls: int
    seconds: float


def check_before_model_call(
    budget: Budget, spent: Spent, prompt_tokens: int, prompt_cost_usd: float
) -> StopReason | None:
    """The cap the next model call would break, or None when it may be sent.

    `prompt_tokens` and `prompt_cost_usd` are the next call's input alone: if they already push
    the run over its token or money cap, the call is not worth sending.
    """
    if budget.max_iterations is not None and spent.iterations >= budget.max_iterations:
        return "max_iterations"
    if budget.max_seconds is not None and spent.seconds >= budget.max_seconds:
        return "max_seconds"
    if (
        budget.max_tokens is not None
        and spent.usage.total_tokens + prompt_tokens > budget.max_tokens
    ):
        return "max_tokens"
    if (
        budget.max_cost_usd is not None
        and spent.usage.cost_usd + prompt_cost_usd > budget.max_cost_usd
    ):
        return "max_cost"
    return None


def tool_calls_allowed(budget: Budget, spent: Spent, wanted: int) -> int:
    """How many of `wanted` tool calls still fit under `max_tool_calls`."""
    if budget.max_tool_calls is None:
        return wanted
    return max(0, min(wanted, budget.max_tool_calls - spent.tool_calls))
