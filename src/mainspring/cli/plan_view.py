"""`mainspring run --plan`: the plan as a tree, each step's progress shown as it happens."""

from __future__ import annotations

from rich.console import Console
from rich.live import Live
from rich.tree import Tree

from mainspring.agent import Agent, RunResult
from mainspring.cli.run_view import RunView
from mainspring.planning import (
    Plan,
    PlanCreated,
    PlanExecutor,
    PlanFinished,
    StepFinished,
    StepStarted,
    as_run_result,
)

_MARKS = {"pending": "[ ]", "running": "[~]", "ok": "[x]", "failed": "[!]"}
"""Plain-text marks (no emoji): the view also goes to logs and non-UTF-8 terminals."""


def plan_tree(plan: Plan, status: dict[str, str], notes: dict[str, str]) -> Tree:
    """Steps under the task, each under the last step it depends on (roots under the task)."""
    root = Tree(f"plan (revision {plan.revision}): {plan.task}")
    nodes: dict[str, Tree] = {}
    for step in plan.steps:
        parent = nodes.get(step.depends_on[-1]) if step.depends_on else None
        label = f"{_MARKS[status.get(step.id, 'pending')]} {step.id}: {step.description}"
        if step.depends_on:
            label += f"  (after {', '.join(step.depends_on)})"
        if step.id in notes:
            label += f"  -> {notes[step.id][:80]}"
        nodes[step.id] = (parent or root).add(label)
    return root


class _Progress:
    """What the view knows: the current plan and each step's status and output."""

    def __init__(self, console: Console, live: Live | None) -> None:
        self.console = console
        self.live = live
        self.plan: Plan | None = None
        self.status: dict[str, str] = {}
        self.notes: dict[str, str] = {}

    def line(self, text: str) -> None:
        if self.live is None:
            self.console.print(text, markup=False, highlight=False, soft_wrap=True)

    def apply(self, event: PlanCreated | StepStarted | StepFinished) -> None:
        if isinstance(event, PlanCreated):
            self.plan = event.plan
            if self.live is None:
                self.console.print(plan_tree(event.plan, self.status, self.notes))
        elif isinstance(event, StepStarted):
            self.status[event.step.id] = "running"
            self.line(f"step {event.step.id} started ({event.run_id})")
        else:
            r = event.result
            self.status[r.step.id] = "ok" if r.ok else "failed"
            self.notes[r.step.id] = r.output if r.ok else r.stop_reason
            self.line(f"step {r.step.id}: {self.status[r.step.id]}: {self.notes[r.step.id][:200]}")
        if self.live is not None and self.plan is not None:
            self.live.update(plan_tree(self.plan, self.status, self.notes), refresh=True)


async def run_planned(
    agent: Agent, task: str, console: Console, *, seen: RunView | None = None
) -> RunResult:
    """Plan and run the task, drawing the tree live on a terminal, as lines otherwise.

    `seen` learns the plan's run id and its step runs as they start (for Ctrl-C).
    """
    live = Live(console=console, auto_refresh=False) if console.is_terminal else None
    progress = _Progress(console, live)
    if live is not None:
        live.start()
    try:
        async for event in PlanExecutor(agent).run_stream(task):
            if isinstance(event, PlanFinished):
                return as_run_result(event.result)
            if isinstance(event, StepStarted) and seen is not None:
                # Step runs are named "<plan run>.<revision>.<step>" (PlanExecutor).
                seen.run_id = event.run_id.rsplit(".", 2)[0]
                seen.sub_runs.append(event.run_id)
            progress.apply(event)
    finally:
        if live is not None:
            live.stop()
        await agent.aclose()
    raise AssertionError("a plan run ended without PlanFinished")  # pragma: no cover
