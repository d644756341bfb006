"""Per-run memory and pids cgroups, where the host lets this process create them (as root).

rlimits are per process and miss memory held in tmpfs or memfd files; a memory cgroup counts
everything the run's processes are charged for, kills the run when it goes over (the kernel's
OOM killer, reported as `memory_limit`), and measures the true peak of the whole tree. A pids
cgroup bounds the processes of the run whatever their uid. Both cgroup v1 (one hierarchy per
controller) and v2 (one unified hierarchy) are supported; on a host where neither can be
created, runs go without and their results do not list these protections.
"""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from mainspring.sandbox.base import Limits

_ROOT = Path("/sys/fs/cgroup")
Version = Literal["v1", "v2"]


def _own_path(controller: str) -> str | None:
    """This process's cgroup path for `controller` ("" for the v2 unified hierarchy)."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _, controllers, path = line.split(":", 2)
            if controller in controllers.split(",") or (controller == "" and controllers == ""):
                return path
    return None


def _parent(controller: str) -> Path | None:
    """Where this process may create child cgroups for `controller` (v1), or unified (v2)."""
    own = _own_path(controller)
    if own is None:
        return None
    base = _ROOT / controller if controller else _ROOT
    # Inside a cgroup namespace the mount shows our own cgroup at the root of the hierarchy.
    for candidate in (base / own.lstrip("/"), base):
        if (candidate / "cgroup.procs").exists() and os.access(candidate, os.W_OK):
            return candidate
    return None


@dataclass(frozen=True, slots=True)
class RunCgroups:
    """The cgroups of one run: join them from the child, read them after, remove them."""

    version: Version
    dirs: tuple[Path, ...]
    memory: Path
    """The directory holding the memory controller's files."""

    @property
    def procs_files(self) -> tuple[str, ...]:
        """Files the child writes "0" to (itself) before it drops privileges."""
        return tuple(str(d / "cgroup.procs") for d in self.dirs)

    def _read(self, name: str) -> str:
        try:
            return (self.memory / name).read_text()
        except OSError:
            return ""

    def peak_memory(self) -> int | None:
        """Highest memory use of the whole run, page cache and tmpfs included."""
        text = self._read("memory.max_usage_in_bytes" if self.version == "v1" else "memory.peak")
        return int(text) if text.strip().isdigit() else None

    def oom_killed(self) -> bool:
        """True when the kernel killed a process of the run for exceeding the memory limit."""
        text = self._read("memory.oom_control" if self.version == "v1" else "memory.events")
        for line in text.splitlines():
            name, _, value = line.partition(" ")
            if name == "oom_kill" and value.strip().isdigit():
                return int(value) > 0
        return False

    def remove(self) -> list[Path]:
        """Delete the cgroups; return those still busy (zombies not yet reaped by init)."""
        busy = []
        for directory in self.dirs:
            try:
                directory.rmdir()
            except FileNotFoundError:
                pass
            except OSError:
                busy.append(directory)
        return busy


class CgroupFactory:
    """Creates `RunCgroups` with a memory and a pids limit, or reports that it cannot."""

    def __init__(self) -> None:
        self.version: Version | None = None
        self._parents: tuple[Path, ...] = ()
        v1 = (_parent("memory"), _parent("pids"))
        if v1[0] is not None and v1[1] is not None:
            self.version, self._parents = "v1", (v1[0], v1[1])
        else:
            unified = _parent("")
            if unified is not None and _v2_ready(unified):
                self.version, self._parents = "v2", (unified,)
        self._leftovers: list[Path] = []
        probe = self.create(Limits()) if self.version is not None else None
        if probe is None:
            self.version = None
        else:
            self.release(probe)

    @property
    def available(self) -> bool:
        """True when runs get memory and pids cgroups."""
        return self.version is not None

    def create(self, limits: Limits) -> RunCgroups | None:
        """Make the cgroups of one run; None when the host refuses."""
        memory_bytes, max_processes = limits.memory_bytes, limits.max_processes
        self._leftovers = [d for d in self._leftovers if _try_rmdir(d)]
        name = f"mainspring-sbx-{uuid.uuid4().hex[:12]}"
        dirs = tuple(parent / name for parent in self._parents)
        try:
            for directory in dirs:
                directory.mkdir()
            if self.version == "v1":
                memory, pids = dirs
                _write(memory / "memory.limit_in_bytes", memory_bytes)
                with contextlib.suppress(OSError):  # absent without swap accounting
                    _write(memory / "memory.memsw.limit_in_bytes", memory_bytes)
                _write(pids / "pids.max", max_processes)
            else:
                (memory,) = dirs
                _write(memory / "memory.max", memory_bytes)
                with contextlib.suppress(OSError):
                    _write(memory / "memory.swap.max", 0)
                _write(memory / "pids.max", max_processes)
        except OSError:
            for directory in dirs:
                with contextlib.suppress(OSError):
                    directory.rmdir()
            return None
        return RunCgroups(self.version or "v2", dirs, memory)

    def release(self, cgroups: RunCgroups, patience: float = 0.5) -> None:
        """Remove a run's cgroups; zombies waiting for the host's init can hold them a while.

        What is still busy after `patience` seconds is retried at the next `create`.
        """
        busy = cgroups.remove()
        deadline = time.monotonic() + patience
        while busy and time.monotonic() < deadline:
            time.sleep(0.01)
            busy = [d for d in busy if _try_rmdir(d)]
        self._leftovers += busy


def _write(path: Path, value: int) -> None:
    path.write_text(str(value))


def _try_rmdir(directory: Path) -> bool:
    """True when the directory is still there (kept for a later try)."""
    try:
        directory.rmdir()
    except FileNotFoundError:
        return False
    except OSError:
        return True
    return False


def _v2_ready(unified: Path) -> bool:
    """v2 needs memory and pids enabled for our children (impossible if we hold processes)."""
    try:
        enabled = (unified / "cgroup.subtree_control").read_text().split()
        if {"memory", "pids"} <= set(enabled):
            return True
        (unified / "cgroup.subtree_control").write_text("+memory +pids")
    except OSError:
        return False
    return True


def join(procs_files: tuple[str, ...]) -> None:
    """Move the calling process into the run's cgroups (runs in the child before exec)."""
    for path in procs_files:
        fd = os.open(path, os.O_WRONLY)
        try:
            os.write(fd, b"0")
        finally:
            os.close(fd)
