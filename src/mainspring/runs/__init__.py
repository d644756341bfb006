"""Durable run records: checkpoints after every step, resume after a crash, replay."""

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

__all__ = [
    "ModelCalled",
    "RunInfo",
    "RunRecord",
    "RunStatus",
    "RunStore",
    "SqliteRunStore",
    "ToolFinished",
    "ToolStarted",
]
