"""Which host paths an unprivileged sandbox uid can reach: every directory above them o+x."""

from __future__ import annotations

import stat
from pathlib import Path


def reachable_by_any_uid(path: Path) -> bool:
    """True when every directory above `path` lets any uid through (o+x)."""
    try:
        return all(parent.stat().st_mode & stat.S_IXOTH for parent in path.resolve().parents)
    except OSError:
        return False


def world_executable(path: Path) -> bool:
    """True when any uid may run `path`: it and each directory above it are o+x."""
    try:
        return bool(path.stat().st_mode & stat.S_IXOTH) and reachable_by_any_uid(path)
    except OSError:
        return False
