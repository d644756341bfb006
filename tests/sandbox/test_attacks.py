"""The attack suite: hostile code at every isolation level must end contained.

Contained means: the host is unchanged, the result says clearly what happened, no process of the
run survives it, and the next call works. Where a level does not stop an attack (the process
level does not hide world-readable files or cut the network), the test checks that the result
does not claim otherwise.
"""

from __future__ import annotations

import os
import signal
import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import anyio
import pytest

from mainspring.sandbox import BubblewrapSandbox, ProcessSandbox, SandboxResult
from mainspring.sandbox._runner import JailedSandbox
from tests.sandbox.conftest import (
    IS_ROOT,
    PYTHON,
    SANDBOX_UIDS,
    TEST_LIMITS,
    bwrap_problem,
    make_sandbox,
    processes_of,
)

SECRET = "sk-test-" + uuid.uuid4().hex
HERE = os.path.realpath(__file__)


async def py(sandbox: JailedSandbox, code: str, **limits: object) -> SandboxResult:
    run_limits = replace(TEST_LIMITS, **limits) if limits else None  # type: ignore[arg-type]
    return await sandbox.run([PYTHON, "-I", "-"], stdin=code.encode(), limits=run_limits)


async def sh(sandbox: JailedSandbox, command: str, **limits: object) -> SandboxResult:
    run_limits = replace(TEST_LIMITS, **limits) if limits else None  # type: ignore[arg-type]
    return await sandbox.run(["/bin/sh", "-c", command], limits=run_limits)


async def assert_contained(sandbox: JailedSandbox, check: Callable[[], None]) -> None:
    """Nothing of the run is alive, and the next call works normally."""
    check()
    after = await py(sandbox, "print(6 * 7)")
    assert after.ok, after.stderr
    assert after.stdout == "42\n"


needs_root = pytest.mark.skipif(not IS_ROOT, reason="the own-uid protections need root")


@pytest.fixture(autouse=True)
def contained_afterwards(no_leftovers: Callable[[], None]) -> Iterator[None]:
    """After every attack: nothing of it is alive, and a new call at each level works."""
    yield
    no_leftovers()
    levels = ["process"] + (["namespaces"] if bwrap_problem() is None else [])
    for level in levels:
        after = make_sandbox(level)._run_sync(
            [PYTHON, "-c", "print(42)"], TEST_LIMITS, b"", None, None, threading.Event()
        )
        assert after.stdout == "42\n", f"the {level} level broke after the attack: {after}"


# --- files ---------------------------------------------------------------------------------


@needs_root
async def test_etc_shadow_is_unreadable(sandbox: JailedSandbox) -> None:
    result = await py(sandbox, "print(open('/etc/shadow').read())")
    assert result.exit_code == 1
    assert "root:" not in result.stdout
    error = "No such file" if result.isolation.level == "namespaces" else "Permission denied"
    assert error in result.stderr


async def test_private_host_file_is_unreadable(sandbox: JailedSandbox, tmp_path: Path) -> None:
    secret_file = tmp_path / "secret.txt"
    secret_file.write_text(SECRET)
    secret_file.chmod(0o600)
    result = await py(sandbox, f"print(open({str(secret_file)!r}).read())")
    assert result.exit_code == 1
    assert SECRET not in result.stdout


async def test_namespaced_run_sees_no_host_files(strong: JailedSandbox) -> None:
    result = await sh(strong, f"ls /; cat {HERE} /etc/passwd /root/.bashrc 2>&1; ls /home /work")
    assert "No such file" in result.stdout + result.stderr
    assert "def test_namespaced_run_sees_no_host_files" not in result.stdout
    assert "root:x:0:0" not in result.stdout
    assert sorted(result.stdout.split("\n", 1)[0:1]) != []
    visible = set(result.stdout.splitlines()[:20])
    assert "work" not in visible and "root" not in visible and "home" not in visible


