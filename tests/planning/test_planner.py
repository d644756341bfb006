import json

import anyio
import pytest

from mainspring.agent import Agent, Budget
from mainspring.errors import PlanError
from mainspring.messages import ModelResponse
from mainspring.planning import Planner, run_planned
from mainspring.planning.executor import (
    PlanCreated,
    PlanExecutor,
    PlanFinished,
    StepFinished,
    StepStarted,
)
from mainspring.testing import FunctionModel, ScriptedModel, text, tool_calls
from mainspring.testing.models import ModelRequest
from mainspring.tools import tool


def plan_json(*steps: tuple[str, list[str]]) -> str:
    return json.dumps(
        {"steps": [{"id": i, "description": f"do {i}", "depends_on": d} for i, d in steps]}
    )


async def test_invalid_plans_are_fed_back_until_valid() -> None:
    script = ["Sure! Here is my plan:", plan_json(("a", ["b"]), ("b", ["a"])), plan_json(("a", []))]
    with ScriptedModel(script) as model:
        outcome = await Planner(model).plan("task")
    assert outcome.attempts == 3 and [s.id for s in outcome.plan.steps] == ["a"]
    assert "not valid JSON" in model.requests[1].messages[-1].content
    assert "cycle" in model.requests[2].messages[-1].content
    assert outcome.usage.input_tokens > 0


async def test_planning_gives_up_after_max_attempts() -> None:
    with pytest.raises(PlanError, match="no valid plan after 2 attempts"):
        await Planner(ScriptedModel(["{}", "[]"]), max_attempts=2).plan("task")


@tool
def lookup(name: str) -> str:
    """Look a value up."""
    return f"value-of-{name}"


def role(request: ModelRequest) -> str:
    first = request.messages[0].content
    if first.startswith("You break a task"):
        return "planner"
    if first.startswith("Write the final answer"):
        return "synthesis"
    return "step"


def step_id(request: ModelRequest) -> str:
    return request.messages[-1 if request.messages[-1].role == "user" else 0].content


class Fleet:
    """Plays planner, step worker and synthesiser, and measures how many steps run at once."""

    def __init__(
        self, plans: list[str], fail: frozenset[str] = frozenset(), expect: int = 1
    ) -> None:
        self.plans = plans
        self.expect = expect
        self.all_in = anyio.Event()
        self.fail = fail
        self.running = 0
        self.peak = 0
        self.step_prompts: dict[str, str] = {}

    async def __call__(self, request: ModelRequest) -> ModelResponse:
        kind = role(request)
        if kind == "planner":
            return text(self.plans.pop(0))
        if kind == "synthesis":
            return text("final: " + request.messages[-1].content.split("Step results:\n")[1])
        prompt = next(m.content for m in request.messages if m.role == "user")
        sid = prompt.split("Your step (")[1].split(")")[0]
        self.step_prompts[sid] = prompt
        if sid in self.fail:
            return tool_calls(("lookup", {"name": sid}))  # never answers: hits max_iterations
        if request.messages[-1].role == "tool":
            return text(f"{sid} done with {request.messages[-1].content}")
        self.running += 1
        self.peak = max(self.peak, self.running)
        if self.running >= self.expect:
            self.all_in.set()
        with anyio.move_on_after(1.0):  # wait (bounded) for siblings to show up concurrently
            await self.all_in.wait()
        self.running -= 1
        return tool_calls(("lookup", {"name": sid}))


