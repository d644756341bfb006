"""A seccomp deny-list for sandboxed runs, compiled once with libseccomp (the `sandbox` extra).

The list is the part of the kernel's surface that sandboxed code has no business reaching and
that keeps appearing in privilege-escalation exploits: new namespaces, mounts, tracing other
processes, kernel modules and keyrings, BPF, perf, userfaultfd and io_uring. Denied calls fail
with EPERM (clone3 with ENOSYS, so that libc falls back to clone, whose flags can be checked);
everything else is allowed. Only the host's native ABI is allowed: other ABIs (x32, i386 through
int 0x80) kill the process, libseccomp's default for architectures not in the filter.
"""

from __future__ import annotations

import ctypes
import errno
import tempfile
from dataclasses import dataclass, field

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


def compile_filter() -> SeccompProgram | None:
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
    with tempfile.TemporaryFile() as handle:
        syscalls.export_bpf(handle)
        handle.seek(0)
        return SeccompProgram.from_bpf(handle.read())


def install(program: SeccompProgram, libc: ctypes.CDLL) -> None:
    """Load the filter into the calling process (in the child, after no_new_privs)."""
    if libc.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.byref(program.fprog), 0, 0):
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_SECCOMP) failed")
