"""A seccomp deny-list for sandboxed runs, compiled once with libseccomp (the `sandbox` extra).

The list is the part of the kernel's surface that sandboxed code has no business reaching and
that keeps appearing in privilege-escalation exploits: new namespaces, mounts, tracing other
processes, kernel modules and keyrings, BPF, perf, userfaultfd, io_uring, and personality
flags other than the default (READ_IMPLIES_EXEC and ADDR_NO_RANDOMIZE weaken exploit defences).
Denied calls fail with EPERM (clone3 with ENOSYS, so that libc falls back to clone, whose flags can
be checked); everything else is allowed. Only the host's native ABI is allowed: other ABIs (x32,
i386 through int 0x80) kill the process, libseccomp's default for architectures not in the filter.

The process level, which has no network namespace, also filters `socket()` by address family
(`SocketPolicy`): no unix-domain sockets (host services listen on them, PostgreSQL trusting local
users among them) and, without network access, no socket but netlink at all (UDP and raw sockets
included, which Landlock cannot restrict).
"""

from __future__ import annotations

import ctypes
import errno
import tempfile
from dataclasses import dataclass, field
from typing import Any, Literal

DENIED = (
    "unshare",
    "setns",
    "mount",
    "umount2",
    "pivot_root",
    "move_mount",
    "open_tree",
    "fsopen",
    "fsmount",
    "fsconfig",
    "fspick",
    "mount_setattr",
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "kcmp",
    "pidfd_getfd",
    "init_module",
    "finit_module",
    "delete_module",
    "kexec_load",
    "kexec_file_load",
    "reboot",
    "swapon",
    "swapoff",
    "acct",
    "add_key",
    "request_key",
    "keyctl",
    "bpf",
    "perf_event_open",
    "userfaultfd",
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    "open_by_handle_at",
    "name_to_handle_at",
    "settimeofday",
    "clock_settime",
    "clock_adjtime",
    "adjtimex",
    "quotactl",
    "lookup_dcookie",
    "vhangup",
    "iopl",
    "ioperm",
)
_CLONE_NAMESPACE_FLAGS = (
    0x00020000,
    0x02000000,
    0x04000000,
    0x08000000,
    0x10000000,
    0x20000000,
    0x40000000,
)
"""CLONE_NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID and NEWNET."""
_AF_UNIX = 1
_AF_NETLINK = 16
_LOW_32 = 0xFFFFFFFF

SocketPolicy = Literal["any", "no_unix", "netlink_only"]
"""Which sockets `socket()` may create: all, all but AF_UNIX, or AF_NETLINK only (no network)."""
_PR_SET_SECCOMP = 22
_SECCOMP_MODE_FILTER = 2


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


@dataclass(frozen=True)
class SeccompProgram:
    """A compiled BPF filter: bytes for bwrap's --seccomp, a struct for prctl in a child."""

    bpf: bytes
    _buffer: ctypes.Array[ctypes.c_char] = field(repr=False, compare=False)
    fprog: _SockFprog = field(repr=False, compare=False)

    @classmethod
    def from_bpf(cls, bpf: bytes) -> SeccompProgram:
        """Wrap exported BPF bytes (8 bytes per instruction)."""
        buffer = ctypes.create_string_buffer(bpf, len(bpf))
        fprog = _SockFprog(len(bpf) // 8, ctypes.cast(buffer, ctypes.c_void_p))
        return cls(bpf, buffer, fprog)


def _deny_personality_flags(syscalls: Any, pyseccomp: Any) -> None:
    """Deny personality(x) unless the low 32 bits of x are all 0 (PER_LINUX) or all 1 (query).

    libseccomp allows one comparison per argument and rule, so "neither 0 nor 0xffffffff" is
    written as 32 rules: x has a set bit whose (cyclic) neighbour is clear. A value with both set
    and clear bits has such a pair somewhere; 0 and 0xffffffff have none. The kernel reads the
    argument as an unsigned int, so the upper 32 bits are ignored here as they are there.
    """
    for bit in range(32):
        neighbour = (bit + 1) % 32
        mask = (1 << bit) | (1 << neighbour)
        is_mixed = pyseccomp.Arg(0, pyseccomp.MASKED_EQ, mask, 1 << bit)
        syscalls.add_rule(pyseccomp.ERRNO(errno.EPERM), "personality", is_mixed)


def _filter_sockets(syscalls: Any, pyseccomp: Any, sockets: SocketPolicy) -> None:
    """Refuse `socket()` for the address families the policy excludes (EPERM).

    The family is an int to the kernel but a 64-bit register to seccomp: AF_UNIX is matched on
    its low 32 bits (so upper garbage bits do not slip past), and "netlink only" lets through
    exactly the 64-bit value 16 and nothing else.
    """
    if sockets == "no_unix":
        is_unix = pyseccomp.Arg(0, pyseccomp.MASKED_EQ, _LOW_32, _AF_UNIX)
        syscalls.add_rule(pyseccomp.ERRNO(errno.EPERM), "socket", is_unix)
    elif sockets == "netlink_only":
        for comparison in (pyseccomp.LT, pyseccomp.GT):
            other = pyseccomp.Arg(0, comparison, _AF_NETLINK)
            syscalls.add_rule(pyseccomp.ERRNO(errno.EPERM), "socket", other)


def compile_filter(sockets: SocketPolicy = "any") -> SeccompProgram | None:
    """The deny-list as BPF, or None when pyseccomp or libseccomp is not installed."""
    try:
        import pyseccomp  # type: ignore[import-untyped]
    except (ImportError, OSError, RuntimeError):
        return None
    syscalls = pyseccomp.SyscallFilter(pyseccomp.ALLOW)
    for name in DENIED:
        try:
            syscalls.add_rule(pyseccomp.ERRNO(errno.EPERM), name)
        except (OSError, ValueError, RuntimeError):
            continue  # not a syscall on this architecture
    for flag in _CLONE_NAMESPACE_FLAGS:
        # clone(flags, ...): any namespace flag set means a new namespace; refuse it.
        is_set = pyseccomp.Arg(0, pyseccomp.MASKED_EQ, flag, flag)
        syscalls.add_rule(pyseccomp.ERRNO(errno.EPERM), "clone", is_set)
    syscalls.add_rule(pyseccomp.ERRNO(errno.ENOSYS), "clone3")
    _deny_personality_flags(syscalls, pyseccomp)
    _filter_sockets(syscalls, pyseccomp, sockets)
    with tempfile.TemporaryFile() as handle:
        syscalls.export_bpf(handle)
        handle.seek(0)
        return SeccompProgram.from_bpf(handle.read())


def install(program: SeccompProgram, libc: ctypes.CDLL) -> None:
    """Load the filter into the calling process (in the child, after no_new_privs)."""
    if libc.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.byref(program.fprog), 0, 0):
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_SECCOMP) failed")
