"""Durable run records: checkpoints after every step, resume after a crash, replay."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mainspring.runs.base import (
    ModelCalled,
    RunInfo,
    RunRecord,
    RunStatus,
    RunStore,
    ToolFinished,
    ToolStarted,
)
from mainspring.runs.sqlite import SqliteRunStore

if TYPE_CHECKING:
    from mainspring.runs.postgres import PostgresRunStore


def __getattr__(name: str) -> Any:
    # PostgreSQL support is optional (`mainspring[postgres]`): import it only when asked for.
    if name == "PostgresRunStore":
        from mainspring.runs.postgres import PostgresRunStore

        return PostgresRunStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
