"""A task planned and run as one `RunResult`: what `Agent.run` returns, with planning first.

Planning drives the agent through its public surface (`run`, `tool_definitions`, `model`,
`run_store`); the agent knows nothing of plans.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Literal

from mainspring.agent.agent import Agent
from mainspring.agent.budget import Budget
from mainspring.agent.events import RunResult
from mainspring.errors import ConfigurationError
from mainspring.messages import Usage
from mainspring.planning.executor import PlanExecutor, PlanResult
from mainspring.planning.planner import Planner

Planning = Literal["always", "auto"]
"""Plan every task, or only when one cheap model call says the task needs a plan."""


async def run_planned(
    agent: Agent, task: str, *, planning: Planning = "always", budget: Budget | None = None
) -> RunResult:
    """Plan the task (with "auto": only if it needs a plan, else a direct run) and run it."""
    if planning not in ("always", "auto"):
        raise ConfigurationError(f"planning must be 'always' or 'auto', got {planning!r}")
    planner = Planner(agent.model)
    spent = Usage()
    if planning == "auto":
        needed, spent = await planner.needs_plan(task)
        if not needed:
            direct = await agent.run(task, budget=budget)
            return replace(direct, usage=direct.usage + spent)
    result = await PlanExecutor(agent, planner, budget=budget).run(task)
    planned = as_run_result(result)
    return replace(planned, usage=planned.usage + spent)


async def resume_planned(agent: Agent, run_id: str) -> RunResult:
    """Continue a recorded plan run (see `PlanExecutor.resume`) as one `RunResult`."""
    return as_run_result(await PlanExecutor(agent).resume(run_id))


def as_run_result(result: PlanResult) -> RunResult:
    """A plan's outcome as one run's result."""
    return RunResult(
        result.output,
        stop_reason=result.stop_reason,
        run_id=result.run_id,
        steps=len(result.steps),
        tool_calls=sum(s.tool_calls for s in result.steps.values()),
        usage=result.usage,
        error=result.error,
    )
