"""`Planner`: the model writes a plan as schema-shaped JSON; invalid plans go back to it to fix.

Every attempt's problems (not JSON, unknown dependencies, cycles, duplicate ids, no steps) are
fed back verbatim for the next attempt, up to `max_attempts`. The same mechanism replans: the
model sees what was done, what failed and why, and plans only the remaining work.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from mainspring.errors import PlanError
from mainspring.messages import Message, Usage
from mainspring.models.base import Model, ModelSettings, ToolDefinition
from mainspring.planning.plan import Plan, parse_plan, plan_schema

PLANNER_PROMPT = """You break a task into a short plan of steps for an assistant that has tools.
Each step is one concrete piece of work. Steps that do not need each other's results must not
depend on each other, so they can run at the same time. Use as few steps as the task needs
(at most {max_steps}); a simple task is one step.

Tools the assistant can use:
{tools}

Answer with JSON only, matching this schema:
{schema}

Example for "Find the prices of apples and pears and add them":
{{"steps": [{{"id": "s1", "description": "find the price of apples", "depends_on": []}},
{{"id": "s2", "description": "find the price of pears", "depends_on": []}},
{{"id": "s3", "description": "add the two prices", "depends_on": ["s1", "s2"]}}]}}"""

REPLAN_NOTE = """The plan so far did not finish. Completed steps and their results:
{done}

Step {failed!r} failed: {reason}

Plan only the REMAINING work as new steps. A new step may depend on completed step ids (listed
above) as well as on other new steps. Do not repeat completed steps."""

NEEDS_PLAN_PROMPT = """Decide whether this task needs a multi-step plan (several separate pieces
of work, possibly in parallel) or can be done directly. Answer with one word: plan or direct."""


@dataclass(frozen=True, slots=True)
class PlanningOutcome:
    """A plan and what producing it cost."""

    plan: Plan
    usage: Usage
    attempts: int


def _tool_lines(tools: Sequence[ToolDefinition]) -> str:
    return "\n".join(f"- {t.name}: {t.description.splitlines()[0]}" for t in tools) or "(none)"


class Planner:
    """Turns a task into a validated `Plan` with a model."""

    def __init__(
        self,
        model: Model,
        *,
        max_attempts: int = 3,
        max_steps: int = 8,
        settings: ModelSettings | None = None,
    ) -> None:
        self.model = model
        self.max_attempts = max_attempts
        self.max_steps = max_steps
        self.schema = plan_schema(max_steps)
        self.settings = ModelSettings(
            temperature=0.0, max_tokens=700, response_schema=self.schema
        ).merge(settings)

    def _system(self, tools: Sequence[ToolDefinition]) -> Message:
        schema = json.dumps(self.schema, separators=(",", ":"))
        text = PLANNER_PROMPT.format(
            max_steps=self.max_steps, tools=_tool_lines(tools), schema=schema
        )
        return Message("system", text)

    async def plan(
        self,
        task: str,
        tools: Sequence[ToolDefinition] = (),
        *,
        note: str | None = None,
        revision: int = 0,
        known_ids: Sequence[str] = (),
    ) -> PlanningOutcome:
        """Ask for a plan until it validates; `PlanError` after `max_attempts` failures."""
        content = f"Task: {task}" + (f"\n\n{note}" if note else "")
        messages = [self._system(tools), Message("user", content)]
        usage = Usage()
        problem = "no attempt made"
        for attempt in range(1, self.max_attempts + 1):
            response = await self.model.request(messages, (), self.settings)
            usage = usage + response.usage
            text = response.message.content
            try:
                plan = parse_plan(task, text, revision=revision, known=known_ids)
                if len(plan.steps) > self.max_steps:
                    raise PlanError(
                        f"the plan has {len(plan.steps)} steps; use at most {self.max_steps}"
                    )
            except PlanError as exc:
                problem = str(exc)
                # Only the problems go back, not the rejected plan: a degenerate plan from a
                # small model can fill its whole context window.
                retry = (
                    f"Your previous answer was rejected: {problem}. Answer again with a valid plan."
                )
                messages = [*messages[:2], Message("user", retry)]
                continue
            return PlanningOutcome(plan, usage, attempt)
        raise PlanError(
            f"no valid plan after {self.max_attempts} attempts; last problem: {problem}"
        )

    async def replan(
        self,
        plan: Plan,
        done: Mapping[str, str],
        failed: str,
        reason: str,
        tools: Sequence[ToolDefinition] = (),
    ) -> PlanningOutcome:
        """A new plan for the remaining work, knowing what is done and what failed."""
        finished = "\n".join(f"- {sid}: {out}" for sid, out in done.items()) or "(none)"
        note = REPLAN_NOTE.format(done=finished, failed=failed, reason=reason)
        return await self.plan(
            plan.task, tools, note=note, revision=plan.revision + 1, known_ids=list(done)
        )

    async def needs_plan(self, task: str) -> tuple[bool, Usage]:
        """One cheap call: does the task need a plan? Anything but a clear 'plan' means no."""
        messages = [Message("system", NEEDS_PLAN_PROMPT), Message("user", f"Task: {task}")]
        settings = ModelSettings(max_tokens=3, temperature=0.0)
        response = await self.model.request(messages, (), settings)
        answer = response.message.content.strip().lower()
        return answer.startswith("plan"), response.usage
