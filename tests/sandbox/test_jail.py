"""The sandbox's own contract: limits, results, workspaces, concurrency, cancellation."""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

import anyio
import pytest

from mainspring.errors import ConfigurationError
from mainspring.sandbox import (
    BubblewrapSandbox,
    Limits,
    ProcessSandbox,
    Sandbox,
    UidPool,
    detect_sandbox,
)
from mainspring.sandbox._jail import pids_of
from mainspring.sandbox._runner import JailedSandbox
from tests.sandbox.conftest import (
    IS_ROOT,
    PYTHON,
    SANDBOX_UIDS,
    make_sandbox,
    processes_of,
    require_bwrap,
)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("timeout", 0, "timeout must be positive"),
        ("cpu_seconds", 0, "cpu_seconds must be >= 1"),
        ("memory_bytes", 1024, "below 32 MiB"),
        ("max_output_bytes", 0, "max_output_bytes must be >= 1"),
        ("read_only_paths", (Path("relative"),), "must be absolute"),
    ],
)
def test_bad_limits_are_refused_with_the_fix(field: str, value: object, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        Limits(**{field: value})  # type: ignore[arg-type]


def test_sandboxes_satisfy_the_protocol() -> None:
    assert isinstance(ProcessSandbox(), Sandbox)
    if shutil.which("bwrap"):
        assert isinstance(BubblewrapSandbox(), Sandbox)


def test_bad_configuration_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="max_concurrent must be >= 1"):
        ProcessSandbox(max_concurrent=0)
    with pytest.raises(ConfigurationError, match="not installed"):
        BubblewrapSandbox(bwrap="/nonexistent/bwrap-missing")


@pytest.mark.skipif(not IS_ROOT, reason="paths only need to be reachable by a leased uid")
async def test_unreachable_paths_are_refused_with_the_fix(tmp_path: Path) -> None:
    require_bwrap()
    sandbox = make_sandbox("namespaces")
    with pytest.raises(ConfigurationError, match="chmod o\\+x"):
        await sandbox.run(["true"], limits=Limits(read_only_paths=(tmp_path,)))
    with pytest.raises(ConfigurationError, match="chmod o\\+x"):
        await sandbox.run(["true"], workspace=tmp_path)


def test_uid_range_is_validated() -> None:
    with pytest.raises(ConfigurationError, match="uids >= 1000"):
        UidPool(0, 10)


async def test_success_reports_output_times_and_isolation(sandbox: JailedSandbox) -> None:
    result = await sandbox.run(["/bin/sh", "-c", "echo out; echo err >&2; exit 3"])
    assert (result.exit_code, result.stdout, result.stderr) == (3, "out\n", "err\n")
    assert not result.ok and result.killed is None and result.signal is None
    assert result.wall_seconds > 0
    assert result.isolation.protections == sandbox.isolation.protections
    assert result.isolation.level == sandbox.isolation.level
    assert {"rlimits", "scrubbed_env", "process_group"} <= result.isolation.protections
    assert ("own_uid" in result.isolation.protections) == IS_ROOT
    if IS_ROOT:
        assert result.isolation.uid in SANDBOX_UIDS


async def test_stdin_and_extra_env_reach_the_command(sandbox: JailedSandbox) -> None:
    result = await sandbox.run(
        [PYTHON, "-c", "import os, sys; print(sys.stdin.read(), os.environ['GREETING'])"],
        stdin=b"hello",
        env={"GREETING": "world"},
    )
    assert result.stdout == "hello world\n"


async def test_bad_env_names_are_refused(sandbox: JailedSandbox) -> None:
    with pytest.raises(ConfigurationError, match="invalid"):
        await sandbox.run(["true"], env={"A=B": "x"})
    with pytest.raises(ConfigurationError, match="argv is empty"):
        await sandbox.run([])


async def test_given_workspace_is_used_and_kept(sandbox: JailedSandbox, shared_dir: Path) -> None:
    tmp_path = shared_dir
    (tmp_path / "input.txt").write_text("41")
    result = await sandbox.run(
        ["/bin/sh", "-c", "echo $(( $(cat input.txt) + 1 )) > output.txt"], workspace=tmp_path
    )
    assert result.ok, result.stderr
    assert result.workspace == tmp_path.resolve()
    assert (tmp_path / "output.txt").read_text() == "42\n"


async def test_keep_workspace_returns_its_path(level: str) -> None:
    sandbox = make_sandbox(level, keep_workspace=True)
    result = await sandbox.run(["/bin/sh", "-c", "echo kept > file.txt"])
    assert result.workspace is not None
    assert (result.workspace / "file.txt").read_text() == "kept\n"
    shutil.rmtree(result.workspace.parent)


async def test_missing_read_only_path_is_a_configuration_error() -> None:
    require_bwrap()
    sandbox = make_sandbox("namespaces")
    with pytest.raises(ConfigurationError, match="does not exist"):
        await sandbox.run(["true"], limits=Limits(read_only_paths=(Path("/nonexistent/dir"),)))


