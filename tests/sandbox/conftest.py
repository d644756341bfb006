"""Sandbox fixtures: one sandbox per isolation level, each on a uid range of its own.

The namespaced level needs bubblewrap. Locally its tests skip when bwrap is missing or cannot
create namespaces; in CI (CI=true) they fail, so CI never passes without testing the strong jail.
"""

from __future__ import annotations

import functools
import os
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from mainspring.sandbox import BubblewrapSandbox, Limits, ProcessSandbox, SandboxResult, UidPool
from mainspring.sandbox._pool import idle_uids
from mainspring.sandbox._runner import JailedSandbox
from tests.conftest import IN_CI

IS_ROOT = os.geteuid() == 0
# A uid range per test process, so parallel runs on one host never see each other's processes.
FIRST_UID = 850_000 + 16 * (os.getpid() % 4000)
UID_COUNT = 8
TEST_LIMITS = Limits(timeout=5.0, cpu_seconds=5, max_processes=32)
PYTHON = "/usr/bin/python3"


@functools.cache
def bwrap_problem() -> str | None:
    """Why the namespaced level cannot run here, or None when it can."""
    if shutil.which("bwrap") is None:
        return "bubblewrap is not installed (make install installs it as root)"
    return BubblewrapSandbox(uids=_pool(), max_concurrent=2).probe()


def _pool() -> UidPool:
    return UidPool(FIRST_UID, UID_COUNT)


def require_bwrap() -> None:
    """Skip locally, fail in CI, when bubblewrap cannot run."""
    problem = bwrap_problem()
    if problem is None:
        return
    message = f"the namespaced sandbox cannot run here: {problem}"
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


ALL_WARM = os.environ.get("MAINSPRING_TEST_WARM") == "1"
"""MAINSPRING_TEST_WARM=1: every `run` of a test sandbox is primed to run in a warm jail, so
the whole suite (the attack suite included) checks the warm pool's isolation."""


def make_sandbox(level: str, *, all_warm: bool = ALL_WARM, **options: object) -> JailedSandbox:
    """A sandbox of `level` on this test process's uids; `all_warm`: see ALL_WARM."""
    options.setdefault("limits", TEST_LIMITS)
    options.setdefault("uids", _pool())
    options.setdefault("max_concurrent", 4)
    if level == "namespaces":
        require_bwrap()
        made: JailedSandbox = BubblewrapSandbox(**options)  # type: ignore[arg-type]
    else:
        made = ProcessSandbox(**options)  # type: ignore[arg-type]
    return _all_warm(made) if all_warm else made


def _all_warm(sandbox: JailedSandbox) -> JailedSandbox:
    """Make each call of `sandbox` find a warm jail of its shape (see ALL_WARM)."""
    original = sandbox.run

    async def run(argv: Any, **kwargs: Any) -> SandboxResult:
        if kwargs.get("workspace") is None:
            await anyio.to_thread.run_sync(
                lambda: sandbox.warm_up(
                    argv,
                    limits=kwargs.get("limits"),
                    stdin=kwargs.get("stdin", b""),
                    env=kwargs.get("env"),
                )
            )
        return await original(argv, **kwargs)

    sandbox.run = run  # type: ignore[method-assign]
    return sandbox


@pytest.fixture(params=["process", "namespaces"])
def level(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def sandbox(level: str) -> Iterator[JailedSandbox]:
    with make_sandbox(level) as made:  # closing it destroys its idle warm jails
        yield made


@pytest.fixture
def strong() -> Iterator[JailedSandbox]:
    with make_sandbox("namespaces") as made:
        yield made


@pytest.fixture
def weak() -> Iterator[JailedSandbox]:
    with make_sandbox("process") as made:
        yield made


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A directory any uid can reach (pytest's tmp_path sits under a 0700 directory)."""
    path = Path(tempfile.mkdtemp(prefix="mainspring-test-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path)


def processes_of(uids: range) -> list[int]:
    """Pids of live (non-zombie) processes of runs owned by any uid in `uids`.

    Warm jails no call has taken yet (being started or idle) hold uids no run uses, so they are
    no run's leftovers and are not counted (nor one whose start began during the scan).
    """
    idle = idle_uids()
    found: list[tuple[int, int]] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        uid = int(fields.get("Uid", "-1").split()[0])
        if uid in uids and not fields.get("State", "").strip().startswith("Z"):
            found.append((int(entry.name), uid))
    idle |= idle_uids()
    return [pid for pid, uid in found if uid not in idle]


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return "gone"


SANDBOX_UIDS = range(FIRST_UID, FIRST_UID + UID_COUNT)


@pytest.fixture
def no_leftovers() -> Callable[[], None]:
    """Assert that no process of the test uid range is alive."""

    def check() -> None:
        if not IS_ROOT:
            return
        # Killed processes can take a moment to finish exiting on a loaded machine.
        deadline = time.monotonic() + 5
        while (left := processes_of(SANDBOX_UIDS)) and time.monotonic() < deadline:
            time.sleep(0.05)
        states = {pid: _state(pid) for pid in left}
        assert left == [], f"processes of the run survived it: {states}"

    return check


# --- listeners on the host that sandboxed code must not reach ---------------------------------


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


@pytest.fixture
def unix_listener(shared_dir: Path) -> Iterator[tuple[Path, list[bytes]]]:
    """A unix stream socket any uid may connect to, recording whatever connects."""
    path = shared_dir / "service.sock"
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(path))
    path.chmod(0o777)
    server.listen()
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
    yield path, received
    stop.set()
    thread.join()
    server.close()


@pytest.fixture
def udp_listener() -> Iterator[tuple[int, list[bytes]]]:
    """A UDP socket on 127.0.0.1 recording every datagram."""
    server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    server.bind(("127.0.0.1", 0))
    server.settimeout(0.2)
    received: list[bytes] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                received.append(server.recv(100))
            except TimeoutError:
                continue

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1], received
    stop.set()
    thread.join()
    server.close()


def zombies_of(uids: range) -> list[int]:
    """Pids of zombie processes owned by any uid in `uids`."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                status = (entry / "status").read_text()
            except OSError:
                continue
            fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
            uid = int(fields.get("Uid", "-1").split()[0])
            if uid in uids and fields.get("State", "").strip().startswith("Z"):
                found.append(int(entry.name))
    return found


# --- the warm pool -----------------------------------------------------------------------------


def own_uids() -> dict[str, object]:
    """Sandbox options for uids no other sandbox of the tests uses (beyond SANDBOX_UIDS), so
    that idle jails of other tests' sandboxes, not collected yet, cannot starve its pool."""
    return {"uids": UidPool(FIRST_UID + UID_COUNT, 4), "max_concurrent": 2}


def record_runs(sandbox: JailedSandbox) -> list[SandboxResult]:
    """Every result `sandbox.run` returns from now on, in order (to see which ran warm)."""
    results: list[SandboxResult] = []
    original = sandbox.run

    async def recording(*args: Any, **kwargs: Any) -> SandboxResult:
        result = await original(*args, **kwargs)
        results.append(result)
        return result

    sandbox.run = recording  # type: ignore[method-assign]
    return results


async def until_warm(sandbox: JailedSandbox, jails: int = 1, within: float = 20.0) -> None:
    """Wait until the pool's background refill holds `jails` idle jails."""
    pool = sandbox._pool
    assert pool is not None, "the sandbox has no warm pool"
    deadline = time.monotonic() + within
    while pool.held() < jails:
        assert time.monotonic() < deadline, "the pool did not refill"
        await anyio.sleep(0.02)
