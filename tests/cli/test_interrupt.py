"""Ctrl-C during `mainspring run`: a real SIGINT to a real process leaves a resumable run."""

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import anyio
import pytest
from typer.testing import CliRunner

from mainspring.cli.app import app
from mainspring.runs import SqliteRunStore

SRC = Path(__file__).parents[2] / "src"


class SlowServer(ThreadingHTTPServer):
    """An OpenAI-compatible endpoint that hangs until told to answer."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.asked = threading.Event()
        self.answer = threading.Event()


class _Handler(BaseHTTPRequestHandler):
    server: SlowServer

    def do_POST(self) -> None:
        request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.asked.set()
        if not self.server.answer.wait(timeout=30):
            return
        if request.get("stream"):
            self._stream()
            return
        body = json.dumps(
            {
                "id": "x",
                "model": "slow",
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": "Paris."},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {"prompt_tokens": 10, "completion_tokens": 2, "total_tokens": 12},
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _stream(self) -> None:
        chunks: list[dict[str, object]] = [
            {"delta": {"role": "assistant", "content": w}} for w in ("Par", "is", ".")
        ]
        chunks.append({"delta": {}, "finish_reason": "stop"})
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        for chunk in chunks:
            event = {"id": "x", "model": "slow", "choices": [{"index": 0, **chunk}]}
            self.wfile.write(f"data: {json.dumps(event)}\n\n".encode())
            self.wfile.flush()
        self.wfile.write(b"data: [DONE]\n\n")

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[SlowServer]:
    srv = SlowServer()
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.answer.set()
    srv.shutdown()
    srv.server_close()


def test_ctrl_c_marks_the_run_interrupted_and_it_resumes(
    server: SlowServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("MAINSPRING_")},
        "PYTHONPATH": str(SRC),
        "MAINSPRING_DATA_DIR": str(tmp_path),
        "OPENAI_API_KEY": "test-key",
    }
    args = ["run", "What is the capital of France?", "--model", "openai:slow", "--base-url", url]
    child = subprocess.Popen(
        [sys.executable, "-m", "mainspring.cli", *args],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.asked.wait(timeout=60), "the run never called the model"
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=60)
    finally:
        child.kill()
    assert child.returncode == 130, (out, err)
    assert "Traceback" not in err
    line = next(line for line in err.splitlines() if line.startswith("interrupted"))
    run_id = line.split("mainspring runs resume ")[1].strip("`")
    assert line == f"interrupted; resume with `mainspring runs resume {run_id}`"

    async def status() -> str:
        store = SqliteRunStore(tmp_path / "runs.db")
        try:
            return (await store.load(run_id)).info.status
        finally:
            await store.aclose()

    assert anyio.run(status) == "interrupted"
    listed = CliRunner().invoke(app, ["runs", "list", "--status", "interrupted"], env=env)
    assert run_id in listed.output
    server.answer.set()
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    resumed = CliRunner().invoke(app, ["runs", "resume", run_id, "--base-url", url])
    assert resumed.exit_code == 0, resumed.output
    assert "answer: Paris." in resumed.output
    assert anyio.run(status) == "completed"


def test_the_answer_streams_and_prints_once(
    server: SlowServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MAINSPRING_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    server.answer.set()
    url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    result = CliRunner().invoke(
        app, ["run", "Capital of France?", "--model", "openai:m", "--base-url", url]
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.count("Paris.") == 1, result.stdout
    assert "  model: Paris.\n" in result.stdout and "stop: final_answer" in result.stdout


def test_a_budget_stop_is_not_success(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAINSPRING_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    args = [
        "run",
        "x",
        "--model",
        "openai:m",
        "--base-url",
        "http://127.0.0.1:1",
        "--max-tokens",
        "5",
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 4, result.output  # max_tokens: the call was never sent
    assert "budget reached: max_tokens" in result.output and "answer: (none)" in result.output
