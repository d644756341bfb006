"""`mainspring keys` and `mainspring serve` as a user runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from mainspring.cli.app import app
from tests.server.harness import free_port

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MAINSPRING_DATA_DIR", str(tmp_path))
    (tmp_path / "none.toml").write_text("")
    monkeypatch.setenv("MAINSPRING_CONFIG", str(tmp_path / "none.toml"))
    return tmp_path


def test_keys_create_list_revoke(data_dir: Path) -> None:
    created = runner.invoke(
        app, ["keys", "create", "--tenant", "acme", "--scopes", "a,b", "--json"]
    )
    assert created.exit_code == 0, created.output
    key = json.loads(created.output)
    assert key["key"].startswith("ms_") and key["id"].startswith("key_")
    assert key["scopes"] == ["a", "b"]
    plain = runner.invoke(app, ["keys", "create", "--tenant", "acme", "--operator"])
    assert plain.exit_code == 0 and plain.stdout.strip().startswith("ms_")
    listed = json.loads(runner.invoke(app, ["keys", "list", "--json"]).output)
    assert {k["id"] for k in listed} >= {key["id"]}
    assert all("key" not in k for k in listed)
    assert key["key"] not in runner.invoke(app, ["keys", "list"]).output
    assert runner.invoke(app, ["keys", "revoke", key["id"]]).exit_code == 0
    again = runner.invoke(app, ["keys", "revoke", key["id"]])
    assert again.exit_code == 1 and "no live key" in again.output
    revoked = json.loads(runner.invoke(app, ["keys", "list", "--json", "--tenant", "acme"]).output)
    assert next(k for k in revoked if k["id"] == key["id"])["revoked_at"] is not None
    bad = runner.invoke(app, ["keys", "create", "--tenant", "no spaces"])
    assert bad.exit_code != 0 and "not a valid name" in bad.output


def test_serve_with_user_tools(data_dir: Path) -> None:
    created = runner.invoke(app, ["keys", "create", "--tenant", "acme", "--json"])
    key = json.loads(created.output)["key"]
    port = free_port()
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}"}
    command = [sys.executable, "-c", "from mainspring.cli import main; main()"]
    args = ["serve", "--port", str(port), "--tools", "tests.server.scenario:TOOLS"]
    proc = subprocess.Popen(command + args, env=env, cwd=ROOT, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except httpx.HTTPError:
                assert proc.poll() is None, proc.stderr and proc.stderr.read()
                assert time.monotonic() < deadline
                time.sleep(0.2)
        headers = {"Authorization": f"Bearer {key}"}
        tools = httpx.get(f"http://127.0.0.1:{port}/v1/tools", headers=headers).json()
        refused = httpx.post(
            f"http://127.0.0.1:{port}/v1/runs",
            headers=headers,
            json={"task": "x", "model": "openai:gpt-4o"},
        )
    finally:
        proc.terminate()
        proc.wait(30)
        if proc.stderr is not None:
            proc.stderr.close()
    names = [t["name"] for t in tools["tools"]]
    assert names[:2] == ["calculator", "clock"] and "echo" in names and "deploy" in names
    assert refused.status_code == 422 and "local:smollm2" in refused.json()["detail"]


def test_serve_rejects_bad_tools(data_dir: Path) -> None:
    result = runner.invoke(app, ["serve", "--tools", "nowhere"])
    assert result.exit_code != 0 and "package.module:ATTRIBUTE" in result.output
    missing = runner.invoke(app, ["serve", "--tools", "tests.server.scenario:NOPE"])
    assert missing.exit_code != 0 and "NOPE" in missing.output


def test_the_cli_loads_without_the_server_extra() -> None:
    # Only `serve` and `keys` need it; every other command must keep working without it.
    code = "import sys, mainspring.cli.app; print('mainspring.server' in sys.modules)"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert done.stdout.strip() == "False", done.stderr
