"""The synchronous core shared by every sandbox: spawn, capture with caps, time out, kill all.

It runs in a worker thread (`anyio.to_thread.run_sync`). The child starts in its own session,
with only the environment it is given; between fork and exec it joins its cgroups, sets its
rlimits and no_new_privs, installs its seccomp filter and Landlock ruleset, and drops to its
uid. Whatever happens, nothing the child started outlives `run_jailed`: its process group is
killed, and when it ran under a uid of its own every process of that uid is killed too, which
also catches children that left the group with `setsid()`. A sandbox makes this process the
subreaper of its descendants (`become_subreaper`), so orphans of a run are re-parented here,
not to the host's init, and reaped here once killed: no zombie of a run outlives it either.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import resource
import select
import selectors
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import IO

from mainspring.sandbox._cgroups import join
from mainspring.sandbox._landlock import allow_mounts_in_child, restrict_self
from mainspring.sandbox._libc import libc
from mainspring.sandbox._mounts import mount_private_tmpfs
from mainspring.sandbox._seccomp import SeccompProgram, install
from mainspring.sandbox.base import KillReason, Limits

_CHUNK = 65536
_POLL = 0.05
"""Seconds between checks for exit, deadline and cancellation while waiting for output."""
_DRAIN = 0.5
"""Seconds to keep reading after the command ended, for output still in the pipes."""


@dataclass(frozen=True, slots=True)
class Launch:
    """Everything needed to start one jailed command."""

    argv: Sequence[str]
    env: Mapping[str, str]
    cwd: Path
    limits: Limits
    stdin: bytes = b""
    uid: int | None = None
    """Run as this uid (and gid of the same number); None keeps the caller's."""
    seccomp: SeccompProgram | None = None
    """A filter the child installs on itself before exec (process level)."""
    landlock: int | None = None
    """A Landlock ruleset fd the child enters before exec (process level); also in pass_fds."""
    landlock_abi: int = 0
    """The kernel's Landlock ABI, for the rules the child adds for its private mounts."""
    pass_fds: tuple[int, ...] = ()
    """Descriptors the child inherits; closed in the parent once it is started."""
    cgroup_procs: tuple[str, ...] = ()
    """cgroup.procs files the child joins before it drops privileges."""
    launcher: bool = False
    """The direct child is a launcher (bwrap): it reports a signal death as exit status
    128 + signal, and exits by itself once the command it launched is dead."""
    private_mounts: tuple[tuple[str, int], ...] = ()
    """(directory, bytes): size-limited tmpfs mounts the child makes in a private mount
    namespace before it drops privileges (the process level's disk quota; needs root)."""


@dataclass(slots=True)
class Outcome:
    """What the jail observed; the sandbox turns it into a `SandboxResult`."""

    status: int = 0
    """The raw wait status of the direct child."""
    stdout: bytearray = field(default_factory=bytearray)
    stderr: bytearray = field(default_factory=bytearray)
    stdout_truncated: bool = False
    stderr_truncated: bool = False
    killed: KillReason | None = None
    wall_seconds: float = 0.0
    cpu_seconds: float = 0.0
    peak_memory_bytes: int | None = None

    @property
    def exit_code(self) -> int | None:
        """The exit status, or None when a signal ended the child."""
        return os.WEXITSTATUS(self.status) if os.WIFEXITED(self.status) else None

    @property
    def signal(self) -> int | None:
        """The signal that ended the child, if any."""
        return os.WTERMSIG(self.status) if os.WIFSIGNALED(self.status) else None


def _rlimits(limits: Limits) -> list[tuple[int, int]]:
    return [
        # Soft and hard limits are equal: SIGKILL at the limit, which a process cannot ignore
        # (a namespace's pid 1 ignores SIGXCPU).
        (resource.RLIMIT_CPU, limits.cpu_seconds),
        (resource.RLIMIT_AS, limits.memory_bytes),
        (resource.RLIMIT_NPROC, limits.max_processes),
        (resource.RLIMIT_FSIZE, limits.max_file_bytes),
        (resource.RLIMIT_NOFILE, limits.max_open_files),
        (resource.RLIMIT_CORE, 0),
    ]


_PR_SET_NO_NEW_PRIVS = 38
_PTRACE_DETACH = 17


