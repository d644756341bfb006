"""`mainspring mcp serve` driven by the official SDK client, over stdio and Streamable HTTP."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest
from mcp.client.streamable_http import streamable_http_client

from mcp import Client, StdioServerParameters

pytestmark = pytest.mark.slow

SRC = Path(__file__).resolve().parents[2] / "src"
CLI = ["-c", "from mainspring.cli import main; main()", "mcp", "serve"]


def environment(data_dir: Path, **extra: str) -> dict[str, str]:
    path = os.pathsep.join(p for p in (str(SRC), os.environ.get("PYTHONPATH", "")) if p)
    return {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", str(data_dir)),
        "PYTHONPATH": path,
        "MAINSPRING_DATA_DIR": str(data_dir),
        **extra,
    }


def text(result: object) -> str:
    return "".join(getattr(block, "text", "") for block in getattr(result, "content", []))


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_stdio_serves_the_tools_through_the_guards(tmp_path: Path, mode: str) -> None:
    params = StdioServerParameters(command=sys.executable, args=CLI, env=environment(tmp_path))
    async with Client(params, mode=mode) as client:
        names = sorted(t.name for t in (await client.list_tools()).tools)
        assert names == ["calculator", "clock"]
        ok = await client.call_tool("calculator", {"expression": "17 * 23"})
        assert not ok.is_error and text(ok) == "391"
        invalid = await client.call_tool("calculator", {"expr": "1"})
        assert invalid.is_error and "expression" in text(invalid)
        assert (
            invalid.meta is not None
            and invalid.meta["mainspring/error_kind"] == "invalid_arguments"
        )
        missing = await client.call_tool("nope", {})
        assert missing.is_error and "no tool named 'nope'" in text(missing)
        # The session survived every refusal.
        assert text(await client.call_tool("calculator", {"expression": "2 + 2"})) == "4"
    audit = (tmp_path / "audit.jsonl").read_text().splitlines()
    assert len(audit) == 4 and "calculator" in audit[0]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def http_server(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    keys = {"alice": {"key": "alice-key", "scopes": ["code"]}, "bob": {"key": "bob-key"}}
    env = environment(tmp_path, MAINSPRING_MCP_KEYS=json.dumps(keys))
    process = subprocess.Popen(
        [sys.executable, *CLI, "--transport", "http", "--port", str(port), "--code"],
        env=env,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                assert process.stderr is not None
                output = process.stderr.read().decode()
                raise AssertionError(f"server did not start: {output}") from None
            time.sleep(0.1)
    yield f"http://127.0.0.1:{port}/mcp"
    process.terminate()
    process.wait(timeout=10)
    assert process.stderr is not None
    process.stderr.close()


def client_with(url: str, key: str | None, mode: str = "auto") -> tuple[Client, httpx2.AsyncClient]:
    headers = {} if key is None else {"Authorization": f"Bearer {key}"}
    http = httpx2.AsyncClient(headers=headers)
    return Client(streamable_http_client(url, http_client=http), mode=mode), http


@pytest.mark.parametrize("key", [None, "wrong-key"])
async def test_http_refuses_a_missing_or_unknown_key(http_server: str, key: str | None) -> None:
    client, http = client_with(http_server, key)
    async with http:
        with pytest.raises(Exception) as caught:  # the SDK raises an ExceptionGroup
            async with client:
                pass
    assert caught.value is not None
    response = httpx2.post(
        http_server, json={}, headers={} if key is None else {"Authorization": f"Bearer {key}"}
    )
    assert response.status_code == 401
    assert "bearer" in response.json()["message"]


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_http_maps_the_key_to_its_principal_and_scopes(http_server: str, mode: str) -> None:
    bob, http = client_with(http_server, "bob-key", mode)
    async with http, bob:
        assert sorted(t.name for t in (await bob.list_tools()).tools) == ["calculator", "clock"]
        refused = await bob.call_tool("shell", {"command": "echo hi"})
        assert refused.is_error and "principal 'bob'" in text(refused) and "code" in text(refused)
        assert text(await bob.call_tool("calculator", {"expression": "6 * 7"})) == "42"
    alice, http = client_with(http_server, "alice-key", mode)
    async with http, alice:
        names = {t.name for t in (await alice.list_tools()).tools}
        assert {"python", "shell"} <= names
        ran = await alice.call_tool("shell", {"command": "echo hi"})
        assert not ran.is_error, text(ran)
        assert "hi" in text(ran)
