"""`BubblewrapSandbox`: the process jail inside Linux namespaces, built with bubblewrap.

On top of everything `ProcessSandbox` holds, the command runs in new user, pid, network, ipc,
uts and cgroup namespaces, with a private mount tree holding only the system directories
(read-only), the paths the caller lists (read-only), a size-limited /tmp and the workspace (the
only writable host directory). bwrap itself starts with the scrubbed environment, so even
/proc/1/environ inside shows nothing of the caller's. When started as root, bwrap runs under a
leased unprivileged uid, so the namespaces are unprivileged ones and no host capability exists
anywhere in the sandbox. The seccomp filter also refuses unix-domain sockets: a socket file in a
read-only path could otherwise still be connected to, and with `network=True` the host's
abstract sockets would be shared.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Sequence
from pathlib import Path

from mainspring.errors import ConfigurationError
from mainspring.sandbox._jail import Launch
from mainspring.sandbox._paths import reachable_by_any_uid
from mainspring.sandbox._pool import WarmPool
from mainspring.sandbox._runner import JailedSandbox, Workspace
from mainspring.sandbox._seccomp import SocketPolicy
from mainspring.sandbox._uids import UidPool
from mainspring.sandbox.base import Isolation, Limits, Protection

WORKSPACE = "/workspace"
_SYSTEM_DIRS = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
_ETC_FILES = (
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/etc/alternatives",
    "/etc/localtime",
)
_NETWORK_ETC_FILES = (
    "/etc/resolv.conf",
    "/etc/hosts",
    "/etc/nsswitch.conf",
    "/etc/ssl",
    "/etc/ca-certificates",
)
_PROTECTIONS: frozenset[Protection] = frozenset(
    {
        "rlimits",
        "scrubbed_env",
        "process_group",
        "user_namespace",
        "pid_namespace",
        "ipc_namespace",
        "mount_namespace",
        "read_only_system",
        "no_new_privileges",
        "capabilities_dropped",
    }
)


def _system_mounts() -> list[str]:
    args = ["--ro-bind", "/usr", "/usr"]
    for path in _SYSTEM_DIRS:
        if os.path.islink(path):
            args += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            args += ["--ro-bind", path, path]
    for path in _ETC_FILES:
        args += ["--ro-bind-try", path, path]
    return args


class BubblewrapSandbox(JailedSandbox):
    """Runs each call in bubblewrap namespaces; see the module docstring for what that hides."""

    # A read-only bind does not stop connect() to a socket file in a listed directory, and
    # with network=True the host's abstract sockets are shared too: no unix sockets at all.
    _SOCKET_POLICIES: tuple[SocketPolicy, ...] = ("no_unix",)

    def __init__(
        self,
        *,
        bwrap: str | None = None,
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
        """Configure the jail; `bwrap` is the path of the binary (default: found on PATH).

        Other arguments: see `JailedSandbox`. Call `probe()` (or use `detect_sandbox()`) to
        check that this host lets bubblewrap create its namespaces before relying on it.
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
        found = shutil.which(bwrap or "bwrap")
        if found is None:
            raise ConfigurationError(
                f"bubblewrap is not installed ({bwrap or 'bwrap'} not found): install it "
                "(Debian/Ubuntu: apt-get install bubblewrap) or use ProcessSandbox, which does "
                "not isolate network or files"
            )
        self.bwrap = found
        self._system = _system_mounts()

    def _workspace_quota(self) -> bool:
        return True  # a fresh workspace is a tmpfs of Limits.tmp_bytes (see _command)

    def _isolation(self, limits: Limits, *, uid: int | None) -> Isolation:
        protections = set(_PROTECTIONS)
        if not limits.network:
            protections.add("network_namespace")
        if self.uids is not None:
            protections.add("own_uid")
        if self._seccomp is not None:
            protections.add("seccomp_unix_sockets")
        return Isolation("namespaces", frozenset(protections), uid=uid)

    def _visible_paths(self, workspace: Workspace) -> tuple[str, str]:
        return WORKSPACE, "/tmp"

    def _command(
        self, argv: Sequence[str], workspace: Workspace, limits: Limits, env: dict[str, str]
    ) -> Launch:
        args = [
            self.bwrap,
            "--unshare-user",
            "--unshare-pid",
            # The command itself is pid 1, so bwrap waits for it directly and its CPU time
            # reaches our wait4(); its exit still ends the whole namespace.
            "--as-pid-1",
            "--unshare-ipc",
            "--unshare-uts",
            "--unshare-cgroup-try",
            # No nested user namespaces: they are the usual first step of kernel exploits.
            "--disable-userns",
            "--die-with-parent",
            "--new-session",
            "--cap-drop",
            "ALL",
            "--hostname",
            "sandbox",
            *self._system,
            "--proc",
            "/proc",
            "--dev",
            "/dev",
            "--size",
            str(limits.tmp_bytes),
            "--tmpfs",
            "/tmp",
        ]
        if limits.network:
            args += ["--share-net"]
            for path in _NETWORK_ETC_FILES:
                args += ["--ro-bind-try", path, path]
        else:
            args += ["--unshare-net"]
        for shown in limits.read_only_paths:
            self._check_reachable(shown, "Limits.read_only_paths")
            args += ["--ro-bind", str(shown), str(shown)]
        if workspace.given:
            self._check_reachable(workspace.path, "the workspace argument")
        if workspace.given or self.keep_workspace:
            args += ["--bind", str(workspace.path), WORKSPACE]
        else:
            # A workspace deleted after the call lives in memory, capped: no host disk to fill.
            args += ["--size", str(limits.tmp_bytes), "--tmpfs", WORKSPACE]
        args += ["--chdir", WORKSPACE]
        # Last: the root tmpfs (holding /etc and the mount points) becomes read-only too.
        args += ["--remount-ro", "/"]
        fds: tuple[int, ...] = ()
        if self._seccomp is not None:
            # One descriptor per call: bwrap reads it to the end, so it cannot be shared.
            fd = os.memfd_create("mainspring-seccomp", os.MFD_CLOEXEC)
            os.write(fd, self._seccomp.bpf)
            os.lseek(fd, 0, os.SEEK_SET)
            fds = (fd,)
            args += ["--seccomp", str(fd)]
        args += ["--", *argv]
        return Launch(args, env, workspace.path, limits, launcher=True, pass_fds=fds)

    def _check_reachable(self, path: Path, where: str) -> None:
        if not path.exists():
            raise ConfigurationError(
                f"{str(path)!r} does not exist on the host; fix the path in {where}"
            )
        # bwrap runs as the leased uid, so it must be able to walk to the path to mount it.
        if self.uids is not None and not reachable_by_any_uid(path):
            raise ConfigurationError(
                f"{str(path)!r} (from {where}) sits under a directory other users cannot enter "
                "(no o+x), so the sandbox uid cannot mount it; move it or chmod o+x its parents"
            )

    def probe(self) -> str | None:
        """Run `true` in the jail once; return why it failed, or None when it works.

        Blocking (tens of milliseconds): call it once at start-up, not per call.
        """
        result = self._run_sync(["true"], self.limits, b"", None, None, threading.Event())
        if result.ok:
            return None
        return (result.stderr.strip() or f"bwrap exited with status {result.exit_code}")[:500]
