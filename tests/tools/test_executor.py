import contextvars
import json
import threading
from pathlib import Path

import anyio
import pytest

from mainspring.errors import ConfigurationError, RetryWithFeedback, ToolDefinitionError
from mainspring.messages import ToolCall
from mainspring.testing import InMemoryEventSink
from mainspring.tools import (
    CallContext,
    JsonlEventSink,
    Principal,
    ToolExecutor,
    ToolRegistry,
    tool,
    tool_from_schema,
)


@tool
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@tool
async def shout(text: str) -> dict[str, str]:
    """Upper-case text."""
    return {"text": text.upper()}


@tool
def broken() -> str:
    """Always fails."""
    raise ValueError("disk full")


@tool
def picky(n: int) -> str:
    """Wants an even number."""
    if n % 2:
        raise RetryWithFeedback("n must be even; try n+1")
    return "fine"


@tool(secrets={"token"})
def login(user: str, token: str) -> str:
    """Log in."""
    return f"hello {user}"


@pytest.fixture
def executor() -> ToolExecutor:
    return ToolExecutor(ToolRegistry([add, shout, broken, picky, login]))


async def test_dict_and_json_string_arguments_are_both_accepted(executor: ToolExecutor) -> None:
    by_dict = await executor.execute(ToolCall("1", "add", {"a": 2, "b": 3}))
    by_json = await executor.execute(ToolCall.from_text("2", "add", '{"a": 2, "b": 3}'))
    assert (by_dict.ok, by_dict.content) == (True, "5")
    assert (by_json.ok, by_json.content) == (True, "5")
    assert by_dict.call_id == "1" and by_dict.tool == "add" and by_dict.latency_ms > 0


async def test_async_tool_result_is_json(executor: ToolExecutor) -> None:
    result = await executor.execute(ToolCall("1", "shout", {"text": "hi"}))
    assert json.loads(result.content) == {"text": "HI"}


@pytest.mark.parametrize(
    ("arguments", "fragment"),
    [
        ('{"a": 1,', "not valid JSON"),
        ("[1, 2]", "must be a JSON object"),
        ({"a": "x", "b": 1}, "field 'a'"),
        ({"a": 1}, "field 'b' is required"),
    ],
)
async def test_bad_arguments_are_results_not_crashes(
    executor: ToolExecutor, arguments: object, fragment: str
) -> None:
    result = await executor.execute(ToolCall("1", "add", arguments))  # type: ignore[arg-type]
    assert not result.ok
    assert result.error is not None and result.error.kind == "invalid_arguments"
    assert fragment in result.content


async def test_tool_exceptions_and_feedback(executor: ToolExecutor) -> None:
    failed = await executor.execute(ToolCall("1", "broken", {}))
    assert failed.error is not None and failed.error.kind == "tool_error"
    assert "ValueError: disk full" in failed.content
    feedback = await executor.execute(ToolCall("2", "picky", {"n": 3}))
    assert feedback.error is not None and feedback.error.kind == "tool_error"
    assert feedback.content == "n must be even; try n+1"


async def test_unknown_tool_lists_the_real_ones(executor: ToolExecutor) -> None:
    result = await executor.execute(ToolCall("1", "ad", {}))
    assert result.error is not None and result.error.kind == "not_found"
    assert "add, broken, login, picky, shout" in result.content


async def test_execute_many_keeps_order_and_bounds_concurrency() -> None:
    running = 0
    peak = 0

    @tool
    async def slow(i: int) -> int:
        """Sleep a little."""
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await anyio.sleep(0.01)
        running -= 1
        return i

    executor = ToolExecutor(ToolRegistry([slow]), max_concurrency=3)
    calls = [ToolCall(str(i), "slow", {"i": i}) for i in range(10)]
    results = await executor.execute_many(calls)
    assert [r.content for r in results] == [str(i) for i in range(10)]
    assert peak == 3


async def test_sync_tools_run_off_the_event_loop() -> None:
    loop_thread = threading.get_ident()

    @tool
    def where() -> bool:
        """Report whether this runs on the loop thread."""
        return threading.get_ident() == loop_thread

    result = await ToolExecutor(ToolRegistry([where])).execute(ToolCall("1", "where", {}))
    assert result.content == "false"


async def test_context_is_injected() -> None:
    @tool
    def whoami(ctx: CallContext) -> str:
        """Who calls."""
        return f"{ctx.principal.id}@{ctx.run_id}"

    ctx = CallContext(principal=Principal("ann"), run_id="r1")
    result = await ToolExecutor(ToolRegistry([whoami])).execute(ToolCall("1", "whoami", {}), ctx)
    assert result.content == "ann@r1"


