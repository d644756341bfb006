"""One program that defines a durable agent, for both sides: `python -m ... DB MODEL_URL` serves it.

The test process builds the same `DurableAgent` and submits to it.
"""

from __future__ import annotations

import signal
import sys

import anyio

from mainspring.agent import Agent
from mainspring.engine import DurableAgent, EngineSettings
from mainspring.models.openai import OpenAIModel
from mainspring.runs import PostgresRunStore
from tests.engine.engine_tools import TOOLS


def build(db: str, model_url: str, executor_id: str | None = None) -> DurableAgent:
    """The agent: the fake model, the engine's tools, the run store on the engine's database."""
    agent = Agent(
        OpenAIModel("fake", base_url=model_url, api_key="none"),
        TOOLS,
        run_store=PostgresRunStore(db),
    )
    return DurableAgent(agent, EngineSettings(db, executor_id=executor_id))


async def _serve(durable: DurableAgent) -> None:
    worker = durable.worker()
    async with anyio.create_task_group() as group:
        group.start_soon(worker.run)
        with anyio.open_signal_receiver(signal.SIGTERM) as signals:
            async for _ in signals:
                worker.stop()
                break


if __name__ == "__main__":
    anyio.run(_serve, build(sys.argv[1], sys.argv[2], executor_id="durable-1"))
