"""Shared machinery of the child-process sandboxes: workspace, uid lease, environment, result.

Subclasses decide only how the command is wrapped (`_command`) and what isolation that gives
(`_isolation`); everything that must hold at every level lives here, once.
"""

from __future__ import annotations

import abc
import contextlib
import fcntl
import os
import shutil
import signal
import stat
import sys
import tempfile
import threading
import time
import weakref
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path

import anyio
import anyio.to_thread

from mainspring.errors import ConfigurationError
from mainspring.sandbox._cgroups import CgroupFactory, RunCgroups
from mainspring.sandbox._jail import (
    HandOverRefused,
    Launch,
    Outcome,
    Running,
    alive,
    become_subreaper,
    finish_jailed,
    start_jailed,
)
from mainspring.sandbox._libc import libc
from mainspring.sandbox._paths import reachable_by_any_uid as reachable_by_any_uid  # moved
from mainspring.sandbox._paths import world_executable
from mainspring.sandbox._pool import JailPool, WarmPool, reclaim_idle, unused_uid
from mainspring.sandbox._seccomp import SeccompProgram, SocketPolicy, compile_filter
from mainspring.sandbox._uids import UidPool
from mainspring.sandbox._warm import Shape, plan
from mainspring.sandbox.base import Isolation, Limits, Protection, SandboxResult

SAFE_PATH = "/usr/local/bin:/usr/bin:/bin"
_ENV_NAME_BAD = set("=\0")


@dataclass(frozen=True, slots=True)
class Workspace:
    """The per-call directories: `path` is the workspace, `tmp` a private temporary directory."""

    path: Path
    tmp: Path
    root: Path
    """The per-call directory, deleted afterwards (unless it holds a kept workspace)."""
    given: bool = False
    """The workspace is the caller's directory: used in place and never deleted."""


def _chown_tree(path: Path, uid: int) -> None:
    """Hand a kept workspace to the run's uid, immune to symlinks planted in it.

    fwalk works on directory descriptors, so a directory swapped for a symlink by earlier
    sandboxed code cannot redirect the chown to host files.
    """
    os.chown(path, uid, uid, follow_symlinks=False)
    for _, dirnames, filenames, dirfd in os.fwalk(path, follow_symlinks=False):
        for name in dirnames + filenames:
            os.chown(name, uid, uid, dir_fd=dirfd, follow_symlinks=False)


@contextlib.contextmanager
def _exclusive(directory: Path) -> Iterator[None]:
    """Hold an exclusive lock on a caller's workspace: one run at a time uses it."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _remove_tree(path: Path) -> None:
    """Delete a tree the sandboxed code may have made unreadable (chmod 000) on purpose."""

    def unlock(function: object, failed: str, _: object) -> None:
        parent = os.path.dirname(failed)
        with contextlib.suppress(OSError):
            os.chmod(parent, stat.S_IRWXU)
            os.chmod(failed, stat.S_IRWXU, follow_symlinks=False)
        with contextlib.suppress(OSError):
            if os.path.isdir(failed) and not os.path.islink(failed):
                shutil.rmtree(failed, ignore_errors=True)
            else:
                os.unlink(failed)

    shutil.rmtree(path, onerror=unlock)


@contextlib.contextmanager
def _workspace(
    given: Path | None, uid: int | None, root: Path | None, keep: bool
) -> Iterator[Workspace]:
    with contextlib.ExitStack() as stack:
        if given is not None:
            given.mkdir(parents=True, exist_ok=True)
            stack.enter_context(_exclusive(given))
        yield stack.enter_context(_directories(given, uid, root, keep))


@contextlib.contextmanager
def _directories(
    given: Path | None, uid: int | None, root: Path | None, keep: bool
) -> Iterator[Workspace]:
    if given is not None:
        call_dir = Path(tempfile.mkdtemp(prefix="mainspring-tmp-", dir=root))
        space = Workspace(given.resolve(), call_dir, call_dir, given=True)
    else:
        call_dir = Path(tempfile.mkdtemp(prefix="mainspring-sbx-", dir=root))
        (call_dir / "workspace").mkdir(mode=0o700)
        (call_dir / "tmp").mkdir(mode=0o700)
        space = Workspace(call_dir / "workspace", call_dir / "tmp", call_dir)
    # Traversable but not listable: the uid reaches its own workspace and nothing else.
    call_dir.chmod(0o711)
    if uid is not None:
        _chown_tree(space.path, uid)
        os.chown(space.tmp, uid, uid)
    try:
        yield space
    finally:
        if given is None and keep:
            _remove_tree(space.tmp)
        else:
            _remove_tree(space.root)


def scrubbed_env(home: str, tmp: str, extra: Mapping[str, str] | None) -> dict[str, str]:
    """The allow-list environment: nothing of the caller's own environment is passed on."""
    env = {
        "PATH": SAFE_PATH,
        "HOME": home,
        "TMPDIR": tmp,
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONUNBUFFERED": "1",
    }
    for name, value in (extra or {}).items():
        if not name or set(name) & _ENV_NAME_BAD or "\0" in value:
            raise ConfigurationError(
                f"sandbox env variable {name!r} is invalid: names may not be empty or contain "
                "'=' or NUL, values may not contain NUL"
            )
        env[name] = value
    return env


