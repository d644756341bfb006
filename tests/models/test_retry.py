"""Retries only where another attempt can succeed, with full jitter, each one logged."""

from __future__ import annotations

import logging
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from mainspring.errors import ConfigurationError, ModelError, ModelHTTPError
from mainspring.messages import Message
from mainspring.models import RetryPolicy, resolve_model
from mainspring.models.anthropic import AnthropicModel
from mainspring.models.openai import OpenAIModel
from mainspring.models.provider import OpenAIProvider, transport_failure
from mainspring.models.retry import Failure, should_retry, status_failure
from tests.models._server import Reply, ScriptedServer

FAST = RetryPolicy(max_retries=4, initial_delay=0.01, max_delay=0.02)
USER = [Message("user", "hi")]
OK = {"choices": [{"message": {"role": "assistant", "content": "ok"}}], "usage": {}}
Make = Callable[..., OpenAIModel]


@pytest.fixture
async def model(server: ScriptedServer) -> AsyncIterator[Make]:
    made: list[OpenAIModel] = []

    def make(**kw: Any) -> OpenAIModel:
        kw.setdefault("retry", FAST)
        made.append(OpenAIModel("m", base_url=server.url + "/v1", **kw))
        return made[-1]

    yield make
    for m in made:
        await m.aclose()


def retry_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "mainspring.models" and r.getMessage().startswith("retrying")
    ]


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
async def test_deterministic_client_errors_are_sent_once(
    server: ScriptedServer, model: Make, status: int, caplog: pytest.LogCaptureFixture
) -> None:
    server.add(Reply(status=status, json={"error": "no"}))
    with pytest.raises(ModelHTTPError) as info:
        await model().request(USER)
    assert info.value.status == status and len(server.requests) == 1
    assert not retry_lines(caplog)


async def test_the_same_500_twice_is_not_retried_again(
    server: ScriptedServer, model: Make, caplog: pytest.LogCaptureFixture
) -> None:
    # llama-cpp-python answers a request it cannot handle with the same 500 every time.
    server.add(*(Reply(status=500, raw='{"error": "validation failed"}') for _ in range(2)))
    with (
        caplog.at_level(logging.WARNING, "mainspring.models"),
        pytest.raises(ModelHTTPError, match="validation failed"),
    ):
        await model().request(USER)
    assert len(server.requests) == 2  # was 5: every retry of the policy
    [line] = retry_lines(caplog)
    assert "after HTTP 500: attempt 2 of at most 5 in" in line


async def test_500s_that_change_keep_being_retried(server: ScriptedServer, model: Make) -> None:
    server.add(
        Reply(status=500, raw="worker 1 crashed"),
        Reply(status=500, raw="worker 2 crashed"),
        Reply(json=OK),
    )
    assert (await model().request(USER)).message.content == "ok"
    assert len(server.requests) == 3


async def test_each_retry_is_logged_with_reason_and_wait(
    server: ScriptedServer, model: Make, caplog: pytest.LogCaptureFixture
) -> None:
    server.add(
        Reply(status=503, raw="busy"),
        Reply(status=429, raw="slow down", headers={"Retry-After": "0.05"}),
        Reply(json=OK),
    )
    with caplog.at_level(logging.WARNING, "mainspring.models"):
        assert (await model().request(USER)).message.content == "ok"
    first, second = retry_lines(caplog)
    assert first.startswith(f"retrying openai:m ({server.url}/v1/chat/completions) after HTTP 503")
    assert "attempt 2 of at most 5 in 0.0" in first
    assert "after HTTP 429: attempt 3 of at most 5 in 0.05 s" in second


async def test_a_timeout_is_retried(
    server: ScriptedServer, model: Make, caplog: pytest.LogCaptureFixture
) -> None:
    server.add(Reply(json=OK, delay=0.5), Reply(json=OK))
    with caplog.at_level(logging.WARNING, "mainspring.models"):
        response = await model(timeout=0.1).request(USER)
    assert response.message.content == "ok"
    [line] = retry_lines(caplog)
    assert "after ReadTimeout (no answer in time)" in line


async def test_a_refused_local_connection_is_retried_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with socket.socket() as sock:  # a port nobody listens on: bound, never listening
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        m = OpenAIModel("m", base_url=f"http://localhost:{port}/v1", retry=FAST)
        with (
            caplog.at_level(logging.WARNING, "mainspring.models"),
            pytest.raises(ModelError, match="after 2 attempts: connection refused"),
        ):
            await m.request(USER)
    assert len(retry_lines(caplog)) == 1


