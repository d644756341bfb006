"""`ProcessSandbox`: the fallback jail that needs nothing from the host but a POSIX kernel.

It holds the limits (rlimits, wall-clock timeout, output caps), the scrubbed environment,
no_new_privs and the process-group kill; when started as root it runs each call under a uid of
its own, which makes file permissions, signal permissions and RLIMIT_NPROC bind, and gives each
fresh workspace a disk quota (a size-limited tmpfs in a private mount namespace). Where the
kernel has Landlock, each run is also confined to the system directories (read), its listed
read-only paths (read) and its workspace (write), and from Landlock ABI 4 it cannot open TCP
connections. With the seccomp filter (the `sandbox` extra), `socket()` refuses unix-domain
sockets (host services listen on them) and, without network access, every family but netlink,
so UDP and raw sockets are cut too. Without Landlock it does NOT hide the filesystem (anything
world-readable is readable): its results say exactly what applied, and
`detect_sandbox(minimum="namespaces")` refuses to fall back to it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from mainspring.sandbox._jail import Launch
from mainspring.sandbox._landlock import build_ruleset, detect
from mainspring.sandbox._mounts import quota_supported
from mainspring.sandbox._pool import WarmPool
from mainspring.sandbox._runner import JailedSandbox, Workspace
from mainspring.sandbox._seccomp import SocketPolicy
from mainspring.sandbox._uids import UidPool
from mainspring.sandbox.base import Isolation, Limits, Protection


class ProcessSandbox(JailedSandbox):
    """A child process in its own session, with rlimits and an allow-list environment."""

    _SOCKET_POLICIES: tuple[SocketPolicy, ...] = ("netlink_only", "no_unix")

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
        quota: bool = True,
        subreaper: bool = True,
        pool: WarmPool | None = None,
    ) -> None:
        """Configure the jail; `landlock=False` skips Landlock even where the kernel has it.

        `quota=False` skips the workspace tmpfs (and its mount namespace) even as root. Other
        arguments: see `JailedSandbox`.
        """
        super().__init__(
            limits=limits,
            max_concurrent=max_concurrent,
            uids=uids,
            workspace_root=workspace_root,
            keep_workspace=keep_workspace,
            cgroups=cgroups,
            seccomp=seccomp,
            subreaper=subreaper,
            pool=pool,
        )
        self._landlock = detect() if landlock else None
        self._quota = quota and quota_supported()

    def _workspace_quota(self) -> bool:
        return self._quota

    @staticmethod
    def _sockets(limits: Limits) -> SocketPolicy:
        return "no_unix" if limits.network else "netlink_only"

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
        if self._filters[self._sockets(limits)] is not None:
            protections.add("seccomp_unix_sockets")
            if not limits.network:
                protections.add("seccomp_network")
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
        mounts: tuple[tuple[str, int], ...] = ()
        if self._quota:
            mounts = ((str(workspace.tmp), limits.tmp_bytes),)
            if not workspace.given and not self.keep_workspace:
                mounts += ((str(workspace.path), limits.tmp_bytes),)
        return Launch(
            list(argv),
            env,
            workspace.path,
            limits,
            seccomp=self._filters[self._sockets(limits)],
            landlock=ruleset,
            landlock_abi=self._landlock.abi if self._landlock is not None else 0,
            pass_fds=(ruleset,) if ruleset is not None else (),
            private_mounts=mounts,
        )
