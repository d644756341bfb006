"""Durable execution across workers: runs as DBOS workflows on PostgreSQL.

`Worker` takes runs from the queue (`mainspring worker`), `EngineClient` submits them and reads
their state (`mainspring submit`). Needs the `engine` extra (`pip install 'mainspring[engine]'`);
the DBOS parts are imported only when asked for.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mainspring._lazy import lazy_attributes as _lazy_attributes
from mainspring.engine.base import QUEUE_NAME, WORKFLOW_NAME, EngineSettings

if TYPE_CHECKING:
    from mainspring.engine.client import EngineClient, SubmittedRun
    from mainspring.engine.leases import ExecutorLeases
    from mainspring.engine.worker import Worker

_LAZY = {
    "EngineClient": "mainspring.engine.client",
    "SubmittedRun": "mainspring.engine.client",
    "ExecutorLeases": "mainspring.engine.leases",
    "Worker": "mainspring.engine.worker",
}


__getattr__ = _lazy_attributes(__name__, _LAZY)

__all__ = [
    "QUEUE_NAME",
    "WORKFLOW_NAME",
    "EngineClient",
    "EngineSettings",
    "ExecutorLeases",
    "SubmittedRun",
    "Worker",
]
