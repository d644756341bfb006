import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry import trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from mainspring.agent import Agent, Budget
from mainspring.planning import PlanExecutor
from mainspring.telemetry import OpenTelemetryHooks
from mainspring.testing import FunctionModel, ScriptedModel, text, tool_calls
from mainspring.testing.models import ModelRequest
from mainspring.tools import Principal, tool


@tool
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@tool(secrets={"token"})
def login(user: str, token: str) -> str:
    """Log in."""
    return f"hello {user}"


@tool(scopes={"admin"})
def wipe() -> str:
    """Delete everything."""
    return "wiped"


class Captured:
    def __init__(self, capture_content: bool = False) -> None:
        self.spans = InMemorySpanExporter()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.spans))
        self.metrics = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.metrics])
        self.hooks = OpenTelemetryHooks(
            tracer_provider=self.tracer_provider,
            meter_provider=self.meter_provider,
            capture_content=capture_content,
        )

    def finished(self) -> list[ReadableSpan]:
        return list(self.spans.get_finished_spans())

    def by_name(self, name: str) -> list[ReadableSpan]:
        return [s for s in self.finished() if s.name == name]

    def metric_points(self, name: str) -> list[object]:
        data = self.metrics.get_metrics_data()
        assert data is not None
        points: list[object] = []
        for resource in data.resource_metrics:
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    if metric.name == name:
                        points.extend(metric.data.data_points)
        return points


@pytest.fixture
def otel() -> Iterator[Captured]:
    captured = Captured()
    yield captured
    captured.tracer_provider.shutdown()
    captured.meter_provider.shutdown()


