"""What the settings name is what the CLI opens: the Redis guard backend, stores, audit log."""

import os
from pathlib import Path

import pytest

from mainspring.agent import Budget
from mainspring.audit import JsonlAuditLog, SqliteAuditLog
from mainspring.cli.run import make_agent
from mainspring.cli.stores import connect_guard_backend, open_audit_log, open_run_store
from mainspring.config import load_settings
from mainspring.errors import BackendError, ConfigurationError
from mainspring.runs import SqliteRunStore
from mainspring.testing import ScriptedModel
from mainspring.tools.guards import RedisBackend
from tests.conftest import service_unavailable

REDIS_URL = os.environ.get("MAINSPRING_TEST_REDIS", "redis://127.0.0.1:6379/0")


@pytest.fixture(autouse=True)
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MAINSPRING_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("MAINSPRING_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.redis
async def test_redis_url_becomes_the_agents_guard_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAINSPRING_REDIS_URL", REDIS_URL)
    settings = load_settings()
    try:
        backend = await connect_guard_backend(settings)
    except BackendError as exc:
        service_unavailable("Redis at " + REDIS_URL, exc)
    assert isinstance(backend, RedisBackend)
    agent = make_agent(settings, ScriptedModel([]), "native", Budget(), backend=backend)
    assert agent.executor.registry.backend is backend
    await backend.aclose()


async def test_without_redis_url_limits_stay_in_process() -> None:
    assert await connect_guard_backend(load_settings()) is None


def test_run_store_and_audit_log_follow_the_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = open_run_store(None, load_settings())
    assert isinstance(store, SqliteRunStore) and store.path == tmp_path / "runs.db"
    assert isinstance(open_audit_log(load_settings()), JsonlAuditLog)
    monkeypatch.setenv("MAINSPRING_RUNS_URL", f"sqlite:///{tmp_path}/elsewhere.db")
    monkeypatch.setenv("MAINSPRING_AUDIT_LOG", str(tmp_path / "audit.db"))
    moved = open_run_store(None, load_settings())
    assert isinstance(moved, SqliteRunStore) and moved.path == tmp_path / "elsewhere.db"
    assert isinstance(open_audit_log(load_settings()), SqliteAuditLog)
    monkeypatch.setenv("MAINSPRING_AUDIT_LOG", "s3://bucket/audit")
    with pytest.raises(ConfigurationError, match="MAINSPRING_AUDIT_LOG"):
        open_audit_log(load_settings())