async def test_independent_steps_run_concurrently_and_feed_dependants() -> None:
    fleet = Fleet([plan_json(("a", []), ("b", []), ("c", []), ("d", ["a", "b"]))], expect=3)
    agent = Agent(FunctionModel(fleet), [lookup], budget=Budget(max_iterations=4))
    events = [e async for e in PlanExecutor(agent).run_stream("combine things")]
    assert fleet.peak == 3
    assert "Result of step a: a done with value-of-a" in fleet.step_prompts["d"]
    assert "Result of step b:" in fleet.step_prompts["d"]
    assert "Result of step" not in fleet.step_prompts["a"]
    finished = events[-1]
    assert isinstance(finished, PlanFinished) and finished.result.ok
    assert finished.result.output.startswith("final: - a: a done with value-of-a")
    assert set(finished.result.steps) == {"a", "b", "c", "d"}
    assert sum(isinstance(e, StepStarted) for e in events) == 4
    assert isinstance(events[0], PlanCreated)
    steps_usage = sum(r.usage.total_tokens for r in finished.result.steps.values())
    assert finished.result.usage.total_tokens > steps_usage  # planning + synthesis counted too


async def test_a_failed_step_triggers_a_replan_of_the_remaining_work() -> None:
    first = plan_json(("a", []), ("b", ["a"]))
    second = json.dumps(
        {"steps": [{"id": "b2", "description": "try b again", "depends_on": ["a"]}]}
    )
    fleet = Fleet([first, second], fail=frozenset({"b"}))
    agent = Agent(FunctionModel(fleet), [lookup], budget=Budget(max_iterations=3))
    events = [e async for e in PlanExecutor(agent).run_stream("task")]
    last = events[-1]
    assert isinstance(last, PlanFinished)
    result = last.result
    assert result.ok and [p.revision for p in result.plans] == [0, 1]
    assert result.steps["b"].stop_reason == "max_iterations" and result.steps["b2"].ok
    assert "Result of step a:" in fleet.step_prompts["b2"]
    failed = [e.result.step.id for e in events if isinstance(e, StepFinished) and not e.result.ok]
    assert failed == ["b"]


async def test_replans_are_bounded() -> None:
    plans = [plan_json(("a", []))] + [plan_json((f"a{i}", [])) for i in range(3)]
    fleet = Fleet(plans, fail=frozenset({"a", "a0", "a1", "a2"}))
    agent = Agent(FunctionModel(fleet), [lookup], budget=Budget(max_iterations=2))
    result = await PlanExecutor(agent, max_replans=1).run("task")
    assert result.stop_reason == "error" and "no replans are left" in (result.error or "")
    assert len(result.plans) == 2


async def test_the_whole_plan_shares_one_budget() -> None:
    fleet = Fleet([plan_json(*[(f"s{i}", []) for i in range(6)])])
    agent = Agent(FunctionModel(fleet), [lookup], budget=Budget(max_iterations=4))
    cap = 1000
    result = await PlanExecutor(agent, budget=Budget(max_iterations=4, max_tokens=cap)).run("t")
    assert not result.ok
    # Each running step only gets a share of what is left, so together they stay near the cap
    # (a model's reply can overshoot by its own output tokens).
    assert result.usage.total_tokens <= cap + 200


async def test_agent_planning_modes() -> None:
    always = Fleet([plan_json(("a", []), ("b", []))])
    result = await run_planned(Agent(FunctionModel(always), [lookup]), "two things")
    assert result.ok and result.steps == 2 and result.run_id.startswith("plan_")
    assert result.output.startswith("final: - a: a done")

    def direct_only(request: ModelRequest) -> ModelResponse:
        if request.messages[0].content.startswith("Decide whether"):
            return text("direct")
        return text("just answered")

    model = FunctionModel(direct_only)
    direct = await run_planned(Agent(model, [lookup]), "say hi", planning="auto")
    assert direct.output == "just answered" and len(model.requests) == 2

    def wants_plan(request: ModelRequest) -> ModelResponse:
        if request.messages[0].content.startswith("Decide whether"):
            return text("plan")
        return text(plan_json(("x", [])) if role(request) == "planner" else "x result")

    agent = Agent(FunctionModel(wants_plan), [lookup])
    planned = await run_planned(agent, "big job", planning="auto")
    assert planned.run_id.startswith("plan_") and planned.ok
    with pytest.raises(Exception, match="planning must be"):
        await run_planned(agent, "x", planning="sometimes")  # type: ignore[arg-type]
