"""The warm pool: pre-started jails, each used for exactly one call and then destroyed.

A sandbox keeps up to `WarmPool.size` jails ready per call shape (`_warm.Shape`: the program
the jail waits in, its limits and its extra environment). A call of that shape takes one, hands
it its program and pays only for running it; a background thread starts the replacement. A jail
is never reused: after its one call it is torn down like a cold one (every process of its run
killed, its workspace deleted, its uid released), so one call can see nothing of another. A
shape is filled only after a first (cold) call of it, so an unused pool costs nothing.

Pooled jails hold a uid each (when the sandbox runs as root), so the pool never takes more than
the uids its sandbox can spare, pauses when a cold call had to wait for one, and gives idle
jails back (`reclaim_idle`) before a cold call would wait. Every pool is closed at interpreter
exit; a waiting jail whose host died reads end-of-file on its control pipe and exits.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import KW_ONLY, dataclass
from typing import Protocol

from mainspring.errors import ConfigurationError
from mainspring.sandbox._warm import Shape

logger = logging.getLogger("mainspring.sandbox")

_GIVE_UP_AFTER = 3
"""A shape whose warm jails die this many times in a row before use is no longer pooled."""
_SWEEP = 1.0
"""Seconds between the refill thread's checks for dead and stale jails."""
_PRESSURE_PAUSE = 1.0
"""Seconds every pool stops refilling after a cold call found no free uid."""


@dataclass(frozen=True, slots=True)
class WarmPool:
    """How many jails a sandbox keeps pre-started, and how it refills them.

    Isolation is that of a cold jail: a warm jail is set up by the same code with the same
    limits, and is destroyed after its one call (docs/security.md, The warm pool).
    """

    _: KW_ONLY
    size: int = 2
    """Jails kept ready per call shape; 0 turns the pool off (every call starts its jail)."""
    shapes: int = 4
    """Distinct call shapes (program, limits, environment) kept warm at once; the least
    recently used one is dropped when a new one comes."""
    refill_delay: float = 0.0
    """Seconds between taking a jail and starting its replacement. 0 starts it at once; a
    short delay keeps the replacement's start-up (tens of ms of CPU) off the call that just
    began, on a machine with few cores."""
    max_idle: float = 300.0
    """A warm jail older than this is replaced; a shape not called for this long is dropped."""

    def __post_init__(self) -> None:
        if self.size < 0 or self.shapes < 1:
            raise ConfigurationError(
                f"WarmPool(size={self.size}, shapes={self.shapes}) is invalid: size must be "
                ">= 0 (0 turns the pool off) and shapes >= 1"
            )
        if self.refill_delay < 0 or self.max_idle <= 0:
            raise ConfigurationError(
                f"WarmPool(refill_delay={self.refill_delay}, max_idle={self.max_idle}) is "
                "invalid: refill_delay must be >= 0 seconds and max_idle > 0 seconds"
            )


class Entry(Protocol):
    """One pre-started jail, as the pool sees it."""

    born: float
    uid: int | None

    def alive(self) -> bool:
        """True while the jail still waits for its program."""
        ...

    def destroy(self) -> None:
        """Tear the unused jail down like a finished run."""
        ...


Opener = Callable[[Shape], Entry | None]
"""Starts a jail of a shape; None when there is no room for one now (no free uid)."""

_pools: weakref.WeakSet[JailPool] = weakref.WeakSet()
_unused_uids: set[int] = set()
"""Uids of warm jails no call has taken yet (being started or idle); a taken one is removed
before its call runs, so what runs under a uid of this set is never a call's code."""
_unused_lock = threading.Lock()


@contextlib.contextmanager
def unused_uid(lease: contextlib.AbstractContextManager[int | None]) -> Iterator[int | None]:
    """Hold `lease` for a warm jail, its uid counted as unused until a call takes the jail."""
    with lease as uid:
        if uid is not None:
            with _unused_lock:
                _unused_uids.add(uid)
        try:
            yield uid
        finally:
            _taken(uid)


def _taken(uid: int | None) -> None:
    if uid is not None:
        with _unused_lock:
            _unused_uids.discard(uid)


_pressure = [0.0]
"""time.monotonic() until which no pool refills (a cold call is short of uids)."""


