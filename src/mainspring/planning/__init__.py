"""Planning: decompose a task into a DAG of steps and run independent steps concurrently."""

from mainspring.planning.plan import PLAN_SCHEMA, Plan, Step, parse_plan, validate_steps

__all__ = ["PLAN_SCHEMA", "Plan", "Step", "parse_plan", "validate_steps"]