def _account(outcome: Outcome, groups: RunCgroups) -> None:
    """Take the peak memory and an OOM kill from the run's memory cgroup."""
    peak = groups.peak_memory()
    if peak is not None:
        outcome.peak_memory_bytes = peak
    killed_by_kernel = outcome.signal == signal.SIGKILL and outcome.killed in (None, "cpu_limit")
    if killed_by_kernel and groups.oom_killed():
        outcome.killed = "memory_limit"


@dataclass(slots=True)
class Opened:
    """A started jail and everything its teardown releases (in `stack`)."""

    running: Running
    stack: contextlib.ExitStack
    groups: RunCgroups | None
    space: Workspace
    uid: int | None
    given: Path | None


@dataclass(slots=True)
class WarmJail:
    """A pooled jail: started, waiting on its control pipe for the one program it will run."""

    opened: Opened
    control: int
    """The writing end of its control pipe (the program is handed over through it)."""
    born: float
    uid: int | None

    def alive(self) -> bool:
        """True while it still waits (a jail that died before use is replaced, never used)."""
        return alive(self.opened.running.proc)

    def destroy(self) -> None:
        """Tear it down unused, exactly as a finished run: kill everything, delete, release."""
        with contextlib.suppress(OSError):
            os.close(self.control)  # it reads end-of-file and exits without running anything
        stopped = threading.Event()
        stopped.set()
        with self.opened.stack:
            finish_jailed(self.opened.running, stopped)


def _check_argv(argv: Sequence[str]) -> None:
    if not argv or not argv[0]:
        raise ConfigurationError("sandbox argv is empty: pass the program and its arguments")


def _system_python() -> str | None:
    """The interpreter `exec`-mode warm jails wait in: a system one, shown in every jail."""
    for candidate in ("/usr/bin/python3", "/usr/local/bin/python3"):
        if world_executable(Path(candidate)):
            return candidate
    return None