class JailPool:
    """The warm jails of one sandbox, and the thread that keeps them topped up."""

    def __init__(self, settings: WarmPool, opener: Opener, *, capacity: int) -> None:
        self.settings = settings
        self.capacity = capacity
        """Most jails held at once (size x shapes, or fewer: the uids the sandbox can spare)."""
        self._open = opener
        self._cond = threading.Condition()
        self._ready: OrderedDict[Shape, list[Entry]] = OrderedDict()
        self._wanted: dict[Shape, float] = {}
        """Shape -> when a call of it last came (or its jail was last taken)."""
        self._failures: dict[Shape, int] = {}
        self._closed = False
        self._thread: threading.Thread | None = None
        _pools.add(self)

    def held(self) -> int:
        """Jails ready now, over every shape."""
        with self._cond:
            return sum(len(entries) for entries in self._ready.values())

    def want(self, shape: Shape) -> None:
        """A call of `shape` just ended: keep (or start keeping) jails of it ready."""
        dropped: list[Entry] = []
        with self._cond:
            if self._closed:
                return
            self._wanted[shape] = time.monotonic()
            self._ready.setdefault(shape, [])
            self._ready.move_to_end(shape)
            self._evict_shapes(dropped)
            self._start()
            self._cond.notify_all()
        for entry in dropped:
            entry.destroy()

    def take(self, shape: Shape) -> Entry | None:
        """A live jail of exactly `shape`, or None (dead or stale ones are destroyed)."""
        dead: list[Entry] = []
        found: Entry | None = None
        with self._cond:
            entries = self._ready.get(shape, [])
            while entries and found is None:
                entry = entries.pop(0)
                alive = entry.alive()
                if alive and time.monotonic() - entry.born < self.settings.max_idle:
                    found = entry
                    _taken(entry.uid)
                    self._failures[shape] = 0
                    continue
                dead.append(entry)
                if not alive:
                    self._failures[shape] = self._failures.get(shape, 0) + 1
        for entry in dead:
            entry.destroy()
        return found

    def prime(self, shape: Shape) -> bool:
        """Start one jail of `shape` now, in this thread; False when there is no room."""
        with self._cond:
            if self._closed:
                return False
            self._wanted[shape] = time.monotonic()
            self._ready.setdefault(shape, [])
            self._ready.move_to_end(shape)
            total = sum(len(entries) for entries in self._ready.values())
            if total >= self.capacity:
                return False
        entry = self._open(shape)
        if entry is None:
            return False
        with self._cond:
            if not self._closed and shape in self._ready:
                self._ready[shape].append(entry)
                self._start()
                return True
        entry.destroy()
        return False

    def _evict_shapes(self, out: list[Entry]) -> None:
        """Drop the least recently used shapes beyond `settings.shapes` (lock held)."""
        while len(self._ready) > self.settings.shapes:
            shape, entries = self._ready.popitem(last=False)
            self._wanted.pop(shape, None)
            out.extend(entries)

    def _start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._loop, name="mainspring-warm-pool", daemon=True
            )
            self._thread.start()

    def _next_shape(self) -> Shape | None:
        """The shape to start a jail for now, or None (lock held)."""
        now = time.monotonic()
        if now < _pressure[0]:
            return None
        total = sum(len(entries) for entries in self._ready.values())
        if total >= self.capacity:
            return None
        for shape in reversed(self._ready):
            wanted = self._wanted.get(shape)
            if wanted is None or now - wanted >= self.settings.max_idle:
                continue
            if self._failures.get(shape, 0) >= _GIVE_UP_AFTER:
                continue
            short = len(self._ready[shape]) < self.settings.size
            if short and now - wanted >= self.settings.refill_delay:
                return shape
        return None

    def _loop(self) -> None:
        while True:
            with self._cond:
                if self._closed:
                    return
                shape = self._next_shape()
                if shape is None:
                    self._cond.wait(self._wait())
            stale = self._sweep()
            for entry in stale:
                entry.destroy()
            if shape is not None:
                self._fill(shape)

    def _wait(self) -> float:
        delay = self.settings.refill_delay
        return min(_SWEEP, delay) if delay > 0 else _SWEEP

    def _fill(self, shape: Shape) -> None:
        try:
            entry = self._open(shape)
        except Exception:  # a jail that cannot start is a failure of its shape, not the host's
            logger.debug("a warm jail could not be started", exc_info=True)
            entry = None
            with self._cond:
                self._failures[shape] = self._failures.get(shape, 0) + 1
        if entry is None:
            with self._cond:
                self._cond.wait(0.5)  # no room (uids): retry after the next call or a moment
            return
        with self._cond:
            if not self._closed and shape in self._ready:
                self._ready[shape].append(entry)
                return
        entry.destroy()

    def _sweep(self) -> list[Entry]:
        """Take out dead and stale jails, and the jails of shapes no call wanted for long."""
        out: list[Entry] = []
        now = time.monotonic()
        with self._cond:
            for shape in list(self._ready):
                keep = []
                for entry in self._ready[shape]:
                    stale = now - entry.born >= self.settings.max_idle
                    if entry.alive() and not stale:
                        keep.append(entry)
                        continue
                    out.append(entry)
                    if not stale:
                        self._failures[shape] = self._failures.get(shape, 0) + 1
                self._ready[shape] = keep
                if now - self._wanted.get(shape, now) >= self.settings.max_idle:
                    out.extend(self._ready.pop(shape))
                    self._wanted.pop(shape, None)
        return out

    def reclaim(self) -> bool:
        """Destroy this pool's oldest idle jail (to free its uid); False when it has none."""
        with self._cond:
            candidates = [(e.born, s) for s, entries in self._ready.items() for e in entries]
            if not candidates:
                return False
            _, shape = min(candidates, key=lambda item: item[0])
            entry = self._ready[shape].pop(0)
        entry.destroy()
        return True

    def close(self) -> None:
        """Stop refilling and destroy every idle jail; the pool takes no more calls."""
        with self._cond:
            self._closed = True
            entries = [e for entries in self._ready.values() for e in entries]
            self._ready.clear()
            self._cond.notify_all()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=10)
        for entry in entries:
            entry.destroy()
        _pools.discard(self)


def reclaim_idle() -> bool:
    """Free one uid held by an idle jail of any pool, and pause refilling for a moment.

    A cold call calls it before waiting for a uid: idle jails must never starve real calls.
    """
    _pressure[0] = time.monotonic() + _PRESSURE_PAUSE
    return any(pool.reclaim() for pool in list(_pools))


def idle_uids() -> frozenset[int]:
    """The uids of warm jails no call has taken, being started or idle (for leak checks)."""
    with _unused_lock:
        return frozenset(_unused_uids)


@atexit.register
def close_all() -> None:
    """Close every pool: no warm jail outlives the interpreter."""
    for pool in list(_pools):
        with contextlib.suppress(Exception):
            pool.close()