def _preexec(launch: Launch, limits: list[tuple[int, int]]) -> None:
    """Runs in the child between fork and exec: cgroups, mounts, rlimits, filters, uid.

    Joining the cgroups and mounting need the caller's privileges, and the seccomp filter
    refuses mount, so the filters and the uid switch come last. no_new_privs makes setuid
    binaries (su, sudo, mount) run without their privileges.
    """
    uid = launch.uid
    join(launch.cgroup_procs)
    if launch.private_mounts:
        mount_private_tmpfs(launch.private_mounts, uid, str(launch.cwd))
    for which, value in limits:
        resource.setrlimit(which, (value, value))
    if libc().prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS) failed")
    if launch.seccomp is not None:
        install(launch.seccomp, libc())
    if launch.landlock is not None:
        mounted = [path for path, _ in launch.private_mounts]
        allow_mounts_in_child(launch.landlock, mounted, launch.landlock_abi)
        restrict_self(launch.landlock)
    if uid is not None:
        os.setgroups([])
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)


_PR_SET_CHILD_SUBREAPER = 36


def become_subreaper() -> bool:
    """Make this process the subreaper of its descendants; False where the kernel refuses.

    An orphan of a run (its parent exited or was killed first) is then re-parented to this
    process instead of the host's init, so it can be reaped here the moment it is killed. Many
    container inits never reap, and a zombie of a leased uid counts against RLIMIT_NPROC of the
    next run under that uid.
    """
    return int(libc().prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)) == 0


def _stat(pid: int) -> tuple[str, int, int] | None:
    """(state, parent pid, process group) of `pid`, or None when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None
    return fields[0], int(fields[1]), int(fields[2])


def _reap_orphan(pid: int) -> None:
    """Collect a zombie re-parented to this process (it is our child now, so waitpid works)."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def pids_of(uid: int, *, group: int | None = None, reap: bool = False) -> list[int]:
    """Pids of the live processes whose effective uid is `uid` (and in process group `group`).

    Zombies are left out: they run nothing. With `reap`, the zombies among them whose parent is
    this process (orphans of a run, re-parented here because it is their subreaper) are reaped
    on the way; the caller must have collected its own direct child first.
    """
    found = []
    me = os.getpid()
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            if entry.stat().st_uid != uid:
                continue
            pid = int(entry.name)
            info = _stat(pid)
            if info is None or (group is not None and info[2] != group):
                continue
            if info[0] != "Z":
                found.append(pid)
            elif reap and info[1] == me:
                _reap_orphan(pid)
    return found


_SETPRIV = shutil.which("setpriv", path="/usr/bin:/bin")


def _kill_from_inside(uid: int) -> None:
    """kill(-1, SIGKILL) sent as `uid`: every process of the uid, in one pass of the kernel.

    Through util-linux's setpriv when present: without `user=` Popen can use vfork, which costs
    the same whatever this process's size, where a fork of a large agent takes milliseconds.
    """
    via_setpriv = _SETPRIV is not None
    argv = ["kill", "-KILL", "-1"]
    if _SETPRIV is not None:
        argv = [_SETPRIV, f"--reuid={uid}", f"--regid={uid}", "--clear-groups", *argv]
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        subprocess.run(
            argv,
            env={"PATH": "/usr/bin:/bin"},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=5,
            check=False,
            user=None if via_setpriv else uid,
            group=None if via_setpriv else uid,
            extra_groups=None if via_setpriv else [],
        )


def kill_uid(uid: int, *, certain: bool = False, patience: float = 2.0) -> None:
    """Kill every process owned by `uid` and wait until they are gone.

    kill(-1) sent from inside the uid reaches all of its processes in one pass of the kernel,
    and a child whose fork races it receives the signal too, so a fork loop cannot outrun it the
    way a scan of /proc and a kill per pid can. A scan alone can miss a process for an instant
    (one exiting just as its child appears), so unless the caller is `certain` that nothing can
    hide (a pid namespace was torn down), the kill is sent first, unconditionally. Survivors
    then get SIGKILL per pid until the uid is empty: the next lease of this uid must not start
    with its process count (RLIMIT_NPROC) used up.
    """
    if not certain:
        _kill_from_inside(uid)
    deadline = time.monotonic() + patience
    while (pids := pids_of(uid, reap=True)) and time.monotonic() < deadline:
        _kill_from_inside(uid)
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.005)


def kill_group(group: int, *, patience: float = 2.0) -> None:
    """Kill process group `group` (a run without a uid of its own) and reap its orphans.

    Its members are this process's uid, so only the group tells them apart from the caller's
    other processes; one that left the group with `setsid()` is beyond reach here (documented:
    such a run needs an own uid or the namespaced level).
    """
    uid = os.getuid()
    deadline = time.monotonic() + patience
    while True:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(group, signal.SIGKILL)
        if not pids_of(uid, group=group, reap=True) or time.monotonic() >= deadline:
            return
        time.sleep(0.005)


