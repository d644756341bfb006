"""`@tool(sandbox=...)`: the function runs in a jailed child, or is refused when defined."""

from __future__ import annotations

import functools
import json
import os
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from mainspring.errors import InvalidArgumentsError, ToolDefinitionError
from mainspring.messages import ToolCall, ToolResult
from mainspring.sandbox import Limits
from mainspring.sandbox._report import TIMEOUT_SLACK
from mainspring.sandbox._runner import JailedSandbox
from mainspring.tools import CallContext, Principal, Tool, ToolExecutor, ToolRegistry, tool
from mainspring.tools._jailed import JailedFunction
from tests.sandbox.conftest import (
    IS_ROOT,
    SANDBOX_UIDS,
    make_sandbox,
    own_uids,
    processes_of,
    record_runs,
    until_warm,
)
from tests.tools import _jailed_functions as functions

SECRET = "sk-test-" + uuid.uuid4().hex
LIMITS = Limits(timeout=20.0, cpu_seconds=10, max_processes=32)
"""Generous: every call starts an interpreter that imports mainspring, on a shared machine."""


@pytest.fixture(autouse=True)
def code_is_reachable() -> None:
    """The child reads this checkout and its site-packages as an unprivileged uid."""
    if functions.UNREACHABLE is not None and "cannot read" in functions.UNREACHABLE:
        pytest.skip(f"this checkout cannot be shown to the sandbox: {functions.UNREACHABLE}")


@pytest.fixture(params=["process", "namespaces"])
def jail(request: pytest.FixtureRequest) -> JailedSandbox:
    return make_sandbox(str(request.param), limits=LIMITS)


async def run(built: Tool, ctx: CallContext | None = None, **arguments: Any) -> ToolResult:
    executor = ToolExecutor(ToolRegistry([built]))
    call = ToolCall("c1", built.name, arguments)
    return await (executor.execute(call, ctx) if ctx is not None else executor.execute(call))


def body(result: ToolResult, jail: JailedSandbox) -> str:
    """The content without its `[sandbox: LEVEL] ` tag, checking the tag names the level."""
    tag = f"[sandbox: {jail.isolation.level}] "
    assert result.content.startswith(tag), result.content
    return result.content[len(tag) :]


async def test_runs_in_another_process_and_names_the_level(jail: JailedSandbox) -> None:
    built = tool(sandbox=jail)(functions.report_pid)
    assert isinstance(built.function, JailedFunction)
    assert built.function.target is functions.report_pid
    result = await run(built, n=21)
    assert result.ok, result.content
    reply = json.loads(body(result, jail))
    assert reply["double"] == 42
    assert reply["pid"] != os.getpid()


@pytest.mark.parametrize("level", ["process", "namespaces"])
async def test_a_jailed_function_runs_warm_after_its_first_call(level: str) -> None:
    jail = make_sandbox(level, all_warm=False, limits=LIMITS, **own_uids())
    built = tool(sandbox=jail)(functions.report_pid)
    results = record_runs(jail)
    first = await run(built, n=21)
    await until_warm(jail)
    second = await run(built, n=21)
    assert [r.warm for r in results] == [False, True]
    assert first.ok and second.ok, second.content
    assert json.loads(body(second, jail))["double"] == 42
    jail.close()


async def test_without_a_sandbox_it_runs_in_this_process() -> None:
    result = await run(tool(functions.report_pid), n=1)
    assert json.loads(result.content)["pid"] == os.getpid()


async def test_a_host_file_outside_the_workspace_is_unreadable(
    jail: JailedSandbox, tmp_path: Path
) -> None:
    shares_our_files = not IS_ROOT and jail.isolation.level == "process"
    if shares_our_files and "landlock_filesystem" not in jail.isolation.protections:
        pytest.skip("without an own uid or Landlock the process level shares our files")
    secret_file = tmp_path / "secret.txt"
    secret_file.write_text(SECRET)
    secret_file.chmod(0o600)
    built = tool(sandbox=jail)(functions.read_file)
    for path in (secret_file, Path("/etc/shadow")):
        result = await run(built, path=str(path))
        assert not result.ok
        assert result.error is not None and result.error.kind == "tool_error"
        assert SECRET not in result.content and "root:" not in result.content
        assert "PermissionError" in result.content or "FileNotFoundError" in result.content


async def test_it_writes_only_in_its_workspace(jail: JailedSandbox) -> None:
    built = tool(sandbox=jail)(functions.write_file)
    planted = Path(functions.__file__).with_name(f"planted-{uuid.uuid4().hex}")
    outside = await run(built, path=str(planted), text="x")
    assert not outside.ok
    assert not await anyio.Path(planted).exists()
    inside = await run(built, path="note.txt", text="x")
    assert inside.ok, inside.content


