"""Landlock for the process level: the filesystem view and TCP access of an unprivileged jail.

Without namespaces, a jailed process sees the host's files with its uid's permissions. Landlock
(Linux 5.13+, no privileges needed) narrows that per run: read and execute under the system
directories, read the listed read-only paths, write only in the workspace and its temporary
directory. From ABI 4 (Linux 6.7) TCP bind and connect are denied too, and from ABI 6 (6.12)
signals and abstract unix sockets cannot cross the sandbox boundary. A sandboxed process also
cannot ptrace (or read /proc/<pid>/environ of) anything outside its domain.

The ruleset is built in the parent, per run; the child only calls landlock_restrict_self.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from mainspring.sandbox._libc import libc

_CREATE_RULESET, _ADD_RULE, _RESTRICT_SELF = 444, 445, 446  # the same on every architecture
_VERSION = 1
_RULE_PATH_BENEATH = 1

_EXECUTE, _WRITE_FILE, _READ_FILE, _READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
_FILE_ONLY = _EXECUTE | _WRITE_FILE | _READ_FILE | (1 << 14) | (1 << 15)  # + TRUNCATE, IOCTL_DEV
_ALL_FS_BY_ABI = {1: (1 << 13) - 1, 2: (1 << 14) - 1, 3: (1 << 15) - 1, 5: (1 << 16) - 1}
_READ = _READ_FILE | _READ_DIR
_READ_EXECUTE = _READ | _EXECUTE
_NET_BIND_TCP, _NET_CONNECT_TCP = 1 << 0, 1 << 1
_SCOPE_ABSTRACT_UNIX_SOCKET, _SCOPE_SIGNAL = 1 << 0, 1 << 1

_SYSTEM = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
_ETC = (
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/etc/alternatives",
    "/etc/localtime",
)
_PSEUDO_READ = ("/dev/zero", "/dev/urandom", "/dev/random", "/proc")
_PSEUDO_WRITE = ("/dev/null",)


class _RulesetAttr(ctypes.Structure):
    _fields_ = [
        ("handled_access_fs", ctypes.c_uint64),
        ("handled_access_net", ctypes.c_uint64),
        ("scoped", ctypes.c_uint64),
    ]


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


def abi_version() -> int:
    """The kernel's Landlock ABI version; 0 when Landlock is missing or disabled."""
    version = libc().syscall(_CREATE_RULESET, None, ctypes.c_size_t(0), ctypes.c_uint32(_VERSION))
    return max(int(version), 0)


@dataclass(frozen=True, slots=True)
class LandlockFeatures:
    """What the running kernel's Landlock can restrict."""

    abi: int

    @property
    def filesystem(self) -> bool:
        """Paths can be restricted."""
        return self.abi >= 1

    @property
    def tcp(self) -> bool:
        """TCP bind and connect can be denied."""
        return self.abi >= 4

    @property
    def scopes(self) -> bool:
        """Signals and abstract unix sockets can be kept inside the sandbox."""
        return self.abi >= 6


def _fs_rights(abi: int) -> int:
    return _ALL_FS_BY_ABI[max(v for v in _ALL_FS_BY_ABI if v <= abi)]


def _add_path(ruleset: int, path: str, access: int, handled: int) -> None:
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except OSError:
        return  # a missing system directory needs no rule
    try:
        if not os.path.isdir(path):
            access &= _FILE_ONLY
        rule = _PathBeneathAttr(access & handled, fd)
        if libc().syscall(_ADD_RULE, ruleset, _RULE_PATH_BENEATH, ctypes.byref(rule), 0) != 0:
            raise OSError(ctypes.get_errno(), f"landlock_add_rule({path!r}) failed")
    finally:
        os.close(fd)


def build_ruleset(
    features: LandlockFeatures,
    *,
    writable: Iterable[Path],
    readable: Iterable[Path],
    network: bool,
) -> int:
    """A ruleset fd for one run: the caller passes it to the child and closes it after spawn."""
    handled = _fs_rights(features.abi)
    attr = _RulesetAttr(handled, 0, 0)
    size = 8
    if features.tcp:
        attr.handled_access_net = 0 if network else _NET_BIND_TCP | _NET_CONNECT_TCP
        size = 16
    if features.scopes:
        attr.scoped = _SCOPE_ABSTRACT_UNIX_SOCKET | _SCOPE_SIGNAL
        size = 24
    ruleset = int(libc().syscall(_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(size), 0))
    if ruleset < 0:
        raise OSError(ctypes.get_errno(), "landlock_create_ruleset failed")
    try:
        # Debian links the interpreter's sitecustomize.py into /etc/python3.X.
        for path in (*_SYSTEM, *_ETC, *map(str, Path("/etc").glob("python3*"))):
            _add_path(ruleset, path, _READ_EXECUTE, handled)
        for path in _PSEUDO_READ:
            _add_path(ruleset, path, _READ, handled)
        for path in (*_PSEUDO_WRITE, *map(str, writable)):
            _add_path(ruleset, path, handled, handled)
        for shown in readable:
            _add_path(ruleset, str(shown), _READ_EXECUTE, handled)
    except BaseException:
        os.close(ruleset)
        raise
    return ruleset


def allow_mounts_in_child(ruleset: int, paths: Iterable[str], abi: int) -> None:
    """Grant full access beneath tmpfs mounts the child just made over its directories.

    Landlock ignores rules on a directory once a mount hides it (the walk jumps from the
    mount's root to the mountpoint's parent), so the parent's rules for the workspace do not
    reach the child's tmpfs: the child adds rules for the new mount roots before it enters the
    ruleset.
    """
    handled = _fs_rights(abi)
    for path in paths:
        _add_path(ruleset, path, handled, handled)


def restrict_self(ruleset: int) -> None:
    """Enter the ruleset (in the child, after no_new_privs); it can never be left."""
    if libc().syscall(_RESTRICT_SELF, ruleset, 0) != 0:
        raise OSError(ctypes.get_errno(), "landlock_restrict_self failed")


def detect() -> LandlockFeatures | None:
    """The kernel's Landlock features, or None when it has none."""
    with contextlib.suppress(OSError, AttributeError):
        abi = abi_version()
        return LandlockFeatures(abi) if abi >= 1 else None
    return None
