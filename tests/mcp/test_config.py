import json
from pathlib import Path

import pytest

from mainspring.errors import MCPConfigError
from mainspring.mcp import HttpTarget, StdioTarget, load_mcp_config, parse_mcp_config
from mainspring.mcp.base import DEFAULT_CONNECT_TIMEOUT, DEFAULT_TIMEOUT
from mainspring.mcp.stdio import server_environment
from mainspring.tools.policy import RateLimit


def test_the_common_shape_with_mainspring_keys(tmp_path: Path) -> None:
    path = tmp_path / "mcp.json"
    path.write_text(
        json.dumps(
            {
                "mcpServers": {
                    "time": {"command": "mcp-server-time", "args": ["--x"], "env": {"A": "1"}},
                    "remote": {
                        "url": "http://127.0.0.1:8000/mcp",
                        "headers": {"Authorization": "Bearer ${TOKEN}"},
                        "timeout": 60,
                        "connect_timeout": 5,
                        "prefix": "r_",
                        "rate_limit": "10/s",
                        "scopes": ["net"],
                        "requires_approval": True,
                        "max_result_tokens": 2000,
                        "tools": {"search": {"timeout": 120, "cache_ttl": 30, "name": "find"}},
                    },
                    "off": {"command": "nothing", "disabled": True},
                }
            }
        )
    )
    time, remote = load_mcp_config(path, environ={"TOKEN": "abc"})
    assert time.target == StdioTarget("mcp-server-time", ("--x",), env={"A": "1"})
    assert time.timeout == DEFAULT_TIMEOUT == 30 and time.connect_timeout == DEFAULT_CONNECT_TIMEOUT
    assert remote.target == HttpTarget(
        "http://127.0.0.1:8000/mcp", headers={"Authorization": "Bearer abc"}
    )
    assert (remote.timeout, remote.connect_timeout, remote.prefix) == (60, 5, "r_")
    assert remote.rate_limit == RateLimit(10, 1.0)
    assert remote.scopes == {"net"} and remote.requires_approval
    assert remote.max_result_tokens == 2000
    search = remote.tools["search"]
    assert (search.timeout, search.cache_ttl, search.name) == (120, 30, "find")


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({}, "exactly one of 'command'"),
        ({"command": "x", "url": "http://a"}, "exactly one of 'command'"),
        ({"command": "x", "timout": 3}, "unknown keys \\['timout'\\]"),
        ({"command": "x", "timeout": -1}, "'timeout' must be positive"),
        ({"command": "x", "timeout": True}, "must be a number"),
        ({"command": "x", "rate_limit": "10/fortnight"}, "cannot read rate limit"),
        ({"command": "x", "args": "a b"}, "'args' must be list"),
        ({"command": "x", "env": {"A": 1}}, "values must be strings"),
        ({"url": "ftp://a"}, "http:// or https://"),
        ({"url": "http://a", "headers": {"X": "${MISSING}"}}, "MISSING"),
        ({"command": "x", "tools": {"t": {"colour": 1}}}, "unknown tools.t.keys"),
        ({"command": "x", "type": "sse"}, "'type' must be one of"),
        ({"command": "x", "max_result_tokens": 0}, "must be at least 64"),
    ],
)
def test_mistakes_name_the_server_and_the_key(entry: dict[str, object], message: str) -> None:
    with pytest.raises(MCPConfigError, match=message) as caught:
        parse_mcp_config({"mcpServers": {"srv": entry}})
    assert "'srv'" in str(caught.value)


def test_file_errors_are_clear(tmp_path: Path) -> None:
    with pytest.raises(MCPConfigError, match="cannot read"):
        load_mcp_config(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{nope")
    with pytest.raises(MCPConfigError, match="not valid JSON"):
        load_mcp_config(bad)
    with pytest.raises(MCPConfigError, match="mcpServers"):
        parse_mcp_config({"servers": {}})


def test_a_stdio_server_gets_only_its_env_and_the_minimal_set() -> None:
    parent = {"PATH": "/bin", "HOME": "/root", "LANG": "C.UTF-8", "OPENAI_API_KEY": "sk-secret"}
    env = server_environment({"TZ": "UTC"}, parent)
    assert env == {"PATH": "/bin", "HOME": "/root", "LANG": "C.UTF-8", "TZ": "UTC"}