async def test_writes_outside_workspace_fail(sandbox: JailedSandbox, tmp_path: Path) -> None:
    targets = [
        tmp_path / "planted",
        Path("/usr") / f"planted-{uuid.uuid4().hex}",
        Path("/etc") / f"planted-{uuid.uuid4().hex}",
    ]
    if isinstance(sandbox, BubblewrapSandbox):
        # World-writable directories stay writable at the process level (docs/security.md).
        targets.append(Path("/tmp") / f"planted-{uuid.uuid4().hex}")
    code = (
        f"for path in {[str(t) for t in targets]!r}:\n"
        "    try:\n        open(path, 'w').write('x'); print('WROTE', path)\n"
        "    except OSError as exc:\n        print('denied', path, type(exc).__name__)\n"
    )
    result = await py(sandbox, code)
    for target in targets:
        if IS_ROOT or result.isolation.level == "namespaces":
            assert not target.exists(), f"{target} was written from the sandbox"
        target.unlink(missing_ok=True)
    if IS_ROOT or result.isolation.level == "namespaces":
        assert "WROTE /usr" not in result.stdout and "WROTE /etc" not in result.stdout


async def test_workspace_is_fresh_private_and_removed(sandbox: JailedSandbox) -> None:
    first = await sh(sandbox, "ls -A; echo data > left.txt; pwd")
    assert first.ok and first.stdout.splitlines()[0:1] != ["left.txt"]
    second = await sh(sandbox, "ls -A")
    assert second.ok and second.stdout == ""
    workspace = first.stdout.split()[-1]
    if first.isolation.level == "process":
        assert not await anyio.Path(workspace).exists()


async def test_symlinks_planted_in_workspace_do_not_reach_the_host(
    sandbox: JailedSandbox, tmp_path: Path
) -> None:
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "keep.txt").write_text("keep")
    result = await sh(sandbox, f"ln -s {victim} link; ln -s /etc etc; mkdir -p d/e; chmod 000 d")
    assert result.ok, result.stderr
    assert await anyio.Path(victim / "keep.txt").read_text() == "keep"
    assert await anyio.Path("/etc/passwd").exists()


async def test_file_size_limit(sandbox: JailedSandbox) -> None:
    code = "f = open('big', 'wb')\nfor _ in range(64): f.write(b'x' * 2**20)\n"
    result = await py(sandbox, code, max_file_bytes=2**20)
    assert result.exit_code == 1
    assert "File too large" in result.stderr


async def test_private_tmp_is_size_limited(strong: JailedSandbox) -> None:
    result = await sh(strong, "head -c 50000000 /dev/zero > /tmp/fill", tmp_bytes=2**20)
    assert result.exit_code != 0
    assert "No space left" in result.stderr


# --- network -------------------------------------------------------------------------------


