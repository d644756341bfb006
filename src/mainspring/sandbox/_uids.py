"""Leases of unprivileged uids, one per running sandbox, for hosts where mainspring runs as root.

Running each call under a uid no other process uses is what makes the kernel's limits and
permissions bind: RLIMIT_NPROC does nothing for root, root may signal any process and read any
file. A uid held by exactly one call at a time can also be cleaned up wholesale (kill every
process of that uid) without touching anything else. Leases are `flock` locks on one file per
uid, so they exclude each other across threads and across processes on the same host.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import stat
import time
from collections.abc import Iterator
from pathlib import Path

from mainspring.errors import ConfigurationError

DEFAULT_FIRST_UID = 820_000
"""Far above the ranges distributions hand out (and below the 2**31 kernel ceiling)."""
DEFAULT_UID_COUNT = 64


class UidPool:
    """A range of host uids reserved for sandboxed runs; `lease()` holds one of them."""

    def __init__(
        self,
        first: int = DEFAULT_FIRST_UID,
        count: int = DEFAULT_UID_COUNT,
        *,
        lock_dir: Path | None = None,
    ) -> None:
        if first < 1000 or count < 1 or first + count > 2**31 - 1:
            raise ConfigurationError(
                f"sandbox uid range {first}..{first + count - 1} is invalid: use uids >= 1000 "
                "that no account on the host owns"
            )
        self.first = first
        self.count = count
        self.lock_dir = lock_dir or Path("/run/mainspring-sandbox")
        self._locks = {uid: str(self.lock_dir / f"uid-{uid}.lock") for uid in self.uids}
        self._prepared = False

    @property
    def uids(self) -> range:
        """The uids of the pool."""
        return range(self.first, self.first + self.count)

    def _prepare(self) -> None:
        if self._prepared:
            return
        self.lock_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = self.lock_dir.lstat()
        # A directory someone else planted (or a symlink) would let them hold or steal leases.
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid():
            raise ConfigurationError(
                f"sandbox lock directory {str(self.lock_dir)!r} must be a directory owned by "
                "the current user; remove it or pass another lock_dir"
            )
        self._prepared = True

    def _try(self, uid: int) -> int | None:
        fd = os.open(self._locks[uid], os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        return fd

    def _least_recently_used(self) -> list[int]:
        """The uids, the one released longest ago first.

        A uid just released may still own zombies waiting for the host's init to reap them,
        and they count against RLIMIT_NPROC for that uid, so it is reused last.
        """

        def released(uid: int) -> float:
            try:
                return os.stat(self._locks[uid]).st_mtime
            except FileNotFoundError:
                return 0.0

        return sorted(self.uids, key=released)

    @contextlib.contextmanager
    def _held(self, uid: int, fd: int) -> Iterator[int]:
        try:
            yield uid
        finally:
            os.utime(fd)
            os.close(fd)

    def try_lease(self) -> contextlib.AbstractContextManager[int] | None:
        """A lease of a free uid (enter it to hold the uid), or None when all are taken now."""
        self._prepare()
        for uid in self._least_recently_used():
            fd = self._try(uid)
            if fd is not None:
                return self._held(uid, fd)
        return None

    @contextlib.contextmanager
    def lease(self, poll: float = 0.02) -> Iterator[int]:
        """Hold a free uid for the duration of the block (waits while all are taken).

        Blocking: call it from a worker thread.
        """
        while (held := self.try_lease()) is None:
            time.sleep(poll)
        with held as uid:
            yield uid
