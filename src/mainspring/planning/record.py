"""Plan runs in the run store: the parent record keeps the plans, each step is a sub-run.

The parent run (`plan_...`, `RunInfo.kind == "plan"`) stores every plan revision and the replan
count; each step runs as its own recorded run `<plan id>.<revision>.<step id>`. So a plan whose
process died can be resumed: finished steps are read back, unfinished ones are resumed (their
own recorded model and tool calls are not repeated), and the plan carries on.
"""

from __future__ import annotations

from dataclasses import asdict, replace
from typing import Any

from mainspring.agent.agent import Agent
from mainspring.agent.budget import Budget
from mainspring.agent.events import RunResult
from mainspring.clock import utc_now
from mainspring.errors import ConfigurationError, RunNotFoundError
from mainspring.planning.plan import Plan, validate_steps
from mainspring.runs.base import RunInfo, RunRecord, RunStore


def plans_to_json(plans: list[Plan]) -> list[dict[str, Any]]:
    """Plans as plain data for the parent record."""
    return [{"revision": p.revision, "steps": [asdict(s) for s in p.steps]} for p in plans]


def plans_from_json(task: str, data: list[dict[str, Any]]) -> list[Plan]:
    """Plans back from the parent record, validated as when they were made."""
    plans: list[Plan] = []
    for item in data:
        known = [s.id for p in plans for s in p.steps]
        steps = [{**s, "depends_on": list(s["depends_on"])} for s in item["steps"]]
        plans.append(validate_steps(task, steps, revision=item["revision"], known=known))
    return plans


def plan_record(record: RunRecord) -> list[Plan]:
    """The plans of a recorded plan run; `ConfigurationError` for an ordinary run."""
    settings = record.info.settings
    if record.info.kind != "plan":
        raise ConfigurationError(
            f"run {record.info.run_id!r} is not a plan run; resume it with Agent.resume"
        )
    return plans_from_json(record.info.task, settings["plans"])


class PlanRecorder:
    """Writes the parent record (when the agent has a run store) and runs or resumes steps."""

    def __init__(self, store: RunStore | None, info: RunInfo, *, resuming: bool = False) -> None:
        self.store = store
        self.info = info
        self.resuming = resuming
        """Only a resumed plan can find step records already stored."""

    async def save(
        self, plans: list[Plan], replans: int, *, new: bool = False, **changes: Any
    ) -> None:
        """Store the plans and totals (creating the parent record the first time)."""
        settings = {
            **self.info.settings,
            "plans": plans_to_json(plans),
            "replans": replans,
        }
        self.info = replace(
            self.info, settings=settings, kind="plan", updated_at=utc_now(), **changes
        )
        if self.store is None:
            return
        if new:
            await self.store.create(self.info)
        else:
            await self.store.update(self.info)

    async def run_step(self, agent: Agent, run_id: str, prompt: str, budget: Budget) -> RunResult:
        """A step's sub-run: resumed from its record if it has one, else started."""
        if self.store is not None and self.resuming:
            try:
                await self.store.load(run_id)
            except RunNotFoundError:
                pass
            else:
                return await agent.resume(run_id)
        return await agent.run(prompt, run_id=run_id, budget=budget)
