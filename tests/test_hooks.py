"""The hooks surface: one record per call, redaction once, every subscriber on one seam."""

from __future__ import annotations

import json
import logging
import sqlite3
from pathlib import Path

import pytest

from mainspring.agent import Agent, Budget, ToolCallFinished, ToolCallStarted
from mainspring.audit import AuditSink, JsonlAuditLog, verify_log
from mainspring.hooks import (
    REDACTED,
    Hooks,
    ModelCallRecord,
    Observers,
    RunSpan,
    ToolCallRecord,
    clean_data,
)
from mainspring.messages import Message, ModelResponse, ToolCall
from mainspring.planning import PlanExecutor
from mainspring.runs import SqliteRunStore
from mainspring.sealing import FernetSealer
from mainspring.testing import FunctionModel, InMemoryEventSink, ScriptedModel, text, tool_calls
from mainspring.testing.models import ModelRequest
from mainspring.tools import CallContext, ToolExecutor, ToolRegistry, tool

SECRET = "s3cret-token-value"


@tool(secrets={"token"})
def fetch(url: str, token: str) -> str:
    """Fetch a URL with a token."""
    return f"body of {url}"


@tool
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


class Recorder(Hooks):
    """Keeps every record it is shown."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, object]] = []

    async def run_started(self, run: RunSpan) -> None:
        self.seen.append(("run_started", run))

    async def run_finished(self, run: RunSpan) -> None:
        self.seen.append(("run_finished", run))

    async def model_started(self, record: ModelCallRecord) -> None:
        self.seen.append(("model_started", record))

    async def model_finished(self, record: ModelCallRecord) -> None:
        self.seen.append(("model_finished", record))

    async def tool_started(self, record: ToolCallRecord) -> None:
        self.seen.append(("tool_started", record))

    async def tool_finished(self, record: ToolCallRecord) -> None:
        self.seen.append(("tool_finished", record))

    def stages(self) -> list[str]:
        return [stage for stage, _ in self.seen]


def _bodies(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _store_bytes(path: Path) -> bytes:
    return b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))


async def test_one_audit_wiring_covers_model_and_tool_calls(tmp_path: Path) -> None:
    log = JsonlAuditLog(tmp_path / "audit.jsonl")
    script = [tool_calls(("add", {"a": 2, "b": 3})), text("5")]
    agent = Agent(ScriptedModel(script), [add], audit=AuditSink(log))
    result = await agent.run("2+3?", run_id="r1")
    await log.aclose()
    bodies = _bodies(tmp_path / "audit.jsonl")
    assert result.output == "5"
    assert [(b["kind"], b["name"]) for b in bodies] == [
        ("model_call", "scripted"),
        ("tool_call", "add"),
        ("model_call", "scripted"),
    ]
    assert all(b["run_id"] == "r1" for b in bodies)
    tool_body = bodies[1]
    assert tool_body["detail"]["step"] == 1  # type: ignore[index]
    assert tool_body["detail"]["provenance"] == []  # type: ignore[index]
    assert (await verify_log(JsonlAuditLog(tmp_path / "audit.jsonl").bodies())).ok


async def test_records_pair_start_and_end_by_step_and_call_id() -> None:
    recorder = Recorder()
    # The provider reuses call ids across steps: the pairing key is (step, call id).
    script = [
        tool_calls(ToolCall("c1", "add", {"a": 1, "b": 1})),
        tool_calls(ToolCall("c1", "add", {"a": 2, "b": 2})),
        text("done"),
    ]
    await Agent(ScriptedModel(script), [add], hooks=[recorder]).run("x")
    assert recorder.stages() == [
        "run_started",
        "model_started",
        "model_finished",
        "tool_started",
        "tool_finished",
        "model_started",
        "model_finished",
        "tool_started",
        "tool_finished",
        "model_started",
        "model_finished",
        "run_finished",
    ]
    tools = [r for s, r in recorder.seen if s == "tool_finished"]
    assert [r.key for r in tools] == [(1, "c1"), (2, "c1")]  # type: ignore[attr-defined]
    models = [r for s, r in recorder.seen if s == "model_finished"]
    assert [r.key for r in models] == [(1, "model"), (2, "model"), (3, "model")]  # type: ignore[attr-defined]


async def test_provenance_names_earlier_tool_results() -> None:
    recorder = Recorder()
    script = [
        tool_calls(ToolCall("c1", "add", {"a": 1, "b": 1})),
        tool_calls(ToolCall("c2", "add", {"a": 2, "b": 2})),
        text("done"),
    ]
    await Agent(ScriptedModel(script), [add], hooks=[recorder]).run("x")
    tools = [r for s, r in recorder.seen if s == "tool_finished"]
    assert isinstance(tools[0], ToolCallRecord) and isinstance(tools[1], ToolCallRecord)
    assert tools[0].provenance == ()  # from the task alone
    assert [(p.call_id, p.tool) for p in tools[1].provenance] == [("c1", "add")]


async def test_a_secret_reaches_no_file(tmp_path: Path) -> None:
    store = SqliteRunStore(tmp_path / "runs.db")
    log = JsonlAuditLog(tmp_path / "audit.jsonl")
    sink = InMemoryEventSink()
    executor = ToolExecutor(ToolRegistry([fetch]), sinks=[sink])
    script = [tool_calls(("fetch", {"url": "u", "token": SECRET})), text("fetched")]
    agent = Agent(ScriptedModel(script), executor, run_store=store, audit=AuditSink(log))
    events = [e async for e in agent.run_stream("get u", run_id="r1")]
    await store.aclose()
    await log.aclose()
    assert SECRET.encode() not in _store_bytes(tmp_path / "runs.db")
    assert SECRET not in (tmp_path / "audit.jsonl").read_text()
    assert SECRET not in repr(sink.events) and sink.events[0].arguments["token"] == REDACTED
    started = [e for e in events if isinstance(e, (ToolCallStarted, ToolCallFinished))]
    assert started and SECRET not in repr(started)


async def test_a_sealed_secret_lets_a_resume_repeat_the_call(tmp_path: Path) -> None:
    store = SqliteRunStore(tmp_path / "runs.db")
    sealer = FernetSealer(FernetSealer.new_key())
    seen: list[str] = []

    @tool(secrets={"token"}, idempotent=True)
    def deploy(token: str) -> str:
        """Deploy with a token."""
        seen.append(token)
        return "deployed"

    agent = Agent(ScriptedModel([tool_calls(("deploy", {"token": SECRET}))]), [deploy])
    # Record a run that died after the model's reply and before the tool's result.
    first = Agent(
        ScriptedModel([tool_calls(("deploy", {"token": SECRET}))]),
        [deploy],
        run_store=store,
        sealer=sealer,
        budget=Budget(max_tool_calls=1, max_iterations=1),
    )
    await first.run("deploy", run_id="r1")
    record = await store.load("r1")
    assert SECRET.encode() not in _store_bytes(tmp_path / "runs.db")
    # Cut the record back to the reply only, as a crash mid-call would leave it.
    kept = [e for e in record.events if e.kind == "model_called"]
    await store.aclose()
    db = sqlite3.connect(tmp_path / "runs.db")
    db.execute("DELETE FROM run_events WHERE seq > ?", (len(kept),))
    db.execute("UPDATE runs SET status = 'running', info = json_set(info, '$.status', 'running')")
    db.commit()
    db.close()
    seen.clear()
    resumed_store = SqliteRunStore(tmp_path / "runs.db")
    again = Agent(ScriptedModel([text("done")]), [deploy], run_store=resumed_store, sealer=sealer)
    result = await again.resume("r1")
    assert result.output == "done" and seen == [SECRET], result
    # Without the key the value cannot be recovered: the call is marked for re-supply.
    db = sqlite3.connect(tmp_path / "runs.db")
    db.execute("DELETE FROM run_events WHERE seq > ?", (len(kept),))
    db.execute("UPDATE runs SET status = 'running', info = json_set(info, '$.status', 'running')")
    db.commit()
    db.close()
    blind = Agent(ScriptedModel([]), [deploy], run_store=SqliteRunStore(tmp_path / "runs.db"))
    stuck = await blind.resume("r1")
    assert stuck.stop_reason == "needs_attention" and "secret" in (stuck.error or "")
    await resumed_store.aclose()
    assert agent is not None


async def test_deps_reach_the_tool_and_nothing_else(tmp_path: Path) -> None:
    @tool
    def charge(amount: int, ctx: CallContext) -> str:
        """Charge an amount."""
        return f"charged {amount} with key {ctx.deps['api_key'][:2]}"

    store = SqliteRunStore(tmp_path / "runs.db")
    log = JsonlAuditLog(tmp_path / "audit.jsonl")
    with ScriptedModel([tool_calls(("charge", {"amount": 5})), text("ok")]) as model:
        agent = Agent(
            model, [charge], run_store=store, audit=AuditSink(log), deps={"api_key": SECRET}
        )
        result = await agent.run("pay")
    await store.aclose()
    await log.aclose()
    assert "charged 5 with key s3" in result.messages[-2].content
    assert "ctx" not in json.dumps([t.parameters for t in model.requests[0].tools])
    assert SECRET.encode() not in _store_bytes(tmp_path / "runs.db")
    assert SECRET not in (tmp_path / "audit.jsonl").read_text()


async def test_planner_synthesis_and_steps_are_all_audited(tmp_path: Path) -> None:
    def reply(request: ModelRequest) -> ModelResponse:
        first = request.messages[0].content
        if first.startswith("You break a task"):
            steps = [{"id": "a", "description": "do a", "depends_on": []}]
            return text(json.dumps({"steps": steps}))
        if first.startswith("Write the final answer"):
            return text("all done")
        return text("a done")

    log = JsonlAuditLog(tmp_path / "audit.jsonl")
    agent = Agent(FunctionModel(reply), audit=AuditSink(log))
    result = await PlanExecutor(agent).run("do a")
    await log.aclose()
    bodies = _bodies(tmp_path / "audit.jsonl")
    assert result.ok
    # planner, the step's one call, synthesis: every model call audited, none without a run.
    assert [b["kind"] for b in bodies] == ["model_call"] * 3
    runs = [b["run_id"] for b in bodies]
    assert runs[0] == runs[2] == result.run_id and runs[1] == f"{result.run_id}.0.a"


async def test_the_run_deadline_bounds_the_planner_too() -> None:
    import anyio

    async def slow(request: ModelRequest) -> ModelResponse:
        await anyio.sleep(5)
        return text("never")

    agent = Agent(FunctionModel(slow))
    result = await PlanExecutor(agent, budget=Budget(max_seconds=0.2)).run("x")
    assert result.stop_reason == "max_seconds" and "max_seconds" in (result.error or "")


async def test_a_failing_subscriber_after_the_call_is_logged_not_raised(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Broken(Hooks):
        async def tool_finished(self, record: ToolCallRecord) -> None:
            raise RuntimeError("disk full")

    ran: list[int] = []

    @tool
    def once(x: int) -> int:
        """Record x."""
        ran.append(x)
        return x

    executor = ToolExecutor(ToolRegistry([once]), hooks=[Broken()])
    with caplog.at_level(logging.ERROR, logger="mainspring.hooks"):
        result = await executor.execute(ToolCall("1", "once", {"x": 4}))
    assert result.ok and ran == [4]
    assert "disk full" in caplog.text


async def test_a_failing_subscriber_before_the_call_stops_it() -> None:
    class Broken(Hooks):
        async def tool_started(self, record: ToolCallRecord) -> None:
            raise RuntimeError("store down")

    ran: list[int] = []

    @tool
    def once(x: int) -> int:
        """Record x."""
        ran.append(x)
        return x

    result = await ToolExecutor(ToolRegistry([once]), hooks=[Broken()]).execute(
        ToolCall("1", "once", {"x": 4})
    )
    assert not result.ok and ran == [] and "store down" in result.content


def test_observers_redact_replies_and_keep_plaintext_out() -> None:
    observers = Observers([], secrets_of=lambda name: frozenset({"token"}))
    reply = ModelResponse(
        Message("assistant", tool_calls=(ToolCall.from_text("c", "fetch", '{"token": "x1"}'),))
    )
    record = ModelCallRecord(
        run_id="r", step=1, call_id="model", model="m", principal="p", time="t", response=reply
    )
    clean = observers.clean_model(record)
    assert clean.response is not None
    call = clean.response.message.tool_calls[0]
    assert call.arguments == {"token": REDACTED} and "x1" not in (call.raw_arguments or "")


def test_a_record_with_nothing_to_hide_or_clean_is_passed_on_as_it_is() -> None:
    # The fast path: no copy per call when no secret and no unencodable text is in the record.
    observers = Observers([], secrets_of=lambda name: frozenset())
    reply = ModelResponse(Message("assistant", "ok", tool_calls=(ToolCall("c", "add", {"a": 1}),)))
    record = ModelCallRecord(
        run_id="r", step=1, call_id="model", model="m", principal="p", time="t", response=reply
    )
    assert observers.clean_model(record) is record
    dirty = ModelResponse(Message("assistant", "bad \ud800 text"))
    cleaned = observers.clean_model(
        ModelCallRecord(
            run_id="r", step=1, call_id="m", model="m", principal="p", time="t", response=dirty
        )
    )
    assert cleaned.response is not None and cleaned.response.message.content == "bad \\ud800 text"


def test_clean_data_escapes_surrogates_and_cuts_depth() -> None:
    deep: list[object] = []
    node = deep
    for _ in range(10_000):
        child: list[object] = []
        node.append(child)
        node = child
    cleaned = clean_data({"s": "a\udc80b", "deep": deep, "nan": float("nan")})
    text_form = json.dumps(cleaned, ensure_ascii=False)
    text_form.encode("utf-8")  # writable
    assert "\\udc80" in cleaned["s"] and cleaned["nan"] == "nan"
    assert "cut" in text_form


async def test_the_summariser_given_agent_model_is_audited(tmp_path: Path) -> None:
    from mainspring.memory.summariser import ModelSummariser

    log = JsonlAuditLog(tmp_path / "audit.jsonl")
    agent = Agent(ScriptedModel([text("a summary")]), audit=AuditSink(log))
    summary = await ModelSummariser(agent.model).summarise(["the user likes tea"])
    await log.aclose()
    bodies = _bodies(tmp_path / "audit.jsonl")
    assert summary == "a summary"
    assert [(b["kind"], b["run_id"]) for b in bodies] == [("model_call", None)]


async def test_one_sink_wired_twice_records_each_call_once(tmp_path: Path) -> None:
    log = JsonlAuditLog(tmp_path / "audit.jsonl")
    sink = AuditSink(log)
    executor = ToolExecutor(ToolRegistry([add]), sinks=[sink])
    script = [tool_calls(("add", {"a": 1, "b": 2})), text("3")]
    await Agent(ScriptedModel(script), executor, audit=sink).run("1+2?")
    await log.aclose()
    kinds = [b["kind"] for b in _bodies(tmp_path / "audit.jsonl")]
    assert kinds == ["model_call", "tool_call", "model_call"]


async def test_the_loop_deadline_cuts_a_slow_model_call() -> None:
    import anyio

    async def slow(request: ModelRequest) -> ModelResponse:
        await anyio.sleep(5)
        return text("never")

    result = await Agent(FunctionModel(slow), budget=Budget(max_seconds=0.2)).run("x")
    assert result.stop_reason == "max_seconds"


async def test_an_approver_sees_the_calls_provenance() -> None:
    from mainspring.tools import ApprovalRequest

    asked: list[ApprovalRequest] = []

    @tool(requires_approval=True)
    def send(to: str) -> str:
        """Send a message."""
        return f"sent to {to}"

    def approve(request: ApprovalRequest) -> bool:
        asked.append(request)
        return True

    script = [
        tool_calls(ToolCall("c1", "add", {"a": 1, "b": 1})),
        tool_calls(ToolCall("c2", "send", {"to": "ann"})),
        text("done"),
    ]
    await Agent(ScriptedModel(script), [add, send], approver=approve).run("x")
    assert [(p.call_id, p.tool) for p in asked[0].provenance] == [("c1", "add")]


async def test_calls_past_the_tool_call_cap_are_audited(tmp_path: Path) -> None:
    log = JsonlAuditLog(tmp_path / "audit.jsonl")
    reply = tool_calls(*[("add", {"a": i, "b": 1}) for i in range(4)])
    agent = Agent(
        ScriptedModel([reply]), [add], audit=AuditSink(log), budget=Budget(max_tool_calls=1)
    )
    result = await agent.run("x")
    await log.aclose()
    tools = [b for b in _bodies(tmp_path / "audit.jsonl") if b["kind"] == "tool_call"]
    assert result.stop_reason == "max_tool_calls"
    assert [b["outcome"] for b in tools] == ["ok", "error", "error", "error"]
