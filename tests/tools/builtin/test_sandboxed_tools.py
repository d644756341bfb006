"""The `python` and `shell` tools, called the way an agent calls them: through the executor."""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from mainspring.errors import ConfigurationError
from mainspring.messages import ToolCall, ToolResult
from mainspring.sandbox import Limits
from mainspring.sandbox._interpreter import find_interpreter
from mainspring.sandbox._interpreter import mounts_for as _mounts_for
from mainspring.sandbox._report import TIMEOUT_SLACK
from mainspring.tools import CallContext, Principal, Tool, ToolExecutor, ToolRegistry
from mainspring.tools.builtin.python import python_tool
from mainspring.tools.builtin.shell import shell_tool
from tests.sandbox.conftest import make_sandbox, own_uids, record_runs, require_bwrap, until_warm


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A directory any uid can reach (pytest's tmp_path sits under a 0700 directory)."""
    path = Path(tempfile.mkdtemp(prefix="mainspring-test-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path)


LIMITS = Limits(timeout=2.0, cpu_seconds=2, max_output_bytes=2000)


def executor_for(*tools: Tool) -> ToolExecutor:
    registry = ToolRegistry()
    for built in tools:
        registry.register(built)
    return ToolExecutor(registry)


@pytest.fixture(params=["process", "namespaces"])
def level(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def executor(level: str) -> ToolExecutor:
    sandbox = make_sandbox(level, limits=LIMITS)
    return executor_for(python_tool(sandbox), shell_tool(sandbox))


async def call(executor: ToolExecutor, name: str, **arguments: str) -> ToolResult:
    return await executor.execute(ToolCall("c1", name, arguments))


async def test_python_prints_its_result(executor: ToolExecutor, level: str) -> None:
    result = await call(executor, "python", code="print(sum(range(10)))")
    assert result.ok
    # Issue 11: every result starts with the isolation level that was in force.
    assert result.content == f"[sandbox: {level}] exit code 0\nstdout:\n45"


async def test_python_error_is_a_readable_result(executor: ToolExecutor, level: str) -> None:
    result = await call(executor, "python", code="1 / 0")
    assert result.ok  # the program failed, the tool did its job: the model reads the traceback
    assert result.content.startswith(f"[sandbox: {level}] exit code 1\nstderr:\nTraceback")
    assert "ZeroDivisionError" in result.content


async def test_shell_runs_a_command_line(executor: ToolExecutor, level: str) -> None:
    result = await call(executor, "shell", command="echo hi > f.txt && cat f.txt && echo oops >&2")
    assert result.content == f"[sandbox: {level}] exit code 0\nstdout:\nhi\nstderr:\noops"


async def test_timeout_becomes_a_timeout_result_with_partial_output(
    executor: ToolExecutor,
) -> None:
    code = "import time\nprint('working', flush=True)\ntime.sleep(30)"
    result = await call(executor, "python", code=code)
    assert not result.ok
    assert result.error is not None and result.error.kind == "timeout"
    assert "2s wall-clock limit" in result.content
    assert "working" in result.content


async def test_flood_becomes_a_sandbox_violation_with_advice(executor: ToolExecutor) -> None:
    result = await call(executor, "shell", command="yes")
    assert result.error is not None and result.error.kind == "sandbox_violation"
    assert "printed more than 2000 bytes" in result.content
    assert "[stdout cut at 2000 bytes]" in result.content
    assert len(result.content) < 2600


async def test_cpu_limit_becomes_a_sandbox_violation(level: str) -> None:
    limits = Limits(timeout=5.0, cpu_seconds=1)
    sandbox = make_sandbox(level, limits=limits)
    result = await executor_for(python_tool(sandbox)).execute(
        ToolCall("c1", "python", {"code": "while True: pass"})
    )
    assert result.error is not None and result.error.kind == "sandbox_violation"
    assert "used its 1 CPU seconds" in result.content


async def test_killed_by_a_signal_is_reported(executor: ToolExecutor, level: str) -> None:
    result = await call(executor, "python", code="import ctypes\nctypes.string_at(0)")
    assert result.ok
    assert result.content.startswith(f"[sandbox: {level}] killed by SIGSEGV")


async def test_the_next_call_after_an_attack_works(executor: ToolExecutor, level: str) -> None:
    await call(executor, "shell", command="yes")
    result = await call(executor, "python", code="print('fine')")
    assert result.content == f"[sandbox: {level}] exit code 0\nstdout:\nfine"


def test_tools_declare_their_sandbox_and_describe_it_honestly() -> None:
    strong = make_sandbox("namespaces", limits=LIMITS)
    weak = make_sandbox("process", limits=LIMITS)
    protections = weak.isolation.protections
    weak_network = (
        "no network access"  # issue 11: the socket filter blocks every network family
        if "seccomp_network" in protections
        else "no TCP connections"
        if "landlock_tcp" in protections
        else "not blocked"
    )
    for sandbox, network in ((strong, "no network access"), (weak, weak_network)):
        for built in (python_tool(sandbox), shell_tool(sandbox)):
            assert built.policy.sandbox is sandbox
            assert network in built.description
            assert built.policy.timeout is not None and built.policy.timeout > LIMITS.timeout
    schema = python_tool(strong).parameters
    assert schema["required"] == ["code"]
    assert "print()" in schema["properties"]["code"]["description"]


def test_interpreter_is_runnable_by_any_uid() -> None:
    interpreter = find_interpreter()
    assert os.access(interpreter, os.X_OK)
    assert all(p.stat().st_mode & 0o001 for p in interpreter.parents)


def test_interpreter_outside_usr_is_mounted_read_only() -> None:
    assert _mounts_for(Path("/opt/python/bin/python3")) == (Path("/opt/python"),)
    assert _mounts_for(Path("/usr/bin/python3.11")) == ()


async def test_memory_limit_becomes_a_sandbox_violation(level: str) -> None:
    sandbox = make_sandbox(level, limits=Limits(memory_bytes=96 * 2**20), cgroups=True)
    if sandbox._cgroups is None:
        pytest.skip("memory cgroups are not available to this process")
    code = "import os\nfd = os.memfd_create('m')\nfor _ in range(60): os.write(fd, b'x' * 2**20)"
    code += "\nfd2 = os.memfd_create('n')\nfor _ in range(60): os.write(fd2, b'x' * 2**20)"
    result = await executor_for(python_tool(sandbox)).execute(
        ToolCall("c1", "python", {"code": code})
    )
    assert result.error is not None and result.error.kind == "sandbox_violation"
    assert "over its 96 MiB memory limit" in result.content


async def test_a_shared_workspace_carries_files_between_calls(level: str, shared_dir: Path) -> None:
    sandbox = make_sandbox(level, limits=LIMITS)
    executor = executor_for(
        python_tool(sandbox, workspace=shared_dir), shell_tool(sandbox, workspace=shared_dir)
    )
    await executor.execute(ToolCall("1", "shell", {"command": "echo 41 > n.txt"}))
    code = "print(int(open('n.txt').read()) + 1)"
    result = await executor.execute(ToolCall("2", "python", {"code": code}))
    assert result.content == f"[sandbox: {level}] exit code 0\nstdout:\n42"
    assert "kept between calls" in python_tool(sandbox, workspace=shared_dir).description


# --- issue 11: the minimum isolation, the level in every result and log line, the policy ----


def test_no_sandbox_refuses_below_namespaces_naming_the_level_and_the_fix(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")  # no bwrap to be found: only 'process' is left
    for builder in (python_tool, shell_tool):
        with pytest.raises(ConfigurationError) as refused:
            builder()
        message = str(refused.value)
        assert "below the 'namespaces' isolation level" in message
        assert "only offers 'process'" in message
        assert "bubblewrap" in message and "allow_weaker=True" in message


async def test_allow_weaker_runs_at_the_process_level_and_says_so(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with caplog.at_level(logging.INFO, logger="mainspring.sandbox"):
        built = python_tool(allow_weaker=True, limits=LIMITS)
        monkeypatch.undo()
        result = await call(executor_for(built), "python", code="print(1)")
    assert "(process sandbox)" in built.description
    assert result.content == "[sandbox: process] exit code 0\nstdout:\n1"
    assert any(
        r.levelno == logging.WARNING and "at the process level (allow_weaker=True)" in r.message
        for r in caplog.records
    )
    ran = [r.message for r in caplog.records if "ran in the sandbox" in r.message]
    assert ran and all("at level process" in line for line in ran)


def test_the_default_is_namespaced_where_it_works() -> None:
    require_bwrap()
    assert python_tool().policy.sandbox.isolation.level == "namespaces"


async def test_code_tools_take_the_policy_arguments_of_tool(level: str) -> None:
    sandbox = make_sandbox(level, limits=LIMITS)
    gated = shell_tool(
        sandbox,
        name="gated_shell",
        timeout=1.5,
        rate_limit="1/min",
        breaker=3,
        scopes={"shell"},
        requires_approval=True,
        secrets={"command"},
        idempotent=True,
    )
    policy = gated.policy
    assert gated.name == "gated_shell" and "1.5s wall clock" in gated.description
    assert policy.timeout == 1.5 + TIMEOUT_SLACK and policy.sandbox is sandbox
    assert policy.rate_limit is not None and policy.rate_limit.limit == 1
    assert policy.breaker is not None and policy.breaker.failures == 3
    assert policy.scopes == {"shell"} and policy.requires_approval and policy.idempotent
    assert policy.secrets == {"command"}
    executor = executor_for(gated)
    call_ = ToolCall("1", "gated_shell", {"command": "echo hi"})
    assert (await executor.execute(call_)).error.kind == "forbidden"  # type: ignore[union-attr]
    allowed = CallContext(principal=Principal("ops", frozenset({"shell"})), approver=lambda _: True)
    result = await executor.execute(call_, allowed)
    assert result.content == f"[sandbox: {level}] exit code 0\nstdout:\nhi"
    slow = ToolCall("2", "shell", {"command": "sleep 30"})
    stopped = await executor_for(shell_tool(sandbox, timeout=1.5)).execute(slow)
    assert stopped.error is not None and stopped.error.kind == "timeout"
    assert stopped.content.startswith(f"[sandbox: {level}] the run was stopped at the 1.5s")
    with pytest.raises(ConfigurationError, match="secrets names unknown parameters"):
        python_tool(sandbox, secrets={"password"})


@pytest.mark.parametrize(
    ("builder", "arguments"),
    [(python_tool, {"code": "print(6 * 7)"}), (shell_tool, {"command": "echo $((6 * 7))"})],
)
async def test_code_tools_run_warm_after_their_first_call(
    level: str, builder: object, arguments: dict[str, str]
) -> None:
    with make_sandbox(level, all_warm=False, limits=LIMITS, **own_uids()) as sandbox:
        built = builder(sandbox)  # type: ignore[operator]
        results = record_runs(sandbox)
        executor = executor_for(built)
        first = await call(executor, built.name, **arguments)
        await until_warm(sandbox)
        second = await call(executor, built.name, **arguments)
    assert [r.warm for r in results] == [False, True]
    assert first.content == second.content and "42" in second.content
