"""`PlanExecutor`: run a plan's ready steps concurrently through the agent loop, replan on failure.

Each step is a sub-run of the agent (recorded in the agent's run store like any run) with the
results of its dependencies in its prompt. All steps draw on one shared budget: a starting step
gets an even share of what is neither spent nor reserved by running steps, so concurrent steps
can never overspend the plan together. A failed step triggers a replan of the remaining work (at
most `max_replans` times); a final model call writes the answer from the step results.
"""

from __future__ import annotations

import asyncio
import copy
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field, replace

from mainspring.agent.agent import Agent
from mainspring.agent.budget import Budget, Spent, check_before_model_call
from mainspring.agent.events import RunResult
from mainspring.clock import Clock
from mainspring.errors import ConfigurationError, ModelError, PlanError, RunNotFoundError
from mainspring.hooks import RunScope, RunSpan
from mainspring.messages import Message, StopReason, Usage
from mainspring.models.base import cost_of, count_prompt_tokens
from mainspring.planning.plan import Plan, Step
from mainspring.planning.planner import Planner
from mainspring.planning.record import PlanRecorder, plan_record
from mainspring.runs.base import RunInfo, RunStore

_BUDGET_STOPS = frozenset({"max_tokens", "max_cost", "max_seconds", "max_tool_calls"})

STEP_PROMPT = """Overall task: {task}

Your step ({id}): {description}{expected}
{inputs}
Do this step only, using tools if they help, and answer with its result."""

SYNTHESIS_RESULT_TOKENS = 1000
"""Tokens of step results the synthesis prompt may hold in all."""

SYNTHESIS_PROMPT = """Write the final answer to the task from the results of its steps. Be brief
and use the results exactly as given."""


@dataclass(frozen=True, slots=True)
class StepResult:
    """How one step ended."""

    step: Step
    output: str
    stop_reason: StopReason
    run_id: str
    usage: Usage
    tool_calls: int

    @property
    def ok(self) -> bool:
        """True when the step produced an answer."""
        return self.stop_reason == "final_answer"


@dataclass(frozen=True, slots=True)
class PlanResult:
    """The outcome of a whole plan."""

    output: str
    stop_reason: StopReason
    run_id: str
    plans: tuple[Plan, ...]
    steps: dict[str, StepResult]
    usage: Usage
    error: str | None = None

    @property
    def ok(self) -> bool:
        """True when the plan ended with a final answer."""
        return self.stop_reason == "final_answer"


@dataclass(frozen=True, slots=True)
class PlanCreated:
    """A plan (or a revised plan after a failure) is ready to run."""

    plan: Plan


@dataclass(frozen=True, slots=True)
class StepStarted:
    """A step's sub-run began."""

    step: Step
    run_id: str


@dataclass(frozen=True, slots=True)
class StepFinished:
    """A step's sub-run ended."""

    result: StepResult


@dataclass(frozen=True, slots=True)
class PlanFinished:
    """Always the last event."""

    result: PlanResult


PlanEvent = PlanCreated | StepStarted | StepFinished | PlanFinished


@dataclass
class _Ledger:
    """The shared budget: what is spent, and what running steps hold in reserve."""

    budget: Budget
    started: float
    usage: Usage = field(default_factory=Usage)
    tool_calls: int = 0
    reserved_tokens: int = 0
    reserved_cost: float = 0.0
    reserved_calls: int = 0

    def share(self, ways: int, now: float, per_step: Budget) -> Budget:
        """An even share of what is left, for one of `ways` steps starting together."""
        b = self.budget
        tokens: int | None = None
        calls: int | None = None
        cost: float | None = None
        seconds: float | None = None
        if b.max_tokens is not None:
            tokens = (b.max_tokens - self.usage.total_tokens - self.reserved_tokens) // ways
        if b.max_cost_usd is not None:
            cost = (b.max_cost_usd - self.usage.cost_usd - self.reserved_cost) / ways
        if b.max_tool_calls is not None:
            calls = (b.max_tool_calls - self.tool_calls - self.reserved_calls) // ways
        if b.max_seconds is not None:
            seconds = b.max_seconds - (now - self.started)
        return Budget(
            max_iterations=per_step.max_iterations,
            max_tokens=_positive_int(tokens),
            max_cost_usd=_positive_float(cost),
            max_seconds=_positive_float(seconds),
            max_tool_calls=_positive_int(calls),
        )

    def exhausted(self, now: float) -> StopReason | None:
        """The shared cap that no new step could work within."""
        spent = Spent(self.usage, 0, self.tool_calls, now - self.started)
        if self.budget.max_tool_calls is not None and self.tool_calls >= self.budget.max_tool_calls:
            return "max_tool_calls"
        return check_before_model_call(self.budget, spent, 1, 0.0)

    def hold(self, share: Budget) -> None:
        self.reserved_tokens += share.max_tokens or 0
        self.reserved_cost += share.max_cost_usd or 0.0
        self.reserved_calls += share.max_tool_calls or 0

    def settle(self, share: Budget, result: RunResult) -> None:
        self.reserved_tokens -= share.max_tokens or 0
        self.reserved_cost -= share.max_cost_usd or 0.0
        self.reserved_calls -= share.max_tool_calls or 0
        self.usage = self.usage + result.usage
        self.tool_calls += result.tool_calls


