"""A fresh PostgreSQL database per test, a fake model server, and worker processes to kill."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.conftest import service_unavailable

ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
ROOT = Path(__file__).parents[2]


@pytest.fixture
def engine_db() -> Iterator[str]:
    name = f"ms_engine_{uuid.uuid4().hex[:10]}"
    try:
        with psycopg.connect(ADMIN, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f"CREATE DATABASE {name}")
    except psycopg.OperationalError as exc:
        service_unavailable("PostgreSQL on 127.0.0.1:5432", exc)
    url = f"postgresql://postgres@127.0.0.1:5432/{name}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE effects (kind text, run_order text, at timestamptz DEFAULT now())"
        )
    yield url
    if os.environ.get("KEEP_ENGINE_DB"):
        print("kept", url)
        return
    with psycopg.connect(ADMIN, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def model_url() -> Iterator[str]:
    server = subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "engine" / "fake_openai.py")],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert server.stdout is not None
    port = int(server.stdout.readline())
    yield f"http://127.0.0.1:{port}/v1"
    server.terminate()
    server.wait(10)
    server.stdout.close()


@dataclass
class Workers:
    db: str
    model_url: str
    tmp: Path
    lease: float = 3.0
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    kills: int = 0
    extra: list[str] = field(default_factory=list)
    """More options of every worker started from now on (`--service`, `--mcp-config F`)."""
    env: dict[str, str] = field(default_factory=dict)
    """More environment variables of every worker (the service's settings)."""

    def start(self, executor_id: str) -> None:
        env = {
            **os.environ,
            "PYTHONPATH": f"{ROOT / 'src'}:{ROOT}",
            "ENGINE_EFFECTS_DB": self.db,
            "MAINSPRING_DATA_DIR": str(self.tmp / "data"),
            "MAINSPRING_CONFIG": str(self.tmp / "none.toml"),
            **self.env,
        }
        (self.tmp / "none.toml").touch()
        with (self.tmp / f"{executor_id}.log").open("ab") as log:
            self._spawn(executor_id, env, log)

    def _spawn(self, executor_id: str, env: dict[str, str], log: Any) -> None:
        self.procs[executor_id] = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "mainspring.cli",
                "worker",
                "--db",
                self.db,
                "--tools",
                "tests.engine.engine_tools:TOOLS",
                "--model",
                "openai:fake",
                "--base-url",
                self.model_url,
                "--executor-id",
                executor_id,
                "--lease",
                str(self.lease),
                "--concurrency",
                "4",
                *self.extra,
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def kill(self, executor_id: str) -> None:
        proc = self.procs.pop(executor_id)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        self.kills += 1

    def logs(self) -> str:
        return "\n".join(
            f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}" for p in self.tmp.glob("*.log")
        )

    def stop_all(self) -> None:
        for proc in self.procs.values():
            proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        self.procs.clear()


@pytest.fixture
def workers(engine_db: str, model_url: str, tmp_path: Path) -> Iterator[Workers]:
    pool = Workers(engine_db, model_url, tmp_path)
    yield pool
    pool.stop_all()