class JailedSandbox(abc.ABC):
    """Base of `ProcessSandbox` and `BubblewrapSandbox`: one child process jail per call."""

    _SOCKET_POLICIES: tuple[SocketPolicy, ...] = ("any",)
    """The seccomp socket policies this level uses (one filter is compiled for each)."""

    def __init__(
        self,
        *,
        limits: Limits | None = None,
        max_concurrent: int = 4,
        uids: UidPool | None = None,
        workspace_root: Path | None = None,
        keep_workspace: bool = False,
        cgroups: bool = False,
        seccomp: bool = True,
        subreaper: bool = True,
        pool: WarmPool | None = None,
    ) -> None:
        """Configure the jail.

        Args:
            limits: Defaults for every run; `run(limits=...)` replaces them for one call.
            max_concurrent: Sandboxes of this object running at once; more calls wait.
            uids: Host uids to run as when started as root (default: a pool of 64 uids from
                820000). Ignored when not root: an unprivileged caller cannot switch uid.
            workspace_root: Where per-call directories are created (default: the temp dir).
            keep_workspace: Keep each fresh workspace after the call (its path is in the result).
            cgroups: Give each run a memory and a pids cgroup when this process can create
                them (root on a host with cgroup v1 or a delegated v2 hierarchy). Off by
                default: moving a process into a cgroup costs several milliseconds per
                controller on many kernels (it waits for an RCU grace period), which doubles
                the cost of a short call; turn it on to bound memory held in tmpfs or memfd.
            seccomp: Install the seccomp deny-list (docs/security.md) when the `sandbox` extra
                and libseccomp are installed.
            subreaper: Make this process the subreaper of its descendants (prctl
                PR_SET_CHILD_SUBREAPER), so orphans of a run are reaped here instead of
                lingering as zombies of the host's init. It is process-wide: orphans of other
                programs this process starts are re-parented here too (docs/security.md).
            pool: The warm pool of pre-started jails (default `WarmPool()`: 2 per call
                shape); `WarmPool(size=0)` starts every jail at its call.
        """
        if not sys.platform.startswith("linux"):
            raise ConfigurationError(
                f"the sandbox needs Linux (pidfds, prctl, namespaces); this is {sys.platform!r}: "
                "run the agent's code tools on a Linux host or in a Linux VM"
            )
        if max_concurrent < 1:
            raise ConfigurationError(f"max_concurrent must be >= 1, got {max_concurrent}")
        libc()  # loaded now: the child must not dlopen between fork and exec
        self.limits = limits or Limits()
        self.max_concurrent = max_concurrent
        self.uids: UidPool | None = (uids or UidPool()) if os.geteuid() == 0 else None
        if self.uids is not None and self.uids.count < max_concurrent:
            raise ConfigurationError(
                f"max_concurrent={max_concurrent} needs as many sandbox uids, the pool has "
                f"{self.uids.count}"
            )
        self.workspace_root = workspace_root
        self.keep_workspace = keep_workspace
        self._limiter = anyio.CapacityLimiter(max_concurrent)
        factory = CgroupFactory() if cgroups and os.geteuid() == 0 else None
        self._cgroups = factory if factory is not None and factory.available else None
        self._filters: dict[SocketPolicy, SeccompProgram | None] = {
            policy: compile_filter(policy) if seccomp else None for policy in self._SOCKET_POLICIES
        }
        self.subreaper = subreaper and become_subreaper()
        self.pool_settings = pool or WarmPool()
        self._exec_stub = _system_python()
        self._pool = self._make_pool(self.pool_settings)

    def _make_pool(self, settings: WarmPool) -> JailPool | None:
        """The pool, holding no reference to this sandbox (it closes when the sandbox goes)."""
        if settings.size == 0:
            return None
        method = weakref.WeakMethod(self._open_warm)

        def opener(shape: Shape) -> WarmJail | None:
            bound = method()
            return None if bound is None else bound(shape)

        # Uids beyond what max_concurrent cold calls need at once are the pool's to hold.
        most = settings.size * settings.shapes
        spare = most if self.uids is None else min(self.uids.count - self.max_concurrent, most)
        if spare <= 0:
            return None
        pool = JailPool(settings, opener, capacity=spare)
        weakref.finalize(self, pool.close)
        return pool

    def warm_up(
        self,
        argv: Sequence[str],
        *,
        limits: Limits | None = None,
        stdin: bytes = b"",
        env: Mapping[str, str] | None = None,
    ) -> bool:
        """Start one warm jail for calls like this one now, so even the first call is warm.

        Blocking (one jail's start-up, tens of milliseconds): call it at start-up, from a
        worker thread in async code. False when such a call cannot run warm (the pool is off,
        or full, or the command is not one a warm jail can take; see docs/security.md).
        """
        _check_argv(argv)
        found = plan(argv, stdin, limits or self.limits, env, self._exec_stub)
        pool = self._pool
        if pool is None or found is None:
            return False
        if pool.prime(found.shape):
            return True
        # No free uid: idle jails of other sandboxes (e.g. ones not closed yet) give one back.
        return self.uids is not None and reclaim_idle() and pool.prime(found.shape)

    def close(self) -> None:
        """Destroy the idle warm jails and stop refilling; later calls start cold jails.

        Also done when the sandbox is garbage-collected and at interpreter exit.
        """
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.close()

    def __enter__(self) -> JailedSandbox:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    @property
    def _seccomp(self) -> SeccompProgram | None:
        """The filter of the level's first socket policy; None without seccomp."""
        return self._filters[self._SOCKET_POLICIES[0]]

    def _workspace_quota(self) -> bool:
        """True when a fresh workspace is a size-limited tmpfs at this level."""
        return False

    @property
    def isolation(self) -> Isolation:
        """What a run with the default limits (and a fresh workspace) gets."""
        isolation = self._isolation(self.limits, uid=None)
        fresh = not self.keep_workspace
        return self._with_base(isolation, cgroups=self._cgroups is not None, fresh=fresh)

    def _with_base(self, isolation: Isolation, *, cgroups: bool, fresh: bool) -> Isolation:
        """Add the protections applied by this base class: cgroups, seccomp, workspace quota."""
        extra: set[Protection] = {"memory_cgroup", "pids_cgroup"} if cgroups else set()
        if self._seccomp is not None:
            extra.add("seccomp")
        if fresh and self._workspace_quota():
            extra.add("workspace_quota")
        return replace(isolation, protections=isolation.protections | extra)

    @abc.abstractmethod
    def _isolation(self, limits: Limits, *, uid: int | None) -> Isolation:
        """The isolation a run with these limits gets."""

    @abc.abstractmethod
    def _command(
        self, argv: Sequence[str], workspace: Workspace, limits: Limits, env: dict[str, str]
    ) -> Launch:
        """Wrap the command for this isolation level."""

    @abc.abstractmethod
    def _visible_paths(self, workspace: Workspace) -> tuple[str, str]:
        """HOME and TMPDIR as the sandboxed command sees them."""

    def _workspace(
        self, given: Path | None, uid: int | None
    ) -> contextlib.AbstractContextManager[Workspace]:
        """The per-call directories, made by a module-level generator.

        A warm jail's teardown holds it: it must not hold the sandbox, or a sandbox nobody uses
        any more would never be collected (nor its pool closed).
        """
        return _workspace(given, uid, self.workspace_root, self.keep_workspace)

    def _run_sync(
        self,
        argv: Sequence[str],
        limits: Limits,
        stdin: bytes,
        env: Mapping[str, str] | None,
        given: Path | None,
        stop: threading.Event,
    ) -> SandboxResult:
        pool = self._pool
        found = plan(argv, stdin, limits, env, self._exec_stub) if given is None else None
        if pool is None or found is None:
            return self._cold(argv, limits, stdin, env, given, stop)
        warm = pool.take(found.shape)
        result = None
        if isinstance(warm, WarmJail):
            with contextlib.suppress(HandOverRefused):  # nothing ran: run it cold
                result = self._finish(warm.opened, stop, warm.control, found.message)
        if result is None:
            result = self._cold(argv, limits, stdin, env, given, stop)
        # Refilled after the call, not during it: the replacement's start-up would compete with
        # the call for the CPU. A call that raised (a bad configuration) is not kept warm.
        pool.want(found.shape)
        return result

    def _cold(
        self,
        argv: Sequence[str],
        limits: Limits,
        stdin: bytes,
        env: Mapping[str, str] | None,
        given: Path | None,
        stop: threading.Event,
    ) -> SandboxResult:
        opened = self._open(argv, limits, stdin, env, given, self._lease())
        return self._finish(opened, stop, None, b"")

    def _lease(self) -> contextlib.AbstractContextManager[int | None]:
        """A uid lease for a cold call: idle warm jails give theirs back before it waits."""
        if self.uids is None:
            return contextlib.nullcontext(None)
        held = self.uids.try_lease()
        while held is None and reclaim_idle():
            held = self.uids.try_lease()
        return held if held is not None else self.uids.lease()

    def _open(
        self,
        argv: Sequence[str],
        limits: Limits,
        stdin: bytes,
        env: Mapping[str, str] | None,
        given: Path | None,
        lease: contextlib.AbstractContextManager[int | None],
        control: int | None = None,
    ) -> Opened:
        """Set a jail up and start `argv` in it: uid, workspace, cgroups, then the child."""
        with contextlib.ExitStack() as stack:
            uid = stack.enter_context(lease)
            space = stack.enter_context(self._workspace(given, uid))
            home, tmp = self._visible_paths(space)
            launch = self._command(argv, space, limits, scrubbed_env(home, tmp, env))
            factory = self._cgroups
            groups = factory.create(limits) if factory is not None else None
            if factory is not None and groups is not None:
                stack.callback(factory.release, groups)
            fds = launch.pass_fds + ((control,) if control is not None else ())
            procs = groups.procs_files if groups is not None else ()
            launch = replace(launch, stdin=stdin, uid=uid, cgroup_procs=procs, pass_fds=fds)
            running = start_jailed(launch)
            return Opened(running, stack.pop_all(), groups, space, uid, given)
        raise AssertionError("unreachable")  # pragma: no cover (mypy: ExitStack may swallow)

    def _open_warm(self, shape: Shape) -> WarmJail | None:
        """Start a jail of `shape` waiting for its program (the pool's opener)."""
        lease: contextlib.AbstractContextManager[int | None] | None
        lease = contextlib.nullcontext(None) if self.uids is None else self.uids.try_lease()
        if lease is None:
            return None
        lease = unused_uid(lease)
        read_end, write_end = os.pipe()
        try:
            argv = (*shape.stub, str(read_end), *((shape.preamble,) if shape.preamble else ()))
            opened = self._open(argv, shape.limits, b"", dict(shape.env), None, lease, read_end)
        except BaseException:
            for fd in (read_end, write_end):
                with contextlib.suppress(OSError):
                    os.close(fd)
            raise
        return WarmJail(opened, write_end, time.monotonic(), opened.uid)

    def _finish(
        self, opened: Opened, stop: threading.Event, control: int | None, message: bytes
    ) -> SandboxResult:
        """Run a started jail to its end (handing `message` to a warm one) and tear it down."""
        with opened.stack:
            outcome = finish_jailed(opened.running, stop, control=control, message=message)
            if opened.groups is not None:
                _account(outcome, opened.groups)
            space, limits = opened.space, opened.running.launch.limits
            isolation = self._with_base(
                self._isolation(limits, uid=opened.uid),
                cgroups=opened.groups is not None,
                fresh=not space.given and not self.keep_workspace,
            )
            kept = opened.given or (space.path if self.keep_workspace else None)
            return replace(self._result(outcome, isolation, kept), warm=control is not None)

    @staticmethod
    def _result(outcome: Outcome, isolation: Isolation, kept: Path | None) -> SandboxResult:
        return SandboxResult(
            outcome.exit_code,
            outcome.stdout.decode("utf-8", "replace"),
            outcome.stderr.decode("utf-8", "replace"),
            signal=outcome.signal,
            killed=outcome.killed,
            stdout_truncated=outcome.stdout_truncated,
            stderr_truncated=outcome.stderr_truncated,
            wall_seconds=outcome.wall_seconds,
            cpu_seconds=outcome.cpu_seconds,
            peak_memory_bytes=outcome.peak_memory_bytes,
            isolation=isolation,
            workspace=kept,
        )

    async def run(
        self,
        argv: Sequence[str],
        *,
        limits: Limits | None = None,
        stdin: bytes = b"",
        env: Mapping[str, str] | None = None,
        workspace: Path | None = None,
    ) -> SandboxResult:
        """Run `argv` in the jail; see `Sandbox.run`. Cancelling the call kills the run."""
        _check_argv(argv)
        stop = threading.Event()
        job = partial(self._run_sync, argv, limits or self.limits, stdin, env, workspace, stop)
        async with self._limiter:
            try:
                # Abandoned on cancel: `stop` makes the thread kill the run within ~50 ms.
                return await anyio.to_thread.run_sync(job, abandon_on_cancel=True)
            finally:
                stop.set()