def _positive_int(value: int | None) -> int | None:
    # A share of 0 or less would be rejected by Budget; the smallest positive cap stops at once.
    return None if value is None else max(value, 1)


def _positive_float(value: float | None) -> float | None:
    return None if value is None else max(value, 1e-9)


def step_prompt(plan: Plan, step: Step, done: Mapping[str, str]) -> str:
    """What the sub-run is asked: the task, its own step, and its inputs."""
    inputs = "".join(f"\nResult of step {d}: {done[d]}" for d in step.depends_on if d in done)
    expected = f"\nExpected output: {step.expected_output}" if step.expected_output else ""
    return STEP_PROMPT.format(
        task=plan.task,
        id=step.id,
        description=step.description,
        expected=expected,
        inputs=inputs,
    )


class PlanExecutor:
    """Plans a task (or takes a plan) and runs it through `agent`, sharing one budget.

    Args:
        agent: runs each step (its tools, guards, run store and audit apply to every step).
        planner: writes and revises plans; defaults to one on the agent's model.
        budget: the whole plan's caps; defaults to the agent's budget. `max_iterations` applies
            to each step's sub-run.
        max_concurrency: steps running at once.
        max_replans: revised plans allowed after failures.
    """

    def __init__(
        self,
        agent: Agent,
        planner: Planner | None = None,
        *,
        budget: Budget | None = None,
        max_concurrency: int = 3,
        max_replans: int = 2,
    ) -> None:
        self.agent = agent
        self.planner = planner or Planner(agent.model)
        self.budget = budget or agent.budget
        self.max_concurrency = max_concurrency
        self.max_replans = max_replans

    async def run(self, task: str) -> PlanResult:
        """Plan the task, run the plan, return the result."""
        return await _last(self.run_stream(task))

    async def run_stream(self, task: str) -> AsyncIterator[PlanEvent]:
        """Plan the task and run it, yielding plan and step events."""
        run_id = _new_plan_id()
        scope = self.scope(run_id, self.agent.clock.now())
        async for event in self._observed(scope, task, self._plan_and_run(task, scope)):
            yield event

    async def _observed(
        self,
        scope: RunScope,
        task: str,
        events: AsyncIterator[PlanEvent],
        *,
        resumed: bool = False,
    ) -> AsyncIterator[PlanEvent]:
        """`events`, with the plan run announced on the hooks surface (one `RunSpan`, kind plan).

        Announced before the planner's model call, so telemetry and audit see the planner, the
        step sub-runs and the synthesis inside the plan run.
        """
        span = RunSpan(
            run_id=scope.run_id,
            task=task,
            model=self.agent.model.name,
            principal=scope.principal,
            kind="plan",
            resumed=resumed,
        )
        await scope.observers.run_started(span)
        async for event in events:
            if isinstance(event, PlanFinished):
                result = event.result
                await scope.observers.run_finished(
                    replace(
                        span, stop_reason=result.stop_reason, usage=result.usage, error=result.error
                    )
                )
            yield event

    async def _plan_and_run(self, task: str, scope: RunScope) -> AsyncIterator[PlanEvent]:
        run_id = scope.run_id
        tools = await self.agent.tool_definitions()
        try:
            outcome = await self.bound_planner(scope).plan(task, tools)
        except (PlanError, ModelError, TimeoutError) as exc:
            stop: StopReason = "max_seconds" if isinstance(exc, TimeoutError) else "error"
            yield PlanFinished(PlanResult("", stop, run_id, (), {}, Usage(), error=str(exc)))
            return
        run = self._start(outcome.plan, outcome.usage, run_id, scope)
        await run.recorder.save(run.plans, 0, new=True, usage=run.ledger.usage)
        async for event in run.events():
            yield event

    def scope(self, run_id: str, started: float) -> RunScope:
        """The plan run's scope: the agent's observers, the plan budget's deadline."""
        clock, limit = self.agent.clock, self.budget.max_seconds

        def remaining() -> float | None:
            return None if limit is None else max(0.0, limit - (clock.now() - started))

        return self.agent.scope(run_id, remaining_seconds=remaining)

    def bound_planner(self, scope: RunScope) -> Planner:
        """The planner with its model bound to the plan run (audited, held to the deadline)."""
        bound = copy.copy(self.planner)
        bound.model = self.agent.bound_model(scope, self.planner.model)
        return bound

    def _start(self, plan: Plan, usage: Usage, run_id: str, scope: RunScope) -> _PlanRun:
        info = RunInfo(run_id=run_id, task=plan.task, model=self.agent.model.name, kind="plan")
        return _PlanRun(self, [plan], usage, PlanRecorder(self.agent.run_store, info), scope)

    async def execute(self, plan: Plan) -> PlanResult:
        """Run a ready plan."""
        return await _last(self.execute_stream(plan))

    async def execute_stream(
        self, plan: Plan, *, planning_usage: Usage | None = None
    ) -> AsyncIterator[PlanEvent]:
        """Run a plan: ready steps concurrently, replanning on failure, then the synthesis."""
        run_id = _new_plan_id()
        scope = self.scope(run_id, self.agent.clock.now())
        run = self._start(plan, planning_usage or Usage(), run_id, scope)
        await run.recorder.save(run.plans, 0, new=True, usage=run.ledger.usage)
        async for event in self._observed(scope, plan.task, run.events()):
            yield event

    async def resume(self, run_id: str) -> PlanResult:
        """Continue a recorded plan run whose process died; finished steps are not repeated."""
        store = self.agent.run_store
        if store is None:
            raise ConfigurationError("resume() needs the agent's run_store to read the plan from")
        record = await store.load(run_id)
        plans = plan_record(record)
        info = record.info
        if info.status in ("completed", "cancelled"):
            return PlanResult(
                info.output or "",
                info.stop_reason or "cancelled",
                run_id,
                tuple(plans),
                {},
                info.usage,
                info.note,
            )
        scope = self.scope(run_id, self.agent.clock.now())
        recorder = PlanRecorder(store, info, resuming=True)
        run = _PlanRun(self, plans, info.usage, recorder, scope)
        run.replans = int(info.settings.get("replans", 0))
        await run.load_finished_steps(store)
        return await _last(self._observed(scope, info.task, run.events(), resumed=True))


