"""Pick the strongest sandbox this host supports, checked by running it, never assumed."""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path

from mainspring.errors import ConfigurationError
from mainspring.sandbox import _inside
from mainspring.sandbox._pool import WarmPool
from mainspring.sandbox._uids import UidPool
from mainspring.sandbox.base import IsolationLevel, Limits
from mainspring.sandbox.bubblewrap import BubblewrapSandbox
from mainspring.sandbox.process import ProcessSandbox


def detect_sandbox(
    *,
    minimum: IsolationLevel = "process",
    limits: Limits | None = None,
    max_concurrent: int = 4,
    uids: UidPool | None = None,
    workspace_root: Path | None = None,
    bwrap: str | None = None,
    cgroups: bool = False,
    pool: WarmPool | None = None,
) -> BubblewrapSandbox | ProcessSandbox:
    """Return a `BubblewrapSandbox` if bubblewrap works here, else a `ProcessSandbox`.

    Blocking (it runs one probe in the jail): call it once at start-up. With
    `minimum="namespaces"` a host where bubblewrap is missing or fails raises
    `ConfigurationError` with the reason instead of silently falling back. `bwrap` is the path
    of the bubblewrap binary (default: found on PATH); `cgroups=True` gives each run a memory
    and a pids cgroup where this process may create them (see `JailedSandbox`); `pool` sets the
    warm pool of pre-started jails (default `WarmPool()`; `WarmPool(size=0)` turns it off).

    Inside the child of a sandboxed tool (module-level code run again there), nothing is probed
    and nothing raises: the sandbox returned is never used to run anything in that child.
    """
    options = {
        "limits": limits,
        "max_concurrent": max_concurrent,
        "uids": uids,
        "workspace_root": workspace_root,
        "cgroups": cgroups,
        "pool": pool,
    }
    problem = "bubblewrap (bwrap) is not installed; Debian/Ubuntu: apt-get install bubblewrap"
    found = shutil.which(bwrap or "bwrap")
    if _inside.level() is not None:
        # Module-level code of a sandboxed tool, run again in its child: nothing will run in
        # this sandbox there, and a probe would fail (nested namespaces are refused).
        return _unprobed(found, options)
    if found is not None:
        strong = BubblewrapSandbox(bwrap=found, **options)  # type: ignore[arg-type]
        failure = strong.probe()
        if failure is None:
            return strong
        problem = f"bubblewrap cannot create its namespaces on this host: {failure}"
    if minimum == "namespaces":
        raise ConfigurationError(f"a namespaced sandbox was required but {problem}")
    return ProcessSandbox(**options)  # type: ignore[arg-type]


def _unprobed(
    found: str | None, options: Mapping[str, object]
) -> BubblewrapSandbox | ProcessSandbox:
    if found is not None:
        return BubblewrapSandbox(bwrap=found, **options)  # type: ignore[arg-type]
    return ProcessSandbox(**options)  # type: ignore[arg-type]
