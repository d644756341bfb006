import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from mainspring.agent import Agent
from mainspring.engine import DurableAgent, EngineSettings
from mainspring.errors import EngineError
from mainspring.testing import ScriptedModel
from tests.engine.conftest import ROOT
from tests.engine.durable_app import build
from tests.engine.test_workers import _effects


@pytest.fixture
def served(engine_db: str, model_url: str, tmp_path: Path) -> Iterator[Path]:
    """The durable agent's own worker: the same definition, in another process."""
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}:{ROOT}", "ENGINE_EFFECTS_DB": engine_db}
    log = tmp_path / "worker.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.engine.durable_app", engine_db, model_url],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    yield log
    proc.send_signal(signal.SIGTERM)
    proc.wait(20)


def _tail(log: Path) -> str:
    return log.read_text(errors="replace")[-2000:]


async def test_a_durable_agent_submits_to_its_workers(
    served: Path, engine_db: str, model_url: str
) -> None:
    durable = build(engine_db, model_url)
    try:
        handle = await durable.submit("order-7")
        assert (await handle.status()).status in ("queued", "running", "completed")
        state = await handle.wait(seconds=60)
        outcome = await durable.run("order-8", seconds=60)
        again = await durable.handle(handle.run_id).status()
    finally:
        durable.close()
        await durable.agent.run_store.aclose()  # type: ignore[union-attr]
    assert state.status == "completed", _tail(served)
    assert state.outcome is not None and state.outcome["output"] == "charged order-7"
    assert state.executor_id == "durable-1"
    assert outcome["output"] == "charged order-8" and outcome["executor_id"] == "durable-1"
    assert again.outcome == state.outcome
    effects = _effects(engine_db)
    assert effects[("charge", "order-7")] == effects[("charge", "order-8")] == 1


def test_a_durable_agent_needs_a_shared_run_store() -> None:
    with pytest.raises(EngineError, match="run_store"):
        DurableAgent(Agent(ScriptedModel([])), EngineSettings("postgresql://x/y"))
