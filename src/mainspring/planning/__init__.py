"""Planning: decompose a task into a DAG of steps and run independent steps concurrently."""

from mainspring.planning.executor import (
    PlanCreated,
    PlanEvent,
    PlanExecutor,
    PlanFinished,
    PlanResult,
    StepFinished,
    StepResult,
    StepStarted,
)
from mainspring.planning.plan import PLAN_SCHEMA, Plan, Step, parse_plan, validate_steps
from mainspring.planning.planner import Planner, PlanningOutcome
from mainspring.planning.run import Planning, as_run_result, resume_planned, run_planned

__all__ = [
    "PLAN_SCHEMA",
    "Plan",
    "PlanCreated",
    "PlanEvent",
    "PlanExecutor",
    "PlanFinished",
    "PlanResult",
    "Planner",
    "Planning",
    "PlanningOutcome",
    "Step",
    "StepFinished",
    "StepResult",
    "StepStarted",
    "as_run_result",
    "parse_plan",
    "resume_planned",
    "run_planned",
    "validate_steps",
]
