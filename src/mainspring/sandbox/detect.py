"""Pick the strongest sandbox this host supports, checked by running it, never assumed."""

from __future__ import annotations

import shutil
from pathlib import Path

from mainspring.errors import ConfigurationError
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
) -> BubblewrapSandbox | ProcessSandbox:
    """Return a `BubblewrapSandbox` if bubblewrap works here, else a `ProcessSandbox`.

    Blocking (it runs one probe in the jail): call it once at start-up. With
    `minimum="namespaces"` a host where bubblewrap is missing or fails raises
    `ConfigurationError` with the reason instead of silently falling back. `bwrap` is the path
    of the bubblewrap binary (default: found on PATH); `cgroups=True` gives each run a memory
    and a pids cgroup where this process may create them (see `JailedSandbox`).
    """
    options = {
        "limits": limits,
        "max_concurrent": max_concurrent,
        "uids": uids,
        "workspace_root": workspace_root,
        "cgroups": cgroups,
    }
    problem = "bubblewrap (bwrap) is not installed; Debian/Ubuntu: apt-get install bubblewrap"
    found = shutil.which(bwrap or "bwrap")
    if found is not None:
        strong = BubblewrapSandbox(bwrap=found, **options)  # type: ignore[arg-type]
        failure = strong.probe()
        if failure is None:
            return strong
        problem = f"bubblewrap cannot create its namespaces on this host: {failure}"
    if minimum == "namespaces":
        raise ConfigurationError(f"a namespaced sandbox was required but {problem}")
    return ProcessSandbox(**options)  # type: ignore[arg-type]
