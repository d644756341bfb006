"""Request bodies of the API: strict pydantic models (an unknown field is a 422, not ignored)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BudgetRequest(_Strict):
    """`Budget`'s fields; each may only lower the server's limits."""

    max_iterations: int | None = Field(default=None, ge=1)
    max_tokens: int | None = Field(default=None, ge=1)
    max_cost_usd: float | None = Field(default=None, gt=0)
    max_seconds: float | None = Field(default=None, gt=0)
    max_tool_calls: int | None = Field(default=None, ge=1)


class RunRequest(_Strict):
    """`POST /v1/runs`."""

    task: str = Field(min_length=1)
    model: str | None = None
    tools: list[str] | None = Field(default=None, max_length=256)
    """Tool names; default: every tool the key may use."""
    budget: BudgetRequest | None = None
    instructions: str | None = Field(default=None, max_length=20_000)


class DecisionRequest(_Strict):
    """`POST /v1/approvals/{id}`."""

    decision: Literal["approve", "deny"]
    reason: str | None = Field(default=None, max_length=2000)