def _spawn(launch: Launch) -> subprocess.Popen[bytes]:
    with contextlib.ExitStack() as stack:
        stdin: IO[bytes] | int = subprocess.DEVNULL
        if launch.stdin:
            # A file, not a pipe: no writer thread, and the child reads at its own pace.
            handle = stack.enter_context(tempfile.TemporaryFile())
            handle.write(launch.stdin)
            handle.seek(0)
            stdin = handle
        return subprocess.Popen(
            list(launch.argv),
            stdin=stdin,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=launch.cwd,
            env=dict(launch.env),
            start_new_session=True,
            close_fds=True,
            pass_fds=launch.pass_fds,
            preexec_fn=partial(_preexec, launch, _rlimits(launch.limits)),
        )


class _Capture:
    """Reads stdout and stderr into capped buffers; says when a cap was exceeded.

    The child's pidfd sits in the same selector, so its exit wakes the wait at once instead of
    at the next poll tick.
    """

    def __init__(self, proc: subprocess.Popen[bytes], outcome: Outcome, cap: int) -> None:
        if proc.stdout is None or proc.stderr is None:
            raise RuntimeError("the jailed process was started without output pipes")
        self.outcome = outcome
        self.cap = cap
        self.selector = selectors.DefaultSelector()
        self.selector.register(proc.stdout, selectors.EVENT_READ, "stdout")
        self.selector.register(proc.stderr, selectors.EVENT_READ, "stderr")
        self.streams = 2
        self.pidfd: int | None = None
        with contextlib.suppress(AttributeError, OSError):
            self.pidfd = os.pidfd_open(proc.pid)
            self.selector.register(self.pidfd, selectors.EVENT_READ, "exit")

    @property
    def open(self) -> bool:
        """True while stdout or stderr may still deliver data."""
        return self.streams > 0

    def read(self, timeout: float) -> bool:
        """Read what is ready (waiting up to `timeout`); True when a stream went over the cap."""
        if not self.selector.get_map():
            time.sleep(timeout)
            return False
        over = False
        for key, _ in self.selector.select(timeout):
            if key.data == "exit":
                self.selector.unregister(key.fileobj)
                continue
            chunk = os.read(key.fd, _CHUNK)
            if not chunk:
                self.selector.unregister(key.fileobj)
                self.streams -= 1
                continue
            buffer = self.outcome.stdout if key.data == "stdout" else self.outcome.stderr
            room = self.cap - len(buffer)
            buffer += chunk[: max(room, 0)]
            if len(chunk) > room:
                setattr(self.outcome, f"{key.data}_truncated", True)
                over = True
        return over

    def close(self) -> None:
        """Unregister everything and close the pidfd (the caller closes the pipes)."""
        for key in list(self.selector.get_map().values()):
            self.selector.unregister(key.fileobj)
        self.selector.close()
        if self.pidfd is not None:
            os.close(self.pidfd)


def _reap(proc: subprocess.Popen[bytes], outcome: Outcome, *, block: bool) -> bool:
    """Collect the direct child's status and resource usage; False while it still runs."""
    while True:
        pid, status, usage = os.wait4(proc.pid, 0 if block else os.WNOHANG)
        if pid == 0:
            return False
        if not os.WIFSTOPPED(status):
            break
        # The command made this process its tracer (PTRACE_TRACEME): we report ptrace stops
        # now. Detach, handing back the signal it stopped on, so it runs on untraced.
        libc().ptrace(_PTRACE_DETACH, proc.pid, 0, os.WSTOPSIG(status))
    outcome.status = status
    # Popen must learn the child is gone, or it warns that it is "still running" when freed.
    proc.returncode = os.waitstatus_to_exitcode(status)
    outcome.cpu_seconds = usage.ru_utime + usage.ru_stime
    return True


def _watch(
    proc: subprocess.Popen[bytes],
    capture: _Capture,
    launch: Launch,
    stop: threading.Event,
    started: float,
) -> KillReason | None:
    """Read output until the child exits or a limit is hit; return the limit, if one was."""
    deadline = started + launch.limits.timeout
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return "timeout"
        if stop.is_set():
            return "cancelled"
        if capture.read(min(_POLL, remaining)):
            return "output_limit"
        if _reap(proc, capture.outcome, block=False):
            return None