async def test_the_environment_is_scrubbed(
    jail: JailedSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    result = await run(tool(sandbox=jail)(functions.environment))
    assert result.ok, result.content
    seen = json.loads(body(result, jail))
    assert "OPENAI_API_KEY" not in seen and SECRET not in result.content


async def test_it_is_killed_at_its_timeout(jail: JailedSandbox) -> None:
    built = tool(sandbox=jail, timeout=4)(functions.sleep_with_child)
    assert built.policy.timeout == 4 + TIMEOUT_SLACK  # the jail fires first, with more to say
    started = time.monotonic()
    result = await run(built, seconds=60)
    assert result.error is not None and result.error.kind == "timeout"
    assert "did not finish within 4s" in body(result, jail)
    assert time.monotonic() - started < 4 + TIMEOUT_SLACK
    if IS_ROOT:  # every process of the run is gone, the background `sleep 60` included
        assert processes_of(SANDBOX_UIDS) == []


def test_closures_lambdas_and_other_unimportables_are_refused() -> None:
    jail = make_sandbox("process")
    captured = 3

    def closure(x: int) -> int:
        """Captures a local."""
        return x + captured

    def nested(x: int) -> int:
        """Defined inside a function."""
        return x

    namespace: dict[str, Any] = {"__name__": "not_a_module"}
    exec('def scripted(x: int) -> int:\n    """From exec."""\n    return x\n', namespace)
    refusals: list[tuple[Callable[..., Any], str]] = [
        (lambda x: x, "a lambda has no name"),
        (closure, "defined inside another function"),
        (nested, "defined inside another function"),
        (functions.Holder().method, "not a function"),
        (functools.partial(functions.fail, "x"), "not a function"),
        (namespace["scripted"], "cannot be imported by name"),
        (functions.generate, "generator"),
        (functions.returns_opaque, "cannot be sent back from the child as JSON"),
    ]
    for function, message in refusals:
        with pytest.raises(ToolDefinitionError, match=message) as raised:
            tool(sandbox=jail, name="refused")(function)
        assert "cannot run in its sandbox" in str(raised.value)
    with pytest.raises(ToolDefinitionError, match="sandbox= takes a Sandbox"):
        tool(sandbox="yes please")(functions.report_pid)  # type: ignore[call-overload]


async def test_failures_in_the_child_are_results() -> None:
    jail = make_sandbox("process", limits=LIMITS)
    raised = await run(tool(sandbox=jail)(functions.fail), message="boom")
    assert raised.error is not None and raised.error.kind == "tool_error"
    assert "'fail' failed: ValueError: boom" in raised.content
    assert "_jailed_functions.py" in raised.content  # the tool's own frames, for the model
    feedback = await run(tool(sandbox=jail)(functions.ask_again), x=1)
    assert feedback.error is not None and feedback.error.kind == "tool_error"
    assert "send a larger x" in feedback.content
    unsendable = await run(tool(sandbox=jail)(functions.opaque), x=1)
    assert unsendable.error is not None and unsendable.error.kind == "tool_error"
    assert "cannot be sent back from the sandbox as JSON" in unsendable.content


async def test_arguments_without_a_json_form_are_invalid_arguments() -> None:
    built = tool(sandbox=make_sandbox("process", limits=LIMITS))(functions.report_pid)
    with pytest.raises(InvalidArgumentsError, match="cannot be sent to its sandbox as JSON"):
        await built.function(n=object())  # a direct caller that skipped validation


async def test_async_functions_models_and_the_call_context(jail: JailedSandbox) -> None:
    added = await run(tool(sandbox=jail)(functions.add_async), a=2, b=3)
    assert body(added, jail) == "5"
    ctx = CallContext(principal=Principal("ann", frozenset({"geo"})), run_id="r1")
    scaled = await run(tool(sandbox=jail)(functions.scale), ctx, point={"x": 1, "y": 2}, factor=1.5)
    assert scaled.ok, scaled.content
    assert json.loads(body(scaled, jail)) == {"x": 1.5, "y": 3.0, "principal": "ann"}
    invalid = await run(tool(sandbox=jail)(functions.scale), point={"x": "a"}, factor=1)
    assert invalid.error is not None and invalid.error.kind == "invalid_arguments"


async def test_a_tool_decorated_at_module_level_runs_in_its_jail() -> None:
    # The child imports the module again: its detect_sandbox() and python_tool() run there.
    result = await run(functions.decorated, x=7)
    assert result.ok, result.content
    assert result.content == f"[sandbox: {functions.DETECTED.isolation.level}] 49"


@pytest.fixture
def module_dir(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A directory on sys.path that any uid can read, for modules written by the test."""
    path = Path(tempfile.mkdtemp(prefix="mainspring-test-"))
    path.chmod(0o755)
    monkeypatch.syspath_prepend(str(path))
    yield path
    shutil.rmtree(path)


def write_module(path: Path, text: str) -> None:
    path.write_text(text)
    path.chmod(0o644)


async def test_code_it_imports_must_be_listed_and_then_is_found(
    jail: JailedSandbox, module_dir: Path
) -> None:
    helper, user = f"helper_{uuid.uuid4().hex}", f"tools_{uuid.uuid4().hex}"
    write_module(module_dir / f"{helper}.py", "FACTOR = 3\n")
    write_module(
        module_dir / f"{user}.py",
        f"import {helper}\n\ndef triple(x: int) -> int:\n"
        f'    """Triple."""\n    return x * {helper}.FACTOR\n',
    )
    module = __import__(user)
    try:
        missing = await run(tool(sandbox=jail)(module.triple), x=2)
        assert missing.error is not None and missing.error.kind == "tool_error"
        assert f"No module named '{helper}'" in missing.content
        assert "read_only_paths" in missing.content
        listed = Limits(timeout=20.0, read_only_paths=(module_dir / f"{helper}.py",))
        seen = make_sandbox(jail.isolation.level, limits=listed)
        found = await run(tool(sandbox=seen)(module.triple), x=2)
        assert found.ok, found.content
        assert found.content.endswith("] 6")
    finally:
        sys.modules.pop(user, None)
        sys.modules.pop(helper, None)
