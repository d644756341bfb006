"""Durable execution across workers: runs as DBOS workflows on PostgreSQL.

`Worker` takes runs from the queue (`mainspring worker`), `EngineClient` submits them and reads
their state (`mainspring submit`); `DurableAgent(agent, EngineSettings(url))` is an agent whose
runs go to the workers (`submit` returns a `RunHandle`). Needs the `engine` extra
(`pip install 'mainspring[engine]'`); the DBOS parts are imported only when asked for.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mainspring._lazy import lazy_attributes as _lazy_attributes
from mainspring.engine.base import QUEUE_NAME, WORKFLOW_NAME, EngineSettings

if TYPE_CHECKING:
    from mainspring.engine.client import EngineClient, RunHandle, SubmittedRun
    from mainspring.engine.durable import DurableAgent
    from mainspring.engine.leases import ExecutorLeases
    from mainspring.engine.worker import Worker

_LAZY = {
    "DurableAgent": "mainspring.engine.durable",
    "EngineClient": "mainspring.engine.client",
    "RunHandle": "mainspring.engine.client",
    "SubmittedRun": "mainspring.engine.client",
    "ExecutorLeases": "mainspring.engine.leases",
    "Worker": "mainspring.engine.worker",
}


__getattr__ = _lazy_attributes(__name__, _LAZY)

__all__ = [
    "QUEUE_NAME",
    "WORKFLOW_NAME",
    "DurableAgent",
    "EngineClient",
    "EngineSettings",
    "ExecutorLeases",
    "RunHandle",
    "SubmittedRun",
    "Worker",
]