class _PlanRun:
    """The state of one plan execution."""

    def __init__(
        self,
        owner: PlanExecutor,
        plans: list[Plan],
        usage: Usage,
        recorder: PlanRecorder,
        scope: RunScope,
    ) -> None:
        self.owner = owner
        self.plans = plans
        self.plan = plans[-1]
        self.scope = scope
        self.planner = owner.bound_planner(scope)
        self.clock: Clock = owner.agent.clock
        self.ledger = _Ledger(owner.budget, self.clock.now(), usage=usage)
        self.recorder = recorder
        self.run_id = recorder.info.run_id
        self.results: dict[str, StepResult] = {}
        self.replans = 0
        self.error: str | None = None

    async def load_finished_steps(self, store: RunStore) -> None:
        """Read back the steps whose sub-runs finished before the process died."""
        for plan in self.plans:
            for step in plan.steps:
                try:
                    info = (await store.load(f"{self.run_id}.{plan.revision}.{step.id}")).info
                except RunNotFoundError:
                    continue
                if info.status == "completed" and info.stop_reason is not None:
                    self.results[step.id] = StepResult(
                        step,
                        info.output or "",
                        info.stop_reason,
                        info.run_id,
                        info.usage,
                        info.tool_calls,
                    )

    @property
    def done(self) -> dict[str, str]:
        """Outputs of the steps that succeeded, in plan order (not completion order)."""
        ordered = [s.id for p in self.plans for s in p.steps]
        return {
            sid: self.results[sid].output
            for sid in ordered
            if sid in self.results and self.results[sid].ok
        }

    async def events(self) -> AsyncIterator[PlanEvent]:
        yield PlanCreated(self.plan)
        stop: StopReason | None = None
        while stop is None:
            ready = self.plan.ready(self.done)
            if not ready:
                break
            batch = ready[: self.owner.max_concurrency]
            stop = self.ledger.exhausted(self.clock.now())
            if stop is not None:
                break
            for step in batch:
                yield StepStarted(step, self._step_run_id(step))
            finished = await self._run_batch(batch)
            await self.recorder.save(self.plans, self.replans, usage=self.ledger.usage)
            for step_result in finished:
                yield StepFinished(step_result)
            failure = next((r for r in finished if not r.ok), None)
            if failure is not None:
                stop = await self._replan(failure)
                if stop is None:
                    yield PlanCreated(self.plan)
        output, stop = await self._synthesize(stop)
        await self.recorder.save(
            self.plans,
            self.replans,
            status="completed" if stop == "final_answer" else "failed",
            stop_reason=stop,
            output=output,
            usage=self.ledger.usage,
            steps=len(self.results),
            note=self.error,
        )
        result = PlanResult(
            output,
            stop,
            self.run_id,
            tuple(self.plans),
            dict(self.results),
            self.ledger.usage,
            self.error,
        )
        yield PlanFinished(result)

    def _step_run_id(self, step: Step) -> str:
        return f"{self.run_id}.{self.plan.revision}.{step.id}"

    async def _run_batch(self, batch: list[Step]) -> list[StepResult]:
        agent = self.owner.agent
        shares = [self.ledger.share(len(batch), self.clock.now(), agent.budget) for _ in batch]
        for share in shares:
            self.ledger.hold(share)

        async def one(step: Step, share: Budget) -> StepResult:
            prompt = step_prompt(self.plan, step, self.done)
            result = await self.recorder.run_step(agent, self._step_run_id(step), prompt, share)
            self.ledger.settle(share, result)
            step_result = StepResult(
                step,
                result.output,
                result.stop_reason,
                result.run_id,
                result.usage,
                result.tool_calls,
            )
            self.results[step.id] = step_result
            return step_result

        async with asyncio.TaskGroup() as group:
            tasks = [
                group.create_task(one(s, share)) for s, share in zip(batch, shares, strict=True)
            ]
        return [t.result() for t in tasks]

    async def _replan(self, failure: StepResult) -> StopReason | None:
        """A revised plan for the remaining work, or the reason the plan stops.

        A step stopped by its share of the budget stops the plan: the shared budget is what
        binds, and a replan would only spend more of it.
        """
        if failure.stop_reason in _BUDGET_STOPS:
            self.error = f"step {failure.step.id!r} ran out of its budget share"
            return failure.stop_reason
        if self.replans >= self.owner.max_replans:
            self.error = (
                f"step {failure.step.id!r} failed ({failure.stop_reason}) and no replans are left"
            )
            return "error"
        self.replans += 1
        tools = await self.owner.agent.tool_definitions()
        reason = f"it stopped with {failure.stop_reason}: {failure.output or '(no output)'}"
        self.scope.step = len(self.plans)
        try:
            outcome = await self.planner.replan(
                self.plan, self.done, failure.step.id, reason, tools
            )
        except (PlanError, ModelError, TimeoutError) as exc:
            self.error = f"replanning failed: {exc}"
            return "error"
        self.ledger.usage = self.ledger.usage + outcome.usage
        self.plan = outcome.plan
        self.plans.append(outcome.plan)
        await self.recorder.save(self.plans, self.replans, usage=self.ledger.usage)
        return None

    async def _synthesize(self, stop: StopReason | None) -> tuple[str, StopReason]:
        """The final answer from the step results, if the budget allows one more call."""
        if stop is not None:
            return _last_output(self.results), stop
        # The agent's model bound to the plan run: audited and held to the plan's deadline.
        model = self.owner.agent.bound_model(self.scope)
        self.scope.step = len(self.plans) + 1
        done = self.done
        # Each result gets an even share of a bounded prompt: twenty verbose steps must not
        # overflow a small model's context window.
        room = max(40, SYNTHESIS_RESULT_TOKENS // max(1, len(done)))
        results = "\n".join(
            f"- {sid}: {model.tokenizer.truncate(out, room)}" for sid, out in done.items()
        )
        messages = [
            Message("system", SYNTHESIS_PROMPT),
            Message("user", f"Task: {self.plan.task}\n\nStep results:\n{results}"),
        ]
        prompt = count_prompt_tokens(model.tokenizer, messages)
        spent = Spent(
            self.ledger.usage, 0, self.ledger.tool_calls, self.clock.now() - self.ledger.started
        )
        capped = check_before_model_call(
            self.owner.budget, spent, prompt, cost_of(model.pricing, prompt, 0)
        )
        if capped is not None:
            return _last_output(self.results), capped
        try:
            response = await model.request(messages, (), None)
        except TimeoutError:
            return _last_output(self.results), "max_seconds"
        except ModelError as exc:
            self.error = str(exc)
            return _last_output(self.results), "error"
        self.ledger.usage = self.ledger.usage + response.usage
        return response.message.content, "final_answer"


def _last_output(results: Mapping[str, StepResult]) -> str:
    outputs = [r.output for r in results.values() if r.output]
    return outputs[-1] if outputs else ""


def _new_plan_id() -> str:
    return f"plan_{uuid.uuid4().hex[:12]}"


async def _last(events: AsyncIterator[PlanEvent]) -> PlanResult:
    async for event in events:
        if isinstance(event, PlanFinished):
            return event.result
    raise AssertionError("a plan run ended without PlanFinished")  # pragma: no cover
