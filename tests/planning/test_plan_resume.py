import json
from pathlib import Path

import pytest

from mainspring.agent import Agent, Budget
from mainspring.errors import ConfigurationError
from mainspring.messages import ModelResponse
from mainspring.planning import PlanExecutor, resume_planned
from mainspring.runs import SqliteRunStore
from mainspring.testing import FunctionModel, ScriptedModel, text, tool_calls
from mainspring.testing.models import ModelRequest
from mainspring.tools import tool

PLAN = json.dumps(
    {
        "steps": [
            {"id": "a", "description": "do a", "depends_on": []},
            {"id": "b", "description": "do b", "depends_on": []},
            {"id": "c", "description": "do c", "depends_on": ["a", "b"]},
        ]
    }
)
executed: list[str] = []


@tool
def work(step: str) -> str:
    """Do a step's work (counted)."""
    executed.append(step)
    return f"{step}-done"


class Crash(BaseException):
    """Stands in for the process dying: nothing in mainspring catches it."""


def worker(crash_on: str | None) -> FunctionModel:
    def reply(request: ModelRequest) -> ModelResponse:
        first = request.messages[0].content
        if first.startswith("You break a task"):
            return text(PLAN)
        if first.startswith("Write the final answer"):
            return text("all done")
        prompt = next(m.content for m in request.messages if m.role == "user")
        step = prompt.split("Your step (")[1].split(")")[0]
        if step == crash_on:
            raise Crash
        if request.messages[-1].role == "tool":
            return text(request.messages[-1].content)
        return tool_calls(("work", {"step": step}))

    return FunctionModel(reply)


async def test_a_crashed_plan_resumes_without_repeating_finished_steps(tmp_path: Path) -> None:
    store = SqliteRunStore(tmp_path / "runs.db")
    executed.clear()
    first = Agent(worker(crash_on="c"), [work], run_store=store, budget=Budget(max_iterations=3))
    with pytest.raises(BaseExceptionGroup) as crashed:  # the step's task group wraps it
        await PlanExecutor(first).run("do a, b, then c")
    assert crashed.group_contains(Crash)
    assert sorted(executed) == ["a", "b"]
    plan_id = next(r.run_id for r in await store.list() if r.run_id.count(".") == 0)
    model = worker(crash_on=None)
    second = Agent(model, [work], run_store=store, budget=Budget(max_iterations=3))
    result = await resume_planned(second, plan_id)
    assert result.output == "all done" and result.stop_reason == "final_answer"
    assert sorted(executed) == ["a", "b", "c"]  # a and b were not run again
    prompts = [r.messages[-1].content for r in model.requests]
    assert not any("Your step (a)" in p for p in prompts)
    info = (await store.load(plan_id)).info
    assert info.status == "completed" and info.output == "all done"
    calls_before = len(model.requests)
    again = await resume_planned(second, plan_id)
    assert again.output == "all done"
    assert len(model.requests) == calls_before and sorted(executed) == ["a", "b", "c"]
    assert info.kind == "plan"
    with pytest.raises(ConfigurationError, match="is a plan run"):  # the agent knows no plans
        await second.resume(plan_id)


async def test_only_plan_runs_resume_as_plans(tmp_path: Path) -> None:
    store = SqliteRunStore(tmp_path / "runs.db")
    agent = Agent(ScriptedModel([text("hi")]), run_store=store)
    await agent.run("hello", run_id="plain")
    with pytest.raises(ConfigurationError, match="not a plan run"):
        await PlanExecutor(agent).resume("plain")
