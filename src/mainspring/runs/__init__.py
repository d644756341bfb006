"""Durable run records: checkpoints after every step, resume after a crash, replay."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mainspring._lazy import lazy_attributes as _lazy_attributes
from mainspring.runs.base import (
    ModelCalled,
    RunInfo,
    RunRecord,
    RunStatus,
    RunStore,
    ToolFinished,
    ToolStarted,
)

if TYPE_CHECKING:
    from mainspring.runs.postgres import PostgresRunStore
    from mainspring.runs.sqlite import SqliteRunStore

# Stores are imported when first named: the agent imports this package for the run types, and
# a store's serialisers are built at its import. PostgreSQL also needs `mainspring[postgres]`.
_LAZY = {"PostgresRunStore": "mainspring.runs.postgres", "SqliteRunStore": "mainspring.runs.sqlite"}
__getattr__ = _lazy_attributes(__name__, _LAZY)


__all__ = [
    "ModelCalled",
    "PostgresRunStore",
    "RunInfo",
    "RunRecord",
    "RunStatus",
    "RunStore",
    "SqliteRunStore",
    "ToolFinished",
    "ToolStarted",
]
