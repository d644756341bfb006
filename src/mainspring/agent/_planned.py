"""`Agent.run` with planning: plan the task, run the plan, and report it as one `RunResult`."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from mainspring.agent.budget import Budget
from mainspring.agent.events import RunResult
from mainspring.messages import Usage

if TYPE_CHECKING:
    from mainspring.agent.agent import Agent


async def run_planned(agent: Agent, task: str, *, budget: Budget | None, auto: bool) -> RunResult:
    """Plan (if the task needs it, when `auto`) and run; otherwise a direct run."""
    from mainspring.planning import PlanExecutor, Planner

    planner = Planner(agent.model)
    spent = Usage()
    if auto:
        needed, spent = await planner.needs_plan(task)
        if not needed:
            direct = await agent.run(task, budget=budget, planning="never")
            return _with_usage(direct, spent)
    result = await PlanExecutor(agent, planner, budget=budget).run(task)
    steps = result.steps.values()
    return RunResult(
        result.output,
        stop_reason=result.stop_reason,
        run_id=result.run_id,
        steps=len(result.steps),
        tool_calls=sum(s.tool_calls for s in steps),
        usage=result.usage + spent,
        error=result.error,
    )


def _with_usage(result: RunResult, extra: Usage) -> RunResult:
    return replace(result, usage=result.usage + extra)
