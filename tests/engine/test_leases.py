import threading
import time

import psycopg
import pytest

from mainspring.engine import EngineSettings, ExecutorLeases
from mainspring.errors import EngineError


def _age(db: str, executor_id: str, seconds: float) -> None:
    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute(
            "UPDATE mainspring.executors SET heartbeat_at = now() - %s * interval '1 second' "
            "WHERE executor_id = %s",
            (seconds, executor_id),
        )


def test_only_expired_executors_are_recovered_once(engine_db: str) -> None:
    leases = ExecutorLeases(engine_db, lease_seconds=5)
    leases.renew("alive")
    leases.renew("dead")
    _age(engine_db, "dead", 60)
    assert leases.expired(excluding="me") == ["dead"]
    assert leases.expired(excluding="dead") == []
    calls: list[str] = []

    def recovery(name: str) -> int:
        calls.append(name)
        return 3

    assert leases.recover("dead", lambda: recovery("dead")) == 3
    assert leases.recover("dead", lambda: recovery("again")) is None
    assert leases.recover("alive", lambda: recovery("alive")) is None
    assert calls == ["dead"]
    leases.close()


def test_a_restart_with_the_same_id_waits_for_a_recovery_in_progress(engine_db: str) -> None:
    peer = ExecutorLeases(engine_db, lease_seconds=5)
    restarted = ExecutorLeases(engine_db, lease_seconds=5)
    peer.renew("w1")
    _age(engine_db, "w1", 60)
    order: list[str] = []
    recovering = threading.Event()

    def slow_recovery() -> int:
        recovering.set()
        time.sleep(0.5)
        order.append("recovered")
        return 1

    thread = threading.Thread(target=peer.recover, args=("w1", slow_recovery))
    thread.start()
    recovering.wait(5)
    restarted.renew("w1")  # blocks until the peer's recovery commits
    order.append("renewed")
    thread.join()
    assert order == ["recovered", "renewed"]
    assert peer.expired(excluding="x") == []
    peer.close()
    restarted.close()


def test_bad_settings_are_clear_errors() -> None:
    with pytest.raises(EngineError, match="postgresql://host/db"):
        EngineSettings("mysql://x/y")
    with pytest.raises(EngineError, match="concurrency"):
        EngineSettings("postgresql://x/y", concurrency=0)
    with pytest.raises(EngineError, match="plain SQL identifier"):
        ExecutorLeases("postgresql://x/y", lease_seconds=1, schema="a;b")


def test_unreachable_database_is_an_engine_error() -> None:
    leases = ExecutorLeases("postgresql://postgres@127.0.0.1:1/nope", lease_seconds=1)
    with pytest.raises(EngineError, match="executor leases"):
        leases.renew("w")
