"""A plan: steps with dependencies, validated as a DAG before anything runs.

The model writes the plan as JSON constrained by `PLAN_SCHEMA`; `parse_plan` turns that text into
a `Plan` or raises `PlanError` whose message lists every problem (unknown dependencies, cycles,
duplicate ids, an empty plan) in words fed back to the model for another attempt.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from mainspring.errors import PlanError

MAX_STEPS = 20


def plan_schema(max_steps: int = MAX_STEPS) -> dict[str, Any]:
    """JSON Schema of a plan of at most `max_steps` steps (structured output or a grammar)."""
    return {
        "type": "object",
        "properties": {
            "steps": {
                "type": "array",
                "minItems": 1,
                "maxItems": max_steps,
                "items": {
                    "type": "object",
                    "properties": {
                        "id": {
                            "type": "string",
                            "description": "short unique id, e.g. s1",
                            "maxLength": 16,
                        },
                        "description": {
                            "type": "string",
                            "description": "what this step does",
                            "maxLength": 200,
                        },
                        "tool": {
                            "type": ["string", "null"],
                            "description": "the tool this step will most likely use, if any",
                        },
                        "depends_on": {
                            "type": "array",
                            "items": {"type": "string", "maxLength": 16},
                            "maxItems": max_steps,
                            "description": "ids of earlier steps whose results this step needs",
                        },
                        "expected_output": {"type": "string", "maxLength": 200},
                    },
                    "required": ["id", "description", "depends_on"],
                    "additionalProperties": False,
                },
            }
        },
        "required": ["steps"],
        "additionalProperties": False,
    }


PLAN_SCHEMA = plan_schema()
"""JSON Schema of a plan, for native structured output or a llama.cpp grammar."""


@dataclass(frozen=True, slots=True)
class Step:
    """One unit of work, run as a sub-run of the agent loop."""

    id: str
    description: str
    depends_on: tuple[str, ...] = ()
    tool: str | None = None
    expected_output: str = ""


@dataclass(frozen=True, slots=True)
class Plan:
    """Steps in a valid DAG order (every dependency before its dependants)."""

    task: str
    steps: tuple[Step, ...]
    revision: int = 0
    """0 for the first plan, +1 per replan."""
    by_id: dict[str, Step] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_id", {s.id: s for s in self.steps})

    def ready(self, done: Iterable[str], running: Iterable[str] = ()) -> list[Step]:
        """Steps not done or running whose dependencies are all done."""
        finished = set(done)
        busy = set(running)
        return [
            s
            for s in self.steps
            if s.id not in finished and s.id not in busy and set(s.depends_on) <= finished
        ]

    def dependants(self, step_id: str) -> set[str]:
        """Every step that needs `step_id`, directly or transitively."""
        found: set[str] = set()
        frontier = {step_id}
        while frontier:
            frontier = {s.id for s in self.steps if set(s.depends_on) & frontier} - found
            found |= frontier
        return found

    def critical_path(self) -> int:
        """Length, in steps, of the longest dependency chain."""
        depth: dict[str, int] = {}
        for s in self.steps:
            depth[s.id] = 1 + max((depth.get(d, 0) for d in s.depends_on), default=0)
        return max(depth.values(), default=0)


def validate_steps(
    task: str, raw_steps: Any, *, revision: int = 0, known: Iterable[str] = ()
) -> Plan:
    """Check raw steps as a DAG; `PlanError` lists every problem found.

    `known` are ids of steps completed under an earlier plan: new steps may depend on them.
    """
    if not isinstance(raw_steps, list) or not raw_steps:
        raise PlanError("the plan has no steps: give at least one step")
    problems: list[str] = []
    steps: list[Step] = []
    seen: set[str] = set()
    for position, raw in enumerate(raw_steps, 1):
        step = _step(raw, position, problems)
        if step is None:
            continue
        if step.id in seen:
            problems.append(f"step id {step.id!r} is used twice: ids must be unique")
        seen.add(step.id)
        steps.append(step)
    if len(steps) > MAX_STEPS:
        problems.append(f"the plan has {len(steps)} steps; use at most {MAX_STEPS}")
    finished = set(known)
    problems += [
        f"step id {s.id!r} was already completed: choose a new id"
        for s in steps
        if s.id in finished
    ]
    problems += _dependency_problems(steps, seen | finished)
    if not problems:
        ordered, cycle = _topological(steps, finished)
        if cycle:
            problems.append(f"the dependencies form a cycle through steps {sorted(cycle)}")
        else:
            return Plan(task, tuple(ordered), revision)
    raise PlanError("invalid plan: " + "; ".join(problems))


def _dependency_problems(steps: list[Step], ids: set[str]) -> list[str]:
    problems = []
    for step in steps:
        for dep in step.depends_on:
            if dep == step.id:
                problems.append(f"step {step.id!r} depends on itself")
            elif dep not in ids:
                problems.append(f"step {step.id!r} depends on unknown step {dep!r}")
    return problems


def _step(raw: Any, position: int, problems: list[str]) -> Step | None:
    if not isinstance(raw, Mapping):
        problems.append(f"step #{position} is not an object")
        return None
    step_id, description = raw.get("id"), raw.get("description")
    depends = raw.get("depends_on", [])
    if not isinstance(step_id, str) or not step_id.strip():
        problems.append(f"step #{position} needs a non-empty string 'id'")
        return None
    if not isinstance(description, str) or not description.strip():
        problems.append(f"step {step_id!r} needs a non-empty 'description'")
        return None
    if not isinstance(depends, list) or not all(isinstance(d, str) for d in depends):
        problems.append(f"step {step_id!r}: 'depends_on' must be a list of step ids")
        return None
    tool = raw.get("tool")
    return Step(
        step_id.strip(),
        description.strip(),
        tuple(dict.fromkeys(d.strip() for d in depends)),
        tool if isinstance(tool, str) and tool else None,
        str(raw.get("expected_output") or ""),
    )


def _topological(steps: list[Step], finished: set[str]) -> tuple[list[Step], set[str]]:
    """Kahn's algorithm, stable in the model's order; the leftover ids form a cycle."""
    pending = {s.id: set(s.depends_on) - finished for s in steps}
    ordered: list[Step] = []
    while True:
        ready = [s for s in steps if s.id in pending and not pending[s.id]]
        if not ready:
            break
        for s in ready:
            ordered.append(s)
            del pending[s.id]
        for deps in pending.values():
            deps.difference_update(s.id for s in ready)
    return ordered, set(pending)


def parse_plan(task: str, text: str, *, revision: int = 0, known: Iterable[str] = ()) -> Plan:
    """Read a plan from model output: a JSON object (or a bare list) of steps."""
    cleaned = text.strip()
    if cleaned.startswith("```"):
        cleaned = cleaned.strip("`").removeprefix("json").strip()
    try:
        data = json.loads(cleaned)
    except json.JSONDecodeError as exc:
        raise PlanError(
            f"the plan is not valid JSON ({exc.msg} at position {exc.pos}); "
            'answer with {"steps": [{"id": ..., "description": ..., "depends_on": [...]}]}'
        ) from None
    steps = data.get("steps") if isinstance(data, dict) else data
    return validate_steps(task, steps, revision=revision, known=known)
