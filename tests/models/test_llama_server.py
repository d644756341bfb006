"""`openai:` against a real peer: llama-cpp-python's OpenAI-compatible server running SmolLM2."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import jsonschema
import pytest

from mainspring.messages import Message
from mainspring.models import ModelSettings, ResponseDone, ToolCallDelta, ToolDefinition
from mainspring.models.local import bundled_path
from mainspring.models.openai import OpenAIModel

pytestmark = pytest.mark.slow

WEATHER = ToolDefinition(
    "get_weather",
    "Current weather in a city.",
    {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = _free_port()
    # A file, not a pipe: llama.cpp logs enough to fill a pipe and block the server.
    log = (tmp_path_factory.mktemp("llama") / "server.log").open("w+b")
    command = [
        sys.executable, "-m", "llama_cpp.server", "--model", str(bundled_path("smollm2")),
        "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048",
        "--chat_format", "chatml-function-calling",
    ]  # fmt: skip
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/models", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                log.seek(0)
                pytest.fail(f"llama_cpp.server did not start: {log.read()[-2000:]!r}")
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        process.wait(10)
        log.close()


async def test_text_completion_with_usage(llama_server: str) -> None:
    model = OpenAIModel("smollm2", base_url=llama_server, stream_usage=False)
    response = await model.request(
        [Message("user", "Say hello.")], settings=ModelSettings(max_tokens=20, temperature=0)
    )
    await model.aclose()
    assert response.message.content
    assert response.usage.input_tokens > 0 and response.usage.output_tokens > 0


async def test_streamed_tool_call_with_repeated_id_and_name(llama_server: str) -> None:
    model = OpenAIModel("smollm2", base_url=llama_server, stream_usage=False)
    settings = ModelSettings(tool_choice="get_weather", max_tokens=60, temperature=0)
    deltas = [
        d async for d in model.stream([Message("user", "Weather in Paris?")], [WEATHER], settings)
    ]
    await model.aclose()
    fragments = [d for d in deltas if isinstance(d, ToolCallDelta)]
    # The server repeats the name in every fragment; the assembled call names it once.
    assert len(fragments) > 2 and all(f.name == "get_weather" for f in fragments)
    done = deltas[-1]
    assert isinstance(done, ResponseDone)
    (call,) = done.response.message.tool_calls
    assert call.name == "get_weather"
    assert isinstance(call.arguments, dict) and "city" in call.arguments


async def test_structured_output_falls_back_to_json_object(llama_server: str) -> None:
    # llama-cpp-python answers `json_schema` with HTTP 500; its `json_object` takes the schema.
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
        "required": ["city", "days"],
    }
    model = OpenAIModel("smollm2", base_url=llama_server, stream_usage=False)
    settings = ModelSettings(response_schema=schema, max_tokens=60, temperature=0)
    response = await model.request(
        [Message("user", "A trip to Paris for 3 days, as JSON.")], settings=settings
    )
    assert model.provider.output_modes == {"smollm2": "json_object"}
    jsonschema.validate(json.loads(response.message.content), schema)
    await model.aclose()
