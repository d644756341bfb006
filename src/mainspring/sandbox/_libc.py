"""The C library, for the few system calls Python's os module lacks (prctl, Landlock)."""

from __future__ import annotations

import ctypes
import functools


@functools.cache
def libc() -> ctypes.CDLL:
    """The process's C library, loaded once in the parent.

    `JailedSandbox` loads it at construction, so the child never has to dlopen between fork and
    exec; importing this module loads nothing, so importing mainspring works on any platform.
    """
    return ctypes.CDLL(None, use_errno=True)