@pytest.fixture
def listener() -> Iterator[tuple[int, list[bytes]]]:
    """A TCP server on 127.0.0.1 recording whatever connects."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.2)
    received: list[bytes] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            received.append(conn.recv(100) or b"<connected>")
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1], received
    stop.set()
    thread.join()
    server.close()


async def test_no_network_in_namespaces(
    strong: JailedSandbox, listener: tuple[int, list[bytes]]
) -> None:
    port, received = listener
    code = (
        f"import socket\ns = socket.create_connection(('127.0.0.1', {port}), timeout=2)\n"
        "s.sendall(b'stolen')\nprint('CONNECTED')\n"
    )
    result = await py(strong, code)
    assert result.exit_code == 1
    assert "CONNECTED" not in result.stdout
    assert received == []
    assert result.isolation.network_blocked


async def test_process_level_does_not_claim_a_network_block(weak: JailedSandbox) -> None:
    result = await py(weak, "print(1)")
    assert not result.isolation.network_blocked
    assert "network_namespace" not in result.isolation.protections


async def test_network_can_be_allowed_explicitly(strong: JailedSandbox) -> None:
    result = await py(strong, "import socket; print(socket.gethostname())", network=True)
    assert result.ok
    assert not result.isolation.network_blocked


# --- processes -----------------------------------------------------------------------------


@needs_root
@pytest.mark.slow
async def test_python_fork_bomb_is_contained(
    sandbox: JailedSandbox, no_leftovers: Callable[[], None]
) -> None:
    code = "import os\nwhile True:\n    try: os.fork()\n    except OSError: pass\n"
    result = await py(sandbox, code, timeout=2.0, max_processes=16)
    assert result.killed in ("timeout", "cpu_limit")
    await assert_contained(sandbox, no_leftovers)


@needs_root
@pytest.mark.slow
async def test_shell_fork_bomb_is_contained(
    sandbox: JailedSandbox, no_leftovers: Callable[[], None]
) -> None:
    result = await sh(sandbox, "b() { b | b & }; b", timeout=2.0, max_processes=16)
    assert result.killed == "timeout" or result.exit_code is not None
    await assert_contained(sandbox, no_leftovers)


async def test_background_processes_do_not_survive(
    sandbox: JailedSandbox, no_leftovers: Callable[[], None]
) -> None:
    marker = f"bg-{uuid.uuid4().hex}"
    result = await sh(
        sandbox, f"(sleep 30; echo {marker}) & nohup sleep 31 >/dev/null 2>&1 & echo ok"
    )
    assert result.ok and result.stdout == "ok\n"
    assert result.wall_seconds < 10  # far below the 30 s the background sleeps want
    await assert_contained(sandbox, no_leftovers)
    listing = await anyio.run_process(["ps", "-eo", "args"])
    assert marker not in listing.stdout.decode()


@needs_root
async def test_setsid_double_fork_escape_is_killed(
    sandbox: JailedSandbox, no_leftovers: Callable[[], None]
) -> None:
    code = (
        "import os, time\n"
        "if os.fork() == 0:\n"
        "    os.setsid()\n"
        "    if os.fork() == 0:\n"
        "        time.sleep(60)\n"
        "    os._exit(0)\n"
        "print('parent done')\n"
    )
    # The escape races the cleanup (the child exits as the grandchild appears): try it often.
    for _ in range(10):
        result = await py(sandbox, code)
        assert result.ok
        assert processes_of(SANDBOX_UIDS) == []
    await assert_contained(sandbox, no_leftovers)


async def test_signals_cannot_reach_host_processes(sandbox: JailedSandbox) -> None:
    if not IS_ROOT and isinstance(sandbox, ProcessSandbox):
        pytest.skip("without an own uid the process level shares the caller's signal rights")
    bystander = await anyio.open_process(["sleep", "30"])
    try:
        code = (
            "import os, signal\n"
            f"for pid in ({bystander.pid}, {os.getpid()}, os.getppid(), 1):\n"
            "    try: os.kill(pid, signal.SIGKILL); print('killed', pid)\n"
            "    except OSError as exc: print('refused', pid, type(exc).__name__)\n"
            "try: os.kill(-1, signal.SIGKILL)\nexcept OSError: pass\n"
        )
        result = await py(sandbox, code)
        assert bystander.returncode is None, "a host process was killed from the sandbox"
        assert f"killed {bystander.pid}" not in result.stdout
        assert f"killed {os.getpid()}" not in result.stdout
    finally:
        bystander.kill()
        await bystander.wait()


# --- resources -----------------------------------------------------------------------------


async def test_four_gigabyte_allocation_fails(sandbox: JailedSandbox) -> None:
    result = await py(sandbox, "b = bytearray(4 * 2**30)\nprint('ALLOCATED')")
    assert result.exit_code == 1
    assert "MemoryError" in result.stderr
    assert "ALLOCATED" not in result.stdout
    assert result.peak_memory_bytes is None  # measured only with a memory cgroup


async def test_infinite_loop_hits_the_cpu_limit(sandbox: JailedSandbox) -> None:
    result = await py(sandbox, "while True: pass", cpu_seconds=1)
    assert result.killed == "cpu_limit"
    assert result.exit_code is None and result.signal in (signal.SIGXCPU, signal.SIGKILL)
    assert result.cpu_seconds >= 0.5  # rusage is coarse on a loaded machine


async def test_sleep_past_the_timeout_is_killed(
    sandbox: JailedSandbox, no_leftovers: Callable[[], None]
) -> None:
    result = await py(
        sandbox, "import time\nprint('start', flush=True)\ntime.sleep(60)", timeout=1.0
    )
    assert result.killed == "timeout"
    assert result.stdout == "start\n"
    assert result.wall_seconds < 5  # the 1 s limit plus the kill, on a loaded machine
    await assert_contained(sandbox, no_leftovers)


async def test_deep_recursion_ends(sandbox: JailedSandbox) -> None:
    code = "import sys\nsys.setrecursionlimit(10**7)\ndef f(n): return f(n + 1)\nf(0)"
    result = await py(sandbox, code, timeout=2.0)
    assert not result.ok
    # CPython 3.11 overflows the C stack (SIGSEGV) or, with a larger stack, grows until killed.
    assert result.signal == signal.SIGSEGV or result.killed is not None or result.exit_code
    await assert_contained(sandbox, lambda: None)


@pytest.mark.parametrize("stream", ["stdout", "stderr"])
async def test_output_flood_is_cut_and_stopped(sandbox: JailedSandbox, stream: str) -> None:
    code = f"import sys\nwhile True: sys.{stream}.write('x' * 4096)"
    result = await py(sandbox, code, max_output_bytes=10_000)
    assert result.killed == "output_limit"
    assert len(getattr(result, stream)) == 10_000
    assert getattr(result, f"{stream}_truncated")


async def test_binary_output_is_decoded_safely(sandbox: JailedSandbox) -> None:
    result = await py(sandbox, "import sys; sys.stdout.buffer.write(bytes(range(256)))")
    assert result.ok
    assert "\ufffd" in result.stdout


# --- environment and introspection ---------------------------------------------------------


async def test_environment_secrets_do_not_leak(
    sandbox: JailedSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    code = (
        "import os, glob\nprint(dict(os.environ))\n"
        "for path in glob.glob('/proc/*/environ'):\n"
        "    try: print(path, open(path, 'rb').read())\n"
        "    except OSError: pass\n"
    )
    result = await py(sandbox, code)
    assert result.ok, result.stderr
    assert SECRET not in result.stdout
    assert "OPENAI_API_KEY" not in result.stdout
    if result.isolation.level == "namespaces":
        assert "/proc/1/environ" in result.stdout  # readable, and scrubbed


async def test_code_runs_in_another_process_without_mainspring(sandbox: JailedSandbox) -> None:
    code = (
        "import os, sys, gc\n"
        "print(os.getpid(), 'mainspring' in sys.modules)\n"
        "print(any('mainspring' in repr(type(o)) for o in gc.get_objects()))\n"
        "try:\n    import mainspring\n    print('IMPORTED')\nexcept ImportError:\n    print('no')\n"
    )
    result = await py(sandbox, code)
    assert result.ok, result.stderr
    pid, in_modules = result.stdout.split("\n")[0].split()
    assert int(pid) != os.getpid()
    assert result.stdout.split("\n")[1:3] == ["False", "no"]
    assert in_modules == "False"


async def test_nested_namespaces_and_privileges_are_refused(strong: JailedSandbox) -> None:
    result = await sh(
        strong, "unshare -U -r true && echo NESTED; grep -E 'NoNewPrivs|CapEff' /proc/self/status"
    )
    assert "NESTED" not in result.stdout
    assert "NoNewPrivs:\t1" in result.stdout
    assert "CapEff:\t0000000000000000" in result.stdout


async def test_setuid_binaries_gain_nothing(sandbox: JailedSandbox) -> None:
    result = await sh(sandbox, "grep NoNewPrivs /proc/self/status; su -c id root </dev/null")
    assert "NoNewPrivs:\t1" in result.stdout
    assert "uid=0(root)" not in result.stdout


SECCOMP_PROBE = """
import ctypes, errno, os
libc = ctypes.CDLL(None, use_errno=True)
def attempt(label, name, *args):
    result = getattr(libc, name)(*args)
    print(label, 'OK' if result >= 0 else errno.errorcode[ctypes.get_errno()])