def _stop(proc: subprocess.Popen[bytes], outcome: Outcome, launch: Launch) -> None:
    """End a run that is still going, and reap its direct child.

    Under an own uid the direct child's descendants are killed first, so that the child (bwrap,
    when namespaced) reaps them and exits by itself: killing bwrap first would orphan the
    sandboxed command to the host's init as a zombie.
    """
    uid = launch.uid
    if uid is not None and launch.launcher:
        deadline = time.monotonic() + 0.5
        while time.monotonic() < deadline:
            for pid in pids_of(uid):
                if pid != proc.pid:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
            if _reap(proc, outcome, block=False):
                return
            time.sleep(0.005)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    _reap(proc, outcome, block=True)


@dataclass(slots=True)
class Running:
    """A jailed child that has been started: its process, its output capture, what it saw."""

    proc: subprocess.Popen[bytes]
    capture: _Capture
    launch: Launch
    started: float
    """time.monotonic() when the child was started."""


def start_jailed(launch: Launch) -> Running:
    """Start the child in its jail; `finish_jailed` watches it (and must be called)."""
    started = time.monotonic()
    try:
        proc = _spawn(launch)
    finally:
        for fd in launch.pass_fds:
            os.close(fd)
    return Running(proc, _Capture(proc, Outcome(), launch.limits.max_output_bytes), launch, started)


class HandOverRefused(Exception):
    """A pre-started jail was gone before it read any of its program: nothing of it ran."""


def alive(proc: subprocess.Popen[bytes]) -> bool:
    """True while the child runs; it is not reaped here (its status stays for `_reap`)."""
    try:
        return os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is None
    except ChildProcessError:
        return False


def _hand_over(control: int, message: bytes, deadline: float) -> str:
    """Write `message` to a waiting child's control pipe and close it.

    Returns "delivered", "refused" (the child was gone before it read a byte) or "stalled"
    (the deadline passed). The child reads the pipe to its end before it runs anything, so a
    full pipe drains at once; the deadline only bounds a child that stopped reading.
    """
    os.set_blocking(control, False)
    view = memoryview(message)
    sent = 0
    try:
        while sent < len(view):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return "stalled"
            _, writable, _ = select.select([], [control], [], min(_POLL, remaining))
            if writable:
                sent += os.write(control, view[sent:])
        return "delivered"
    except OSError:  # EPIPE: the reading end is closed, the child is gone
        return "refused" if sent == 0 else "delivered"
    finally:
        os.close(control)


def finish_jailed(
    running: Running,
    stop: threading.Event,
    *,
    control: int | None = None,
    message: bytes = b"",
) -> Outcome:
    """Run the child to completion or to its first broken limit; leave nothing running.

    With `control`, the child is a pre-started jail waiting for its program: `message` is
    written to it first, and the wall clock counts from then, not from the start.
    """
    proc, capture, launch = running.proc, running.capture, running.launch
    outcome = capture.outcome
    started = running.started
    exited = False
    try:
        if control is not None:
            started = time.monotonic()
            handed = _hand_over(control, message, started + launch.limits.timeout)
            if handed == "refused":
                raise HandOverRefused(f"the pre-started jail (pid {proc.pid}) is gone")
            if handed == "stalled":
                outcome.killed = "timeout"
        outcome.killed = outcome.killed or _watch(proc, capture, launch, stop, started)
        exited = outcome.killed is None
    finally:
        if not exited:
            _stop(proc, outcome, launch)
        # Background children may still hold the pipes: kill everything, then drain briefly.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        outcome.wall_seconds = time.monotonic() - started
        if launch.uid is not None:
            # In a pid namespace nothing outlives the launcher; elsewhere take no chances.
            kill_uid(launch.uid, certain=launch.launcher)
        elif not launch.launcher:
            kill_group(proc.pid)
        drain_until = time.monotonic() + _DRAIN
        while capture.open and time.monotonic() < drain_until:
            capture.read(_POLL)
        capture.close()
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
    _classify(outcome, launch)
    return outcome


def _classify(outcome: Outcome, launch: Launch) -> None:
    """Turn a launcher's 128 + signal status into a signal death; spot a CPU-limit kill."""
    code = outcome.exit_code
    if launch.launcher and code is not None and 128 < code <= 128 + 64:
        outcome.status = code - 128  # the wait status of a death by that signal
    cpu_killed = outcome.signal in (signal.SIGXCPU, signal.SIGKILL)
    if (
        outcome.killed is None
        and cpu_killed
        and outcome.cpu_seconds >= launch.limits.cpu_seconds - 0.5
    ):
        outcome.killed = "cpu_limit"


def run_jailed(launch: Launch, stop: threading.Event) -> Outcome:
    """Run the command to completion or to its first broken limit; leave nothing running."""
    return finish_jailed(start_jailed(launch), stop)
