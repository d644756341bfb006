"""A disk quota for the process level: the workspace is a size-limited tmpfs in a private mount.

Without namespaces the workspace is a directory on the host disk, and per-file limits
(RLIMIT_FSIZE) do not stop a run from writing file after file until the disk is full. When the
caller is root, the child enters a mount namespace of its own between fork and exec and mounts a
tmpfs of `Limits.tmp_bytes` over its workspace and over its temporary directory: writes past the
size fail with ENOSPC, nothing reaches the host disk, and the mounts vanish with the namespace
when the run's last process exits, so a crashed agent leaves no mount behind. Mount propagation
is made private first, so the host never sees these mounts.

The mount namespace is only a vehicle for the quota: it hides nothing (the host's mounts are
all still there), which is why the result lists `workspace_quota`, not `mount_namespace`.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from functools import partial

from mainspring.sandbox._libc import libc

_CLONE_NEWNS = 0x00020000
_MS_NOSUID, _MS_NODEV, _MS_REC, _MS_PRIVATE = 0x2, 0x4, 0x4000, 0x40000


def _check(result: int, what: str) -> None:
    if result != 0:
        raise OSError(ctypes.get_errno(), f"{what} failed")


def mount_private_tmpfs(mounts: Sequence[tuple[str, int]], uid: int | None, cwd: str) -> None:
    """In the child, as root: a private mount namespace with a tmpfs on each (path, size).

    The tmpfs is owned by the run's uid (mode 0700); the child changes into `cwd` again so its
    working directory is the new tmpfs, not the directory hidden under it.
    """
    lib = libc()
    _check(lib.unshare(_CLONE_NEWNS), "unshare(CLONE_NEWNS)")
    _check(lib.mount(None, b"/", None, _MS_REC | _MS_PRIVATE, None), "making mounts private")
    owner = os.getuid() if uid is None else uid
    for path, size in mounts:
        options = f"size={size},mode=0700,uid={owner},gid={owner}".encode()
        _check(
            lib.mount(b"tmpfs", path.encode(), b"tmpfs", _MS_NOSUID | _MS_NODEV, options),
            f"mounting a tmpfs on {path}",
        )
    os.chdir(cwd)


@functools.cache
def quota_supported() -> bool:
    """True when this process may give a child a private tmpfs (root, and nothing forbids it).

    Being root is not enough: a container's seccomp or AppArmor profile, or a missing
    CAP_SYS_ADMIN, refuse the mount. So it is tried once, in a child running /bin/true.
    """
    if os.geteuid() != 0 or not hasattr(os, "fork"):
        return False
    true = shutil.which("true", path="/usr/bin:/bin")
    if true is None:
        return False
    directory = tempfile.mkdtemp(prefix="mainspring-quota-probe-")
    libc()  # loaded now: the child must not dlopen between fork and exec
    try:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            probe = subprocess.run(
                [true],
                preexec_fn=partial(mount_private_tmpfs, ((directory, 1 << 20),), None, directory),
                env={},
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                timeout=10,
                check=False,
            )
            return probe.returncode == 0
        return False
    finally:
        os.rmdir(directory)
