"""`DurableAgent`: one `Agent` definition, run by the engine's workers instead of in-process.

The agent package knows nothing of the engine (the engine imports the agent, never the other
way); this wrapper is where the two meet, as Pydantic AI's `DBOSAgent` wraps its `Agent`. The
same program defines the agent once: worker processes serve it (`durable.worker().run()`), and
any process submits tasks to it (`await durable.submit(task)`), getting a `RunHandle` back.
"""

from __future__ import annotations

from mainspring.agent import Agent
from mainspring.engine.base import EngineSettings
from mainspring.engine.client import EngineClient, RunHandle
from mainspring.engine.worker import Worker
from mainspring.engine.workflow import RunOutcome
from mainspring.errors import EngineError


class DurableAgent:
    """An agent whose runs are durable workflows on the engine, spread over its workers.

    Args:
        agent: what every run runs; its `run_store` must be the PostgreSQL store all workers
            share (a `PostgresRunStore` on the engine's database is the usual choice).
        engine: the engine's database and queue.

    The workers must serve the same agent (this program's `worker()`, or `mainspring worker`
    with the same tools and model): a task runs with the agent of whichever worker takes it.
    """

    def __init__(self, agent: Agent, engine: EngineSettings) -> None:
        if agent.run_store is None:
            raise EngineError(
                "a durable agent needs a run_store shared by its workers: "
                "Agent(..., run_store=PostgresRunStore(url))"
            )
        self.agent = agent
        self.engine = engine
        self._client: EngineClient | None = None

    @property
    def client(self) -> EngineClient:
        """The engine client submissions go through (made on first use)."""
        if self._client is None:
            self._client = EngineClient(self.engine)
        return self._client

    async def submit(self, task: str, *, run_id: str | None = None) -> RunHandle:
        """Queue `task` for the workers; the handle reports its status and waits for it."""
        return self.client.handle(await self.client.submit(task, run_id=run_id))

    async def run(self, task: str, *, seconds: float = 300.0) -> RunOutcome:
        """Submit `task` and wait for its outcome (`EngineError` if it does not finish)."""
        handle = await self.submit(task)
        state = await handle.wait(seconds=seconds)
        if state.outcome is None:
            raise EngineError(f"run {handle.run_id!r} ended {state.status} without an outcome")
        return state.outcome  # type: ignore[return-value]

    def handle(self, run_id: str) -> RunHandle:
        """The handle of a run submitted earlier (by any process)."""
        return self.client.handle(run_id)

    def worker(self) -> Worker:
        """A worker serving this agent: `await durable.worker().run()` in a worker process."""
        return Worker(self.engine, self.agent)

    def close(self) -> None:
        """Release the engine client's connections."""
        if self._client is not None:
            self._client.close()
            self._client = None