async def test_read_only_paths_are_visible_but_not_writable(shared_dir: Path) -> None:
    require_bwrap()
    tmp_path = shared_dir
    (tmp_path / "data.txt").write_text("shared")
    sandbox = make_sandbox("namespaces")
    result = await sandbox.run(
        ["/bin/sh", "-c", f"cat {tmp_path}/data.txt; echo x > {tmp_path}/data.txt"],
        limits=Limits(read_only_paths=(tmp_path,)),
    )
    assert result.stdout == "shared"
    assert "Read-only file system" in result.stderr
    assert (tmp_path / "data.txt").read_text() == "shared"


async def test_concurrency_is_capped(level: str) -> None:
    sandbox = make_sandbox(level, max_concurrent=1)
    started = anyio.current_time()
    async with anyio.create_task_group() as group:
        for _ in range(3):
            group.start_soon(sandbox.run, ["sleep", "0.3"])
    # One at a time: three sleeps cannot overlap.
    assert anyio.current_time() - started >= 0.9


async def test_cancelling_the_call_kills_the_run(sandbox: JailedSandbox) -> None:
    with anyio.move_on_after(0.5):
        await sandbox.run(["sleep", "30"])
    if IS_ROOT:
        for _ in range(60):
            if not processes_of(SANDBOX_UIDS):
                break
            await anyio.sleep(0.05)
        assert processes_of(SANDBOX_UIDS) == []


@pytest.mark.skipif(not IS_ROOT, reason="uid leases are used only as root")
def test_uid_leases_exclude_each_other(tmp_path: Path) -> None:
    pool = UidPool(900_000, 2, lock_dir=tmp_path / "locks")
    other = UidPool(900_000, 2, lock_dir=tmp_path / "locks")
    held: list[int] = []
    with pool.lease() as first, other.lease() as second:
        held += [first, second]
        assert first != second
        blocked = threading.Event()

        def third() -> None:
            with pool.lease():
                blocked.set()

        thread = threading.Thread(target=third)
        thread.start()
        assert not blocked.wait(0.2)  # both uids are taken: the third lease waits
    thread.join(2)
    assert blocked.is_set()
    assert sorted(held) == [900_000, 900_001]


def test_uid_lock_dir_must_belong_to_us(tmp_path: Path) -> None:
    planted = tmp_path / "planted"
    planted.symlink_to(tmp_path)
    with (
        pytest.raises(ConfigurationError, match="must be a directory owned"),
        UidPool(lock_dir=planted).lease(),
    ):
        pass


def test_pids_of_finds_live_processes_only() -> None:
    assert os.getpid() in pids_of(os.geteuid())


def test_detect_picks_the_strongest_working_level() -> None:
    require_bwrap()
    assert isinstance(detect_sandbox(), BubblewrapSandbox)
    assert detect_sandbox(minimum="namespaces").isolation.level == "namespaces"


def test_detect_falls_back_honestly_or_refuses() -> None:
    weak = detect_sandbox(bwrap="/nonexistent/bwrap")
    assert isinstance(weak, ProcessSandbox)
    assert weak.isolation.level == "process"
    # Issue 11: the network counts as blocked at this level only under the socket filter.
    blocked = "seccomp_network" in weak.isolation.protections
    assert weak.isolation.network_blocked == blocked
    assert "network_namespace" not in weak.isolation.protections
    with pytest.raises(ConfigurationError, match="namespaced sandbox was required"):
        detect_sandbox(minimum="namespaces", bwrap="/nonexistent/bwrap")


@pytest.mark.skipif(not IS_ROOT, reason="only a root caller hands the workspace to a run's uid")
async def test_symlinks_in_a_kept_workspace_do_not_redirect_the_chown(
    sandbox: JailedSandbox, shared_dir: Path
) -> None:
    victim = shared_dir / "victim"
    victim.mkdir()
    (victim / "file").write_text("host")
    space = shared_dir / "space"
    space.mkdir()
    (space / "link").symlink_to(victim)
    (space / "filelink").symlink_to(victim / "file")
    result = await sandbox.run(["true"], workspace=space)
    assert result.ok
    assert (victim / "file").stat().st_uid == 0 and victim.stat().st_uid == 0


async def test_landlock_lets_listed_paths_be_read_only(shared_dir: Path) -> None:
    weak = make_sandbox("process")
    if "landlock_filesystem" not in weak.isolation.protections:
        pytest.skip("this kernel has no Landlock")
    (shared_dir / "data.txt").write_text("shared")
    command = f"cat {shared_dir}/data.txt; echo x > {shared_dir}/data.txt"
    hidden = await weak.run(["/bin/sh", "-c", command])
    assert hidden.stdout == "" and "Permission denied" in hidden.stderr
    listed = await weak.run(
        ["/bin/sh", "-c", command], limits=Limits(read_only_paths=(shared_dir,))
    )
    assert listed.stdout == "shared"
    assert "Permission denied" in listed.stderr
    assert (shared_dir / "data.txt").read_text() == "shared"
