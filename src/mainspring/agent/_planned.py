"""`Agent.run` with planning: plan the task, run the plan, and report it as one `RunResult`."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from mainspring.agent.budget import Budget
from mainspring.agent.events import RunResult
from mainspring.messages import Usage

if TYPE_CHECKING:
    from mainspring.agent.agent import Agent
    from mainspring.planning import PlanResult


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
    return _with_usage(as_run_result(result), spent)


async def resume_planned(agent: Agent, run_id: str) -> RunResult:
    """Continue a recorded plan run (see `PlanExecutor.resume`)."""
    from mainspring.planning import PlanExecutor

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


def _with_usage(result: RunResult, extra: Usage) -> RunResult:
    return replace(result, usage=result.usage + extra)