attempt('unshare', 'unshare', 0x10000000)           # CLONE_NEWUSER
attempt('ptrace', 'ptrace', 0, 0, 0, 0)             # PTRACE_TRACEME
attempt('io_uring', 'syscall', 425, 8, 0)           # io_uring_setup
attempt('bpf', 'syscall', 321, 0, 0, 0)
attempt('userfaultfd', 'syscall', 323, 0)
pid = os.fork()
if pid == 0:
    os._exit(0)
os.waitpid(pid, 0)
print('fork OK')
"""


async def test_seccomp_denies_the_kernel_attack_surface(sandbox: JailedSandbox) -> None:
    if "seccomp" not in sandbox.isolation.protections:
        pytest.skip("the `sandbox` extra (pyseccomp) or libseccomp is not installed")
    if os.uname().machine != "x86_64":
        pytest.skip("the probe uses x86_64 syscall numbers")
    result = await py(sandbox, SECCOMP_PROBE)
    assert result.ok, result.stderr
    assert "seccomp" in result.isolation.protections
    assert result.stdout.splitlines() == [
        "unshare EPERM",
        "ptrace EPERM",
        "io_uring EPERM",
        "bpf EPERM",
        "userfaultfd EPERM",
        "fork OK",
    ]


async def test_concurrent_runs_each_get_their_filter(strong: JailedSandbox) -> None:
    results: list[SandboxResult] = []

    async def one() -> None:
        results.append(await py(strong, "print('ok')"))

    async with anyio.create_task_group() as group:
        for _ in range(4):
            group.start_soon(one)
    assert [r.stdout for r in results] == ["ok\n"] * 4


async def test_making_the_jail_a_tracer_does_not_break_it() -> None:
    # Without seccomp, PTRACE_TRACEME makes the jail's runner the tracer of the command; its
    # ptrace stops must not be mistaken for an exit (or crash the runner).
    sandbox = make_sandbox("process", seccomp=False)
    code = (
        "import ctypes, os\nctypes.CDLL(None).ptrace(0, 0, 0, 0)\n"
        "pid = os.fork()\nif pid == 0: os._exit(0)\nos.waitpid(pid, 0)\nprint('survived')\n"
    )
    result = await py(sandbox, code)
    assert result.ok, result.stderr
    assert result.stdout == "survived\n"


@pytest.fixture
def landlocked(weak: JailedSandbox) -> JailedSandbox:
    if "landlock_filesystem" not in weak.isolation.protections:
        pytest.skip("this kernel has no Landlock")
    return weak


async def test_landlock_hides_world_readable_files_and_tmp(landlocked: JailedSandbox) -> None:
    target = f"/tmp/planted-{uuid.uuid4().hex}"
    code = (
        f"for path in ({HERE!r}, '/etc/passwd'):\n"
        "    try: open(path).read(); print('READ', path)\n"
        "    except OSError as exc: print('denied', type(exc).__name__)\n"
        f"open({target!r}, 'w')\n"
    )
    result = await py(landlocked, code)
    assert "READ" not in result.stdout
    assert "PermissionError" in result.stderr
    assert not await anyio.Path(target).exists()


async def test_landlock_denies_tcp(
    landlocked: JailedSandbox, listener: tuple[int, list[bytes]]
) -> None:
    if "landlock_tcp" not in landlocked.isolation.protections:
        pytest.skip("this kernel's Landlock cannot restrict TCP (ABI < 4)")
    port, received = listener
    code = f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=2)\n"
    result = await py(landlocked, code)
    assert result.exit_code == 1 and "PermissionError" in result.stderr
    assert received == []
    allowed = await py(landlocked, code + "print('connected')", network=True)
    assert allowed.stdout == "connected\n"
    assert "landlock_tcp" not in allowed.isolation.protections


async def test_namespaced_workspace_cannot_fill_the_host_disk(strong: JailedSandbox) -> None:
    command = "for i in 1 2 3 4; do head -c 1000000 /dev/zero > f$i || exit 7; done"
    result = await sh(strong, command, tmp_bytes=2_500_000)
    assert result.exit_code == 7
    assert "No space left" in result.stderr
