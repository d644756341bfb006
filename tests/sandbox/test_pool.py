"""The warm pool: a pre-started jail runs one call with exactly a cold jail's isolation.

Each test primes the pool with `warm_up` (a blocking start of one jail), so that the call under
test is known to run warm (`result.warm`), and compares with what a cold jail does.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import cast

import anyio
import pytest

from mainspring.errors import ConfigurationError
from mainspring.sandbox import Limits, SandboxResult, WarmPool, _warm
from mainspring.sandbox._runner import JailedSandbox, WarmJail
from mainspring.sandbox._uids import UidPool
from mainspring.sandbox._warm import plan, trust_preamble
from tests.sandbox.conftest import FIRST_UID, IS_ROOT, PYTHON, TEST_LIMITS, make_sandbox

pytestmark = pytest.mark.anyio


@pytest.fixture
def sandbox(level: str) -> Iterator[JailedSandbox]:
    """A sandbox whose calls run warm only when its pool has a jail (never primed for them)."""
    with make_sandbox(level, all_warm=False) as made:
        yield made


async def warm_py(sandbox: JailedSandbox, code: str, **options: object) -> SandboxResult:
    """Run `code` with `python -c` in a jail primed just for it; it must run warm."""
    limits = options.get("limits")
    env = options.get("env")
    primed = await anyio.to_thread.run_sync(
        lambda: sandbox.warm_up(
            [PYTHON, "-c", code],
            limits=limits,  # type: ignore[arg-type]
            env=env,  # type: ignore[arg-type]
        )
    )
    assert primed, "the pool did not start a jail for the call"
    result = await sandbox.run([PYTHON, "-c", code], **options)  # type: ignore[arg-type]
    assert result.warm, f"the primed call ran cold: {result}"
    return result


def _idle(sandbox: JailedSandbox, argv: list[str] | None = None) -> list[WarmJail]:
    """The idle jails of the pool (only those for calls of `argv`, when given)."""
    pool = sandbox._pool
    assert pool is not None
    found = plan(argv, b"", sandbox.limits, None, PYTHON) if argv is not None else None
    with pool._cond:
        return [
            cast(WarmJail, entry)
            for shape, entries in pool._ready.items()
            if found is None or shape == found.shape
            for entry in entries
        ]


async def test_a_warm_call_matches_a_cold_one(sandbox: JailedSandbox) -> None:
    code = "import sys; print(sys.argv, __name__, sorted(globals()))"
    cold = await make_sandbox(sandbox.isolation.level, all_warm=False, pool=WarmPool(size=0)).run(
        [PYTHON, "-c", code, "x"]
    )
    await anyio.to_thread.run_sync(lambda: sandbox.warm_up([PYTHON, "-c", code, "x"]))
    warm = await sandbox.run([PYTHON, "-c", code, "x"])
    assert warm.warm and not cold.warm
    assert (warm.stdout, warm.stderr, warm.exit_code) == (cold.stdout, cold.stderr, 0)
    assert warm.isolation == replace(cold.isolation, uid=warm.isolation.uid)


@pytest.mark.parametrize(
    ("code", "exit_code"),
    [("raise SystemExit(3)", 3), ("raise ValueError('boom')", 1), ("import sys; sys.exit('x')", 1)],
)
async def test_failures_look_the_same_as_cold(
    sandbox: JailedSandbox, code: str, exit_code: int
) -> None:
    cold = await make_sandbox(sandbox.isolation.level, all_warm=False, pool=WarmPool(size=0)).run(
        [PYTHON, "-c", code]
    )
    warm = await warm_py(sandbox, code)
    assert (warm.exit_code, warm.stderr) == (cold.exit_code, cold.stderr)
    assert warm.exit_code == exit_code
    assert "_mainspring_warm" not in warm.stderr


async def test_python_from_stdin_and_stdin_for_code(sandbox: JailedSandbox) -> None:
    script = [PYTHON, "-I", "-"]
    program = b"import sys; print(sys.argv, sys.stdin.read() == '', sorted(globals()), __file__)"
    cold = await make_sandbox(sandbox.isolation.level, all_warm=False, pool=WarmPool(size=0)).run(
        script, stdin=program
    )
    assert await anyio.to_thread.run_sync(lambda: sandbox.warm_up(script, stdin=program))
    result = await sandbox.run(script, stdin=program)
    assert result.warm and result.stdout == cold.stdout
    assert result.stdout.startswith("['-'] True")
    fed = await warm_py(sandbox, "import sys; print(sys.stdin.read()[::-1])", stdin=b"abc")
    assert fed.stdout == "cba\n"


async def test_commands_other_than_python_are_execd(sandbox: JailedSandbox) -> None:
    command = ["/bin/sh", "-c", 'echo "$0" "$1"; cat', "zero", "one"]
    assert await anyio.to_thread.run_sync(lambda: sandbox.warm_up(command, stdin=b"in"))
    result = await sandbox.run(command, stdin=b"in")
    assert result.warm and result.stdout == "zero one\nin"
    assert plan(["sh", "-c", "true"], b"", TEST_LIMITS, None, PYTHON) is None  # not absolute


async def test_one_call_sees_nothing_of_another(sandbox: JailedSandbox) -> None:
    first = textwrap.dedent(
        """
        import builtins, json, os, subprocess, sys
        open("secret.txt", "w").write("one")
        open(os.path.join(os.environ["TMPDIR"], "secret.txt"), "w").write("one")
        os.environ["LEAKED"] = "one"
        builtins.leaked = json.leaked = "one"
        child = subprocess.Popen(["/bin/sleep", "30"], start_new_session=True)
        print(os.getcwd(), os.environ["TMPDIR"], child.pid)
        """
    )
    one = await warm_py(sandbox, first)
    workspace, tmp, pid = one.stdout.split()
    second = textwrap.dedent(
        f"""
        import builtins, json, os
        print(sorted(os.listdir(".")), sorted(os.listdir(os.environ["TMPDIR"])))
        print("LEAKED" in os.environ, hasattr(builtins, "leaked"), hasattr(json, "leaked"))
        for path in ({workspace + "/secret.txt"!r}, {tmp + "/secret.txt"!r}):
            try:
                print(open(path).read())
            except OSError as error:
                print(type(error).__name__)
        try:  # the first call's background process (its pid, in its own pid namespace if any)
            print(b"sleep" in open("/proc/{pid}/cmdline", "rb").read())
        except OSError:
            print(False)
        """
    )
    two = await warm_py(sandbox, second)
    lines = two.stdout.splitlines()
    assert two.ok, two.stderr
    assert lines[0] == "[] []"
    assert lines[1] == "False False False"
    assert "one" not in lines[2:4]
    assert lines[4] == "False"


async def test_a_call_cannot_reach_the_idle_jails_waiting_beside_it(
    sandbox: JailedSandbox,
) -> None:
    if not IS_ROOT:
        pytest.skip("without a uid of its own, each jail's Landlock scope is what stops this")
    attack = "import os, signal\ntry:\n    os.kill(-1, signal.SIGKILL)\nexcept OSError:\n    pass"
    for _ in range(2):  # the attack takes one; the other waits beside it
        assert await anyio.to_thread.run_sync(lambda: sandbox.warm_up([PYTHON, "-c", attack]))
    waiting = _idle(sandbox)
    attacked = await sandbox.run([PYTHON, "-c", attack])
    assert attacked.warm
    others = [entry for entry in waiting if entry.uid != attacked.isolation.uid]
    assert others and all(entry.alive() for entry in others)
    result = await sandbox.run([PYTHON, "-c", "print(2)"])
    assert result.warm and result.stdout == "2\n"


async def test_the_timeout_counts_from_the_hand_over_and_kills(sandbox: JailedSandbox) -> None:
    limits = replace(TEST_LIMITS, timeout=1.0)
    assert await anyio.to_thread.run_sync(
        lambda: sandbox.warm_up([PYTHON, "-c", "print(1)"], limits=limits)
    )
    await anyio.sleep(1.3)  # longer than the timeout: the idle time does not count
    quick = await sandbox.run([PYTHON, "-c", "print(1)"], limits=limits)
    assert quick.warm and quick.ok and quick.wall_seconds < 1.0
    slow = await warm_py(sandbox, "import time; time.sleep(30)", limits=limits)
    assert slow.killed == "timeout" and 1.0 <= slow.wall_seconds < 3.0


async def test_limits_apply_in_a_warm_jail(sandbox: JailedSandbox) -> None:
    big = await warm_py(sandbox, "b = bytearray(4 * 1024**3)")
    assert not big.ok and "MemoryError" in big.stderr
    flood = await warm_py(sandbox, "print('x' * 10**6)")
    assert flood.killed == "output_limit" and flood.stdout_truncated
    cpu = replace(TEST_LIMITS, cpu_seconds=1)
    spin = await warm_py(sandbox, "while True: pass", limits=cpu)
    assert spin.killed == "cpu_limit"


@pytest.mark.parametrize(
    "change",
    [
        {"limits": replace(TEST_LIMITS, memory_bytes=256 * 1024**2)},
        {"limits": replace(TEST_LIMITS, network=True)},
        {"limits": replace(TEST_LIMITS, read_only_paths=(Path("/usr/share"),))},
        {"env": {"MODE": "other"}},
    ],
)
async def test_a_jail_of_another_configuration_is_never_used(
    sandbox: JailedSandbox, change: dict[str, object]
) -> None:
    argv = [PYTHON, "-c", "import os; print(os.environ.get('MODE'))"]
    assert await anyio.to_thread.run_sync(lambda: sandbox.warm_up(argv, env={"MODE": "primed"}))
    waiting = _idle(sandbox)
    options = {"env": {"MODE": "primed"}, **change}
    result = await sandbox.run(argv, **options)  # type: ignore[arg-type]
    assert not result.warm
    assert all(entry in _idle(sandbox) for entry in waiting)
    assert result.stdout == f"{options['env']['MODE']}\n"  # type: ignore[index]


async def test_a_given_workspace_always_runs_cold(sandbox: JailedSandbox, shared_dir: Path) -> None:
    argv = [PYTHON, "-c", "print(1)"]
    assert await anyio.to_thread.run_sync(lambda: sandbox.warm_up(argv))
    result = await sandbox.run(argv, workspace=shared_dir)
    assert not result.warm and result.ok


async def test_a_dead_jail_is_replaced_not_used(sandbox: JailedSandbox) -> None:
    argv = [PYTHON, "-c", "print(1)"]
    assert await anyio.to_thread.run_sync(lambda: sandbox.warm_up(argv))
    dead = _idle(sandbox)
    for entry in dead:
        os.killpg(entry.opened.running.proc.pid, signal.SIGKILL)
    while any(entry.alive() for entry in dead):  # noqa: ASYNC110 - a process has no event
        await anyio.sleep(0.01)
    # Either the call finds them dead and runs cold, or the refill has already replaced them.
    result = await sandbox.run(argv)
    assert result.ok and result.stdout == "1\n"
    assert not set(map(id, dead)) & set(map(id, _idle(sandbox)))
    deadline = time.monotonic() + 10
    while not _idle(sandbox) and time.monotonic() < deadline:  # noqa: ASYNC110 - no event
        await anyio.sleep(0.05)  # the background refill replaces it
    assert _idle(sandbox) and all(entry.alive() for entry in _idle(sandbox))


async def test_a_stale_jail_is_not_used(level: str) -> None:
    sandbox = make_sandbox(level, all_warm=False, pool=WarmPool(size=1, max_idle=0.5))
    argv = [PYTHON, "-c", "print(1)"]
    assert await anyio.to_thread.run_sync(lambda: sandbox.warm_up(argv))
    await anyio.sleep(0.7)
    result = await sandbox.run(argv)
    assert result.ok and not result.warm
    sandbox.close()


def _pids(sandbox: JailedSandbox) -> list[int]:
    return [entry.opened.running.proc.pid for entry in _idle(sandbox)]


def _running(pid: int) -> bool:
    """True while `pid` runs; a zombie (reaped here if it is this process's) runs nothing."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    if state == "Z":
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        return False
    return True


def _gone(pids: list[int], within: float = 5.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if not any(_running(pid) for pid in pids):
            return True
        time.sleep(0.05)
    return False


async def test_close_destroys_every_idle_jail(sandbox: JailedSandbox) -> None:
    argv = [PYTHON, "-c", "print(1)"]
    assert await anyio.to_thread.run_sync(lambda: sandbox.warm_up(argv))
    pids = _pids(sandbox)
    roots = [entry.opened.space.root for entry in _idle(sandbox)]
    assert pids and all(root.exists() for root in roots)
    sandbox.close()
    assert _gone(pids)
    assert not any(root.exists() for root in roots)
    result = await sandbox.run(argv)
    assert result.ok and not result.warm


_HOST = """
import os, signal, sys, time
from mainspring.sandbox import ProcessSandbox, UidPool
sandbox = ProcessSandbox(uids=UidPool({first}, 4), max_concurrent=2)
assert sandbox.warm_up(["/usr/bin/python3", "-c", "print(1)"])
print(*(e.opened.running.proc.pid for es in sandbox._pool._ready.values() for e in es))
sys.stdout.flush()
if sys.argv[1] == "kill":
    os.kill(os.getpid(), signal.SIGKILL)
"""


@pytest.mark.parametrize("ending", ["exit", "kill"])
def test_no_jail_outlives_its_host(ending: str) -> None:
    code = _HOST.format(first=FIRST_UID + 10)  # beyond the uids of the other tests
    src = str(Path(__file__).resolve().parents[2] / "src")
    done = subprocess.run(
        [sys.executable, "-c", code, ending],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": src},
    )
    pids = [int(pid) for pid in done.stdout.split()]
    assert pids, done.stderr
    assert _gone(pids), f"warm jails {pids} outlived their host ({ending})"


async def test_idle_jails_give_their_uids_back_to_cold_calls(level: str) -> None:
    if not IS_ROOT:
        pytest.skip("uids are leased only as root")
    uids = UidPool(FIRST_UID + 8, 2)
    one = make_sandbox(level, all_warm=False, uids=uids, max_concurrent=1)
    two = make_sandbox(level, all_warm=False, uids=uids, max_concurrent=1)
    argv = [PYTHON, "-c", "print(1)"]
    assert await anyio.to_thread.run_sync(lambda: one.warm_up(argv))
    assert await anyio.to_thread.run_sync(lambda: two.warm_up(argv))
    with anyio.fail_after(20):
        result = await one.run([PYTHON, "-c", "print(2)"])  # another shape: needs a uid
    assert result.ok and result.stdout == "2\n"
    one.close()
    two.close()


def test_pool_settings_are_checked() -> None:
    with pytest.raises(ConfigurationError, match="size must be >= 0"):
        WarmPool(size=-1)
    with pytest.raises(ConfigurationError, match="max_idle > 0"):
        WarmPool(max_idle=0)
    off = make_sandbox("process", all_warm=False, pool=WarmPool(size=0))
    assert off._pool is None and not off.warm_up([PYTHON, "-c", "print(1)"])


async def test_a_big_stdin_runs_cold(sandbox: JailedSandbox) -> None:
    data = b"x" * (2 * 1024 * 1024)
    assert not await anyio.to_thread.run_sync(
        lambda: sandbox.warm_up([PYTHON, "-c", "print(1)"], stdin=data)
    )
    limits = Limits(timeout=5.0, cpu_seconds=5, max_processes=32)
    result = await sandbox.run(
        [PYTHON, "-c", "import sys; print(len(sys.stdin.buffer.read()))"], stdin=data, limits=limits
    )
    assert result.stdout == f"{len(data)}\n" and not result.warm


@pytest.fixture
def own_trusted(monkeypatch: pytest.MonkeyPatch) -> None:
    """Preambles trusted by a test are forgotten after it."""
    monkeypatch.setattr(_warm, "_TRUSTED_PREAMBLES", set())


@pytest.mark.usefixtures("own_trusted")
async def test_a_trusted_preamble_runs_ahead_and_the_rest_reads_as_cold(
    sandbox: JailedSandbox,
) -> None:
    preamble = "import json\nbase = json.loads('41')\n"
    trust_preamble(preamble)
    code = preamble + "print(base + 1)\nraise ValueError('on line 4')\n"
    found = plan([PYTHON, "-c", code], b"", TEST_LIMITS, None, PYTHON)
    assert found is not None and found.shape.preamble == preamble
    cold = await make_sandbox(sandbox.isolation.level, all_warm=False, pool=WarmPool(size=0)).run(
        [PYTHON, "-c", code]
    )
    warm = await warm_py(sandbox, code)
    assert (warm.stdout, warm.stderr, warm.exit_code) == (cold.stdout, cold.stderr, 1)
    assert 'File "<string>", line 4' in warm.stderr and warm.stdout == "42\n"


@pytest.mark.usefixtures("own_trusted")
def test_only_trusted_preambles_run_ahead() -> None:
    untrusted = "import os\nprint('ahead?')\n"
    found = plan([PYTHON, "-c", untrusted + "print(1)"], b"", TEST_LIMITS, None, PYTHON)
    assert found is not None and found.shape.preamble == ""
    trust_preamble("import sys\n")
    with_args = plan([PYTHON, "-c", "import sys\nprint(1)", "x"], b"", TEST_LIMITS, None, PYTHON)
    assert with_args is not None and with_args.shape.preamble == ""
    with pytest.raises(ValueError, match="newline"):
        trust_preamble("import sys")