async def test_a_name_that_does_not_resolve_is_not_retried(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # .invalid never resolves (RFC 2606); a resolver that cannot answer at all gets one retry.
    m = OpenAIModel("m", base_url="http://no-such-host.invalid/v1", retry=FAST)
    with (
        caplog.at_level(logging.WARNING, "mainspring.models"),
        pytest.raises(ModelError, match="DNS lookup failed") as info,
    ):
        await m.request(USER)
    assert len(retry_lines(caplog)) <= 1
    assert "after 1 attempt:" in str(info.value) or "after 2 attempts:" in str(info.value)


@pytest.mark.parametrize("url", ["ftp://example.com/v1", "127.0.0.1:8000/v1", "not a url"])
def test_an_unusable_base_url_is_refused_when_the_model_is_made(url: str) -> None:
    with pytest.raises(ConfigurationError, match="must be an http:// or https:// URL"):
        resolve_model("openai:m", base_url=url)
    with pytest.raises(ConfigurationError, match="must be an http:// or https:// URL"):
        AnthropicModel("claude", base_url=url)


def test_an_unsupported_scheme_met_at_send_time_is_not_retried() -> None:
    failure = transport_failure(httpx.UnsupportedProtocol("no 'ftp' support"), "ftp://x")
    assert failure.retries == 0
    assert not should_retry(failure, None, 0, FAST)


def test_classification_of_statuses() -> None:
    assert status_failure(503, "", {}).retries is None
    assert status_failure(529, "", {}).retries is None
    assert status_failure(400, "", {}).retries == 0
    first = status_failure(500, "boom", {})
    assert should_retry(first, None, 0, FAST)
    assert not should_retry(status_failure(500, "boom", {}), first, 1, FAST)
    assert should_retry(status_failure(500, "other", {}), first, 1, FAST)
    wait_long = status_failure(429, "", {"retry-after": "3600"})
    assert not should_retry(wait_long, None, 0, FAST)
    assert not should_retry(Failure("x", None), None, 4, FAST)


def test_backoff_is_full_jitter() -> None:
    # Full jitter draws from [0, cap]; equal jitter (what the code did) never went below cap / 2.
    policy = RetryPolicy(initial_delay=1.0, max_delay=8.0)
    for attempt, cap in ((0, 1.0), (2, 4.0), (9, 8.0)):
        draws = [policy.delay(attempt, None) for _ in range(2000)]
        assert 0.0 <= min(draws) < 0.05 * cap
        assert 0.95 * cap < max(draws) <= cap


def test_a_policy_with_negative_values_is_refused() -> None:
    with pytest.raises(ValueError, match="max_retries must be >= 0"):
        RetryPolicy(max_retries=-1)


async def test_models_share_one_provider(server: ScriptedServer) -> None:
    provider = OpenAIProvider(base_url=server.url + "/v1", api_key="sk-shared", retry=FAST)
    first = OpenAIModel("a", provider=provider)
    second = resolve_model("openai:b", provider=provider)
    assert isinstance(second, OpenAIModel) and second.provider is provider
    server.add(Reply(json=OK), Reply(json=OK))
    await first.request(USER)
    await second.request(USER)
    assert [r.body["model"] for r in server.requests] == ["a", "b"]
    assert all(r.headers["authorization"] == "Bearer sk-shared" for r in server.requests)
    assert "sk-shared" not in repr(provider)
    with pytest.raises(ConfigurationError, match="either provider= or"):
        OpenAIModel("c", provider=provider, api_key="sk-other")
    await provider.aclose()


async def test_credentials_in_the_base_url_are_never_shown(
    caplog: pytest.LogCaptureFixture,
) -> None:
    m = OpenAIModel("m", base_url="http://bob:hunter2@127.0.0.1:9/v1", retry=FAST)
    with (
        caplog.at_level(logging.WARNING, "mainspring.models"),
        pytest.raises(ModelError) as info,
    ):
        await m.request(USER)
    shown = [repr(m), repr(m.provider), str(info.value), *(r.getMessage() for r in caplog.records)]
    assert all("hunter2" not in text for text in shown)
    assert "http://127.0.0.1:9/v1/chat/completions" in str(info.value)


def test_importing_the_models_package_does_not_load_httpx() -> None:
    # `import mainspring` must stay quick: httpx (with its CLI's rich and pygments) loads only
    # when an HTTP model is built.
    code = "import sys, mainspring.models; print('httpx' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


@pytest.mark.parametrize(
    ("url", "retries"),
    [
        ("http://localhost:9/v1", 1),
        ("http://127.0.0.1:9/v1", 1),
        ("http://[::1]:9/v1", 1),
        ("http://0.0.0.0:9/v1", 1),
        ("http://10.1.2.3:9/v1", None),
        ("https://api.example.com/v1", None),
    ],
)
def test_a_refusal_is_retried_once_only_on_this_machine(url: str, retries: int | None) -> None:
    refused = httpx.ConnectError("All connection attempts failed")
    refused.__cause__ = ConnectionRefusedError(111, "Connection refused")
    assert transport_failure(refused, url).retries == retries
