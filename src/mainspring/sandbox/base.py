"""The `Sandbox` protocol and its value types: what a jailed run may use and what it reports.

A sandbox runs one command in a child process jail and returns a `SandboxResult`. Every result
carries the `Isolation` that was actually in force for that run, so a caller (and the audit log)
can tell a namespaced jail from a plain rlimit jail; nothing is claimed that was not applied.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import KW_ONLY, dataclass, field
from pathlib import Path
from typing import Literal, Protocol, runtime_checkable

from mainspring.errors import ConfigurationError

IsolationLevel = Literal["process", "namespaces"]
"""`process`: rlimits, scrubbed environment, own session, own uid when started as root.
`namespaces`: all of that inside bubblewrap (user, pid, net, ipc, uts and mount namespaces)."""

Protection = Literal[
    "rlimits",
    "scrubbed_env",
    "process_group",
    "own_uid",
    "user_namespace",
    "pid_namespace",
    "network_namespace",
    "ipc_namespace",
    "mount_namespace",
    "read_only_system",
    "no_new_privileges",
    "capabilities_dropped",
    "memory_cgroup",
    "pids_cgroup",
    "seccomp",
    "landlock_filesystem",
    "landlock_tcp",
    "landlock_scopes",
    "seccomp_unix_sockets",
    "seccomp_network",
    "workspace_quota",
]
"""One mechanism applied to a run. `Isolation.protections` lists those in force."""

KillReason = Literal["timeout", "cpu_limit", "memory_limit", "output_limit", "cancelled"]
"""Why the sandbox stopped a run before it exited by itself."""

_KIB = 1024
_MIB = 1024 * _KIB


@dataclass(frozen=True, slots=True)
class Limits:
    """What one sandboxed run may consume. Every field has a safe default.

    Memory is an address-space limit (RLIMIT_AS): it stops large allocations, not memory held in
    tmpfs or memfd files (see docs/security.md for what bounds those).
    """

    _: KW_ONLY
    timeout: float = 10.0
    """Wall-clock seconds before the whole process tree is killed."""
    cpu_seconds: int = 10
    """CPU seconds (RLIMIT_CPU) before the kernel kills the process."""
    memory_bytes: int = 512 * _MIB
    """Address space per process (RLIMIT_AS) and, where a memory cgroup is available, all the
    memory the run is charged for (tmpfs and page cache included)."""
    max_processes: int = 64
    """Processes and threads of the run (RLIMIT_NPROC for its uid, and a pids cgroup)."""
    max_file_bytes: int = 64 * _MIB
    """Largest file the run may write (RLIMIT_FSIZE)."""
    max_open_files: int = 256
    """Open file descriptors per process (RLIMIT_NOFILE)."""
    max_output_bytes: int = 16 * _KIB
    """Bytes kept of stdout and of stderr; a run printing more is stopped and the rest cut."""
    tmp_bytes: int = 64 * _MIB
    """Size of each private tmpfs of a run: its temporary directory (/tmp when namespaced),
    and the workspace when it is not kept after the call. This is the disk quota of a run; at
    the process level it needs root (see docs/security.md)."""
    network: bool = False
    """Allow network access. Off by default; only a namespaced sandbox can enforce "off"."""
    read_only_paths: tuple[Path, ...] = ()
    """Host paths the run may read, at the same place: mounted read-only in a namespaced
    sandbox, allowed read-only by Landlock at the process level."""

    def __post_init__(self) -> None:
        if self.timeout <= 0:
            raise ConfigurationError(
                f"sandbox timeout must be positive seconds, got {self.timeout}"
            )
        positive = {
            "cpu_seconds": self.cpu_seconds,
            "memory_bytes": self.memory_bytes,
            "max_processes": self.max_processes,
            "max_file_bytes": self.max_file_bytes,
            "max_open_files": self.max_open_files,
            "max_output_bytes": self.max_output_bytes,
            "tmp_bytes": self.tmp_bytes,
        }
        for name, value in positive.items():
            if value < 1:
                raise ConfigurationError(f"sandbox limit {name} must be >= 1, got {value}")
        if self.memory_bytes < 32 * _MIB:
            raise ConfigurationError(
                f"sandbox memory_bytes {self.memory_bytes} is below 32 MiB: no interpreter "
                "starts in that; give at least 33554432"
            )
        for path in self.read_only_paths:
            if not Path(path).is_absolute():
                raise ConfigurationError(f"read_only_paths must be absolute, got {str(path)!r}")


@dataclass(frozen=True, slots=True)
class Isolation:
    """The isolation actually applied to a run, as reported to callers and audit records."""

    level: IsolationLevel
    protections: frozenset[Protection]
    _: KW_ONLY
    uid: int | None = None
    """The host uid the run executed as, when it differed from the caller's."""

    @property
    def network_blocked(self) -> bool:
        """True only when the run had no route to any network, loopback included.

        A network namespace without interfaces gives that, and so does the process level's
        seccomp filter that lets `socket()` create nothing but netlink sockets.
        """
        return bool({"network_namespace", "seccomp_network"} & self.protections)

    def describe(self) -> str:
        """One line for humans and models: the level and each protection in force."""
        return f"{self.level} ({', '.join(sorted(self.protections))})"


@dataclass(frozen=True, slots=True)
class SandboxResult:
    """The outcome of one sandboxed run. A killed run is a result too, never an exception."""

    exit_code: int | None
    """The command's exit status; None when it was ended by a signal."""
    stdout: str
    stderr: str
    _: KW_ONLY
    signal: int | None = None
    """The signal that ended the command, if one did."""
    killed: KillReason | None = None
    """Set when the sandbox (not the program) ended the run, saying which limit was hit."""
    stdout_truncated: bool = False
    stderr_truncated: bool = False
    wall_seconds: float = 0.0
    cpu_seconds: float = 0.0
    peak_memory_bytes: int | None = None
    """Peak memory of the whole run, measured by its memory cgroup; None without one.

    rusage cannot stand in: a child's ru_maxrss includes the resident set of the process that
    forked it (recorded when it execs), so it would report the agent's memory, not the run's."""
    isolation: Isolation = field(
        default_factory=lambda: Isolation("process", frozenset[Protection]())
    )
    workspace: Path | None = None
    """The workspace directory when it was kept; None when it was deleted after the run."""
    warm: bool = False
    """The run used a pre-started jail of the sandbox's warm pool (same isolation as a cold
    one; its wall clock counts from when the program was handed over)."""

    @property
    def ok(self) -> bool:
        """True when the command exited by itself with status 0."""
        return self.exit_code == 0 and self.killed is None


@runtime_checkable
class Sandbox(Protocol):
    """Runs a command in a child process jail.

    Implementations: `ProcessSandbox` (rlimits, own session and uid) and `BubblewrapSandbox`
    (the same inside Linux namespaces). `detect_sandbox()` returns the strongest one that works.
    """

    @property
    def isolation(self) -> Isolation:
        """What every run of this sandbox gets; each result repeats it."""
        ...

    async def run(
        self,
        argv: Sequence[str],
        *,
        limits: Limits | None = None,
        stdin: bytes = b"",
        env: Mapping[str, str] | None = None,
        workspace: Path | None = None,
    ) -> SandboxResult:
        """Run `argv` in a fresh workspace (or in `workspace`, kept afterwards).

        `env` adds variables to the scrubbed allow-list environment; nothing of the caller's own
        environment is passed on.
        """
        ...