def _parent_id(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent is not None else None


async def test_native_run_is_one_trace_of_agent_chat_and_tool_spans(otel: Captured) -> None:
    script = [tool_calls(("add", {"a": 2, "b": 3})), text("5")]
    with ScriptedModel(script) as model:
        result = await Agent(model, [add], hooks=[otel.hooks]).run("2+3?")
    assert result.ok
    (run,) = otel.by_name("invoke_agent")
    chats = otel.by_name(f"chat {model.name}")
    (tool_span,) = otel.by_name("execute_tool add")
    assert len(chats) == 2
    assert {s.context.trace_id for s in [run, *chats, tool_span]} == {run.context.trace_id}
    assert all(_parent_id(s) == run.context.span_id for s in [*chats, tool_span])
    assert run.attributes is not None and run.attributes["gen_ai.operation.name"] == "invoke_agent"
    assert run.attributes["mainspring.stop_reason"] == "final_answer"
    assert run.attributes["gen_ai.conversation.id"] == result.run_id
    chat = chats[0].attributes
    assert chat is not None and chat["gen_ai.operation.name"] == "chat"
    assert isinstance(chat["gen_ai.usage.input_tokens"], int)
    assert chat["gen_ai.usage.input_tokens"] > 0
    assert tool_span.attributes is not None
    assert tool_span.attributes["gen_ai.tool.name"] == "add"
    assert tool_span.attributes["gen_ai.tool.call.id"] == "call_0"
    # No content unless asked for.
    assert "gen_ai.tool.call.arguments" not in tool_span.attributes
    durations = otel.metric_points("gen_ai.client.operation.duration")
    tokens = otel.metric_points("gen_ai.client.token.usage")
    assert durations and tokens
    assert {p.attributes["gen_ai.token.type"] for p in tokens} == {"input", "output"}  # type: ignore[attr-defined]


async def test_react_run_is_traced_too(otel: Captured) -> None:
    script = ['Action: add\nAction Input: {"a": 1, "b": 1}', "Final Answer: 2"]
    with ScriptedModel(script) as model:
        result = await Agent(model, [add], protocol="react", hooks=[otel.hooks]).run("1+1")
    assert result.output == "2"
    assert len(otel.by_name("execute_tool add")) == 1
    assert len(otel.by_name("invoke_agent")) == 1


async def test_refusal_is_a_span_event_with_its_kind(otel: Captured) -> None:
    script = [tool_calls(("wipe", {})), text("cannot")]
    with ScriptedModel(script) as model:
        await Agent(model, [wipe], hooks=[otel.hooks], principal=Principal("bob")).run("wipe it")
    (span,) = otel.by_name("execute_tool wipe")
    assert span.status.status_code == trace.StatusCode.ERROR
    assert span.attributes is not None and span.attributes["error.type"] == "forbidden"
    assert [e.name for e in span.events] == ["mainspring.guard.refusal"]
    refusals = otel.metric_points("mainspring.guard.refusals")
    assert [p.attributes["error.type"] for p in refusals] == ["forbidden"]  # type: ignore[attr-defined]


async def test_timeout_is_an_error_span(otel: Captured) -> None:
    import anyio

    @tool(timeout=0.05)
    async def slow() -> str:
        """Sleeps."""
        await anyio.sleep(5)
        return "late"

    with ScriptedModel([tool_calls(("slow", {})), text("gave up")]) as model:
        await Agent(model, [slow], hooks=[otel.hooks]).run("go")
    (span,) = otel.by_name("execute_tool slow")
    assert span.attributes is not None and span.attributes["error.type"] == "timeout"


async def test_content_is_opt_in_and_redacted() -> None:
    captured = Captured(capture_content=True)
    script = [tool_calls(("login", {"user": "ann", "token": "s3cr3t"})), text("in")]
    with ScriptedModel(script) as model:
        await Agent(model, [login], hooks=[captured.hooks]).run("log in")
    (span,) = captured.by_name("execute_tool login")
    assert span.attributes is not None
    arguments = json.loads(str(span.attributes["gen_ai.tool.call.arguments"]))
    assert arguments == {"user": "ann", "token": "***"}
    assert span.attributes["gen_ai.tool.call.result"] == "hello ann"
    dumped = json.dumps([dict(s.attributes or {}) for s in captured.finished()])
    assert "s3cr3t" not in dumped


async def test_plan_steps_nest_under_the_plan_span(otel: Captured) -> None:
    def model(request: ModelRequest) -> str:
        system = request.messages[0].content
        if system.startswith("You break a task"):
            return json.dumps(
                {
                    "steps": [
                        {"id": "s1", "description": "first", "depends_on": []},
                        {"id": "s2", "description": "second", "depends_on": ["s1"]},
                    ]
                }
            )
        if system.startswith("Write the final answer"):
            return "done"
        return "ok"

    agent = Agent(FunctionModel(model), budget=Budget(max_iterations=4), hooks=[otel.hooks])
    result = await PlanExecutor(agent).run("do two things")
    assert result.output == "done"
    runs = [s for s in otel.finished() if s.name.startswith("invoke_agent")]
    plan = [s for s in runs if s.attributes and s.attributes["mainspring.run.kind"] == "plan"]
    assert len(plan) == 1
    steps = [s for s in runs if s is not plan[0]]
    assert len(steps) == 2
    assert all(_parent_id(s) == plan[0].context.span_id for s in steps)
    # The planner's and the synthesis' model calls are traced, under the plan.
    chats = [s for s in otel.finished() if s.name.startswith("chat ")]
    assert len(chats) >= 4
    assert {s.context.trace_id for s in chats} == {plan[0].context.trace_id}


async def test_sandbox_level_and_breaker_state_are_recorded(otel: Captured) -> None:
    from mainspring.sandbox import ProcessSandbox
    from mainspring.tools.builtin import python_tool

    shell_free = python_tool(ProcessSandbox())
    code = {"code": "print(6 * 7)"}
    script = [tool_calls((shell_free.name, code)), text("42")]
    with ScriptedModel(script) as model:
        await Agent(model, [shell_free], hooks=[otel.hooks]).run("compute")
    (span,) = otel.by_name(f"execute_tool {shell_free.name}")
    assert span.attributes is not None and span.attributes["mainspring.sandbox.isolation"]

    @tool(breaker=1)
    def flaky() -> str:
        """Always fails."""
        raise RuntimeError("down")

    calls = [tool_calls(("flaky", {})), tool_calls(("flaky", {})), text("gave up")]
    with ScriptedModel(calls) as model:
        budget = Budget(max_repeated_calls=None)
        await Agent(model, [flaky], hooks=[otel.hooks], budget=budget).run("try twice")
    points = otel.metric_points("mainspring.tool.breaker_open")
    assert [p.value for p in points if p.attributes["gen_ai.tool.name"] == "flaky"] == [1]  # type: ignore[attr-defined]


async def test_memory_retrieval_is_a_span_under_the_run(otel: Captured, tmp_path: Path) -> None:
    from mainspring.memory import AgentMemory

    memory = AgentMemory.open(f"sqlite:///{tmp_path / 'memory.db'}")
    await memory.add_long_term("Ann prefers tea", importance=0.9)
    with ScriptedModel([text("tea")]) as model:
        await Agent(model, memory=memory, hooks=[otel.hooks]).run("What does Ann drink?")
    (run,) = otel.by_name("invoke_agent")
    (retrieval,) = otel.by_name("retrieval")
    assert retrieval.parent is not None and retrieval.parent.span_id == run.context.span_id
    assert retrieval.attributes is not None
    assert retrieval.attributes["gen_ai.operation.name"] == "retrieval"
    assert isinstance(retrieval.attributes["mainspring.memory.tokens"], int)
    assert retrieval.start_time is not None and retrieval.end_time is not None
    assert retrieval.end_time >= retrieval.start_time
