"""`ProcessSandbox`: the fallback jail that needs nothing from the host but a POSIX kernel.

It holds the limits (rlimits, wall-clock timeout, output caps), the scrubbed environment,
no_new_privs and the process-group kill; when started as root it runs each call under a uid of
its own, which makes file permissions, signal permissions and RLIMIT_NPROC bind. Where the kernel
has Landlock, each run is also confined to the system directories (read), its listed read-only
paths (read) and its workspace (write), and from Landlock ABI 4 it cannot open TCP connections.
Without Landlock it does NOT hide the filesystem (anything world-readable is readable) and in no
case does it cut UDP or unix-socket networking: its results say exactly what applied, and
`detect_sandbox(minimum="namespaces")` refuses to fall back to it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from mainspring.sandbox._jail import Launch
from mainspring.sandbox._landlock import build_ruleset, detect
from mainspring.sandbox._runner import JailedSandbox, Workspace
from mainspring.sandbox._uids import UidPool
from mainspring.sandbox.base import Isolation, Limits, Protection


class ProcessSandbox(JailedSandbox):
    """A child process in its own session, with rlimits and an allow-list environment."""

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
        landlock: bool = True,
    ) -> None:
        """Configure the jail; `landlock=False` skips Landlock even where the kernel has it.

        Other arguments: see `JailedSandbox`.
        """
        super().__init__(
            limits=limits,
            max_concurrent=max_concurrent,
            uids=uids,
            workspace_root=workspace_root,
            keep_workspace=keep_workspace,
            cgroups=cgroups,
            seccomp=seccomp,
        )
        self._landlock = detect() if landlock else None

    def _isolation(self, limits: Limits, *, uid: int | None) -> Isolation:
        protections: set[Protection] = {
            "rlimits",
            "scrubbed_env",
            "process_group",
            "no_new_privileges",
        }
        if self.uids is not None:
            protections.add("own_uid")
        if self._landlock is not None:
            protections.add("landlock_filesystem")
            if self._landlock.tcp and not limits.network:
                protections.add("landlock_tcp")
            if self._landlock.scopes:
                protections.add("landlock_scopes")
        return Isolation("process", frozenset(protections), uid=uid)

    def _visible_paths(self, workspace: Workspace) -> tuple[str, str]:
        return str(workspace.path), str(workspace.tmp)

    def _command(
        self, argv: Sequence[str], workspace: Workspace, limits: Limits, env: dict[str, str]
    ) -> Launch:
        ruleset = None
        if self._landlock is not None:
            ruleset = build_ruleset(
                self._landlock,
                writable=(workspace.path, workspace.tmp),
                readable=limits.read_only_paths,
                network=limits.network,
            )
        return Launch(
            list(argv),
            env,
            workspace.path,
            limits,
            seccomp=self._seccomp,
            landlock=ruleset,
            pass_fds=(ruleset,) if ruleset is not None else (),
        )