async def test_events_redact_secrets(executor: ToolExecutor) -> None:
    sink = InMemoryEventSink()
    executor = ToolExecutor(executor.registry, sinks=[sink])
    ctx = CallContext(principal=Principal("ann"), run_id="run-7")
    await executor.execute(ToolCall("c1", "login", {"user": "ann", "token": "s3cret"}), ctx)
    await executor.execute(ToolCall.from_text("c2", "login", '{"user": 1, "token": "s3cret"}'), ctx)
    await executor.execute(ToolCall("c3", "nope", {"token": "s3cret"}), ctx)
    first, second, third = sink.events
    assert first.arguments == {"user": "ann", "token": "***"}
    assert (first.ok, first.error_kind, first.run_id, first.principal) == (
        True,
        None,
        "run-7",
        "ann",
    )
    assert second.error_kind == "invalid_arguments" and second.arguments["token"] == "***"
    assert third.error_kind == "not_found" and third.arguments == {}
    assert "s3cret" not in repr(sink.events)


async def test_jsonl_sink_writes_every_event(tmp_path: Path, executor: ToolExecutor) -> None:
    path = tmp_path / "logs" / "events.jsonl"
    sink = JsonlEventSink(path, batch_size=4)
    executor = ToolExecutor(executor.registry, sinks=[sink])
    for i in range(10):
        await executor.execute(ToolCall(str(i), "add", {"a": i, "b": 1}))
    await executor.aclose()
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert [r["call_id"] for r in records] == [str(i) for i in range(10)]
    assert records[0]["tool"] == "add" and records[0]["ok"] is True
    assert records[0]["tool_hash"] == add.hash


@tool
def scale(x: float, factors: list[float] | None = None) -> float:
    """Scale a number."""
    return x * (factors or [1.0])[0]


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ('{"x": NaN}', "x"),
        ('{"x": Infinity}', "x"),
        ({"x": float("-inf")}, "x"),
        ({"x": "nan"}, "x"),
        ({"x": 1.0, "factors": [2.0, float("nan")]}, "factors.1"),
    ],
)
async def test_nan_and_infinity_are_invalid_arguments(arguments: object, field: str) -> None:
    schema_tool = tool_from_schema(
        "scale_raw",
        "Scale, from a raw schema.",
        {"type": "object", "properties": {"x": {"type": "number"}}},
        lambda **kw: "ran",
    )
    executor = ToolExecutor(ToolRegistry([scale, schema_tool]))
    for name in ("scale", "scale_raw"):
        if name == "scale_raw" and arguments == {"x": "nan"}:
            continue  # a string is already not a number to jsonschema
        result = await executor.execute(ToolCall("1", name, arguments))  # type: ignore[arg-type]
        assert result.error is not None and result.error.kind == "invalid_arguments", name
        assert f"field {field!r}" in result.content and "finite" in result.content
    assert (await executor.execute(ToolCall("2", "scale", {"x": 1.5}))).content == "1.5"


async def test_sync_tools_see_the_callers_context_variables() -> None:
    request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id")

    @tool
    def which() -> str:
        """Report the caller's request id."""
        return request_id.get("unset")

    request_id.set("req-7")
    result = await ToolExecutor(ToolRegistry([which])).execute(ToolCall("1", "which", {}))
    assert result.content == "req-7"


async def test_sync_calls_run_concurrently_in_the_pool() -> None:
    barrier = threading.Barrier(4, timeout=5)

    @tool
    def meet(i: int) -> int:
        """Wait until four calls are running at once."""
        barrier.wait()
        return i

    executor = ToolExecutor(ToolRegistry([meet]), max_concurrency=4)
    results = await executor.execute_many([ToolCall(str(i), "meet", {"i": i}) for i in range(4)])
    assert [r.content for r in results] == ["0", "1", "2", "3"]


async def test_an_inline_tool_runs_on_the_event_loop_thread() -> None:
    loop_thread = threading.get_ident()

    @tool(inline=True)
    def where() -> bool:
        """Report whether this runs on the loop thread."""
        return threading.get_ident() == loop_thread

    result = await ToolExecutor(ToolRegistry([where])).execute(ToolCall("1", "where", {}))
    assert result.content == "true"


def test_inline_refuses_what_it_cannot_honour() -> None:
    def quick() -> int:
        """Return one."""
        return 1

    async def coro() -> int:
        """Return one."""
        return 1

    with pytest.raises(ConfigurationError, match="nothing can interrupt it"):
        tool(inline=True, timeout=1.0)(quick)
    with pytest.raises(ToolDefinitionError, match="already runs on the event loop"):
        tool(inline=True)(coro)
