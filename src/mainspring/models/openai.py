"""`openai:<model>`: the OpenAI Chat Completions wire format over httpx.

One adapter serves every server that speaks the format: OpenAI itself, vLLM, Ollama, llama.cpp's
server and llama-cpp-python's, by `base_url`. Native tools, parallel tool calls and streamed
tool-call fragments are supported; a tool call whose arguments are not valid JSON is passed on
as raw text so the executor can tell the model what to fix.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from typing import Any

import httpx

from mainspring.errors import ModelResponseError
from mainspring.messages import Message, ModelResponse, ToolCall, Usage
from mainspring.models._http import HTTPTransport, RetryPolicy
from mainspring.models.base import (
    ModelDelta,
    ModelSettings,
    Pricing,
    ResponseDone,
    StreamAssembler,
    TextDelta,
    ToolCallDelta,
    ToolDefinition,
    UsageDelta,
    cost_of,
    count_prompt_tokens,
    normalise_finish_reason,
    parse_arguments,
)
from mainspring.models.pricing import lookup_pricing
from mainspring.tokens import BPETokenizer, Tokenizer

OPENAI_BASE_URL = "https://api.openai.com/v1"
_UNSET: Any = object()


def _message_json(message: Message) -> dict[str, Any]:
    if message.role == "tool":
        return {"role": "tool", "tool_call_id": message.tool_call_id, "content": message.content}
    out: dict[str, Any] = {"role": message.role, "content": message.content}
    if message.tool_calls:
        out["content"] = message.content or None
        out["tool_calls"] = [
            {
                "id": call.id,
                "type": "function",
                "function": {
                    "name": call.name,
                    "arguments": call.arguments
                    if isinstance(call.arguments, str)
                    else json.dumps(call.arguments),
                },
            }
            for call in message.tool_calls
        ]
    if message.name and message.role == "user":
        out["name"] = message.name
    return out


def _settings_json(settings: ModelSettings, has_tools: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in ("temperature", "max_tokens", "top_p", "seed"):
        value = getattr(settings, key)
        if value is not None:
            out[key] = value
    if settings.stop:
        out["stop"] = list(settings.stop)
    if settings.response_schema is not None:
        out["response_format"] = {
            "type": "json_schema",
            "json_schema": {"name": "response", "schema": settings.response_schema},
        }
    if has_tools:
        choice = settings.tool_choice
        if choice in ("auto", "required", "none"):
            out["tool_choice"] = choice
        elif choice is not None:
            out["tool_choice"] = {"type": "function", "function": {"name": choice}}
        if settings.parallel_tool_calls is not None:
            out["parallel_tool_calls"] = settings.parallel_tool_calls
    return out


class OpenAIModel:
    """A model behind the OpenAI Chat Completions API.

    Args:
        model: the model name the server knows (`gpt-4o-mini`, `qwen2.5:7b`, ...).
        api_key: sent as a bearer token; never logged. None for servers that need none.
        base_url: the API root, e.g. `http://127.0.0.1:8000/v1` for a local server.
        settings: defaults for every call; per-call settings override them.
        pricing: overrides the `genai-prices` table (None: unknown, costs reported as 0).
        tokenizer: overrides the model's BPE for counting prompts before they are sent.
        retry: the retry policy for 429/5xx/connection failures.
        timeout: seconds per HTTP attempt unless the call's settings say otherwise.
        client: an httpx client to share (the caller closes it).
        stream_usage: ask for usage in the last chunk of a stream (`stream_options`).
    """

    def __init__(
        self,
        model: str,
        *,
        api_key: str | None = None,
        base_url: str = OPENAI_BASE_URL,
        settings: ModelSettings | None = None,
        pricing: Pricing | None = _UNSET,
        tokenizer: Tokenizer | None = None,
        retry: RetryPolicy | None = None,
        timeout: float = 120.0,
        client: httpx.AsyncClient | None = None,
        stream_usage: bool = True,
    ) -> None:
        self.model = model
        self.name = f"openai:{model}"
        self.base_url = base_url.rstrip("/")
        self.settings = settings or ModelSettings()
        self.pricing = lookup_pricing("openai", model) if pricing is _UNSET else pricing
        self._tokenizer = tokenizer
        self.stream_usage = stream_usage
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = HTTPTransport(
            f"{self.base_url}/chat/completions",
            headers,
            model=self.name,
            retry=retry or RetryPolicy(),
            timeout=timeout,
            client=client,
        )

    @property
    def tokenizer(self) -> Tokenizer:
        """The model's BPE, loaded on first use (its tables take ~100 MB)."""
        if self._tokenizer is None:
            self._tokenizer = BPETokenizer.for_model(self.model)
        return self._tokenizer

    def __repr__(self) -> str:
        return f"OpenAIModel({self.model!r}, base_url={self.base_url!r})"

    def _payload(
        self, messages: Sequence[Message], tools: Sequence[ToolDefinition], settings: ModelSettings
    ) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "model": self.model,
            "messages": [_message_json(m) for m in messages],
            **_settings_json(settings, bool(tools)),
        }
        if tools:
            payload["tools"] = [t.openai() for t in tools]
        return payload

    def _usage(self, raw: Any, messages: Sequence[Message], reply: Message) -> Usage:
        if isinstance(raw, dict) and "prompt_tokens" in raw:
            prompt, completion = int(raw["prompt_tokens"]), int(raw.get("completion_tokens", 0))
        else:  # a server that reports no usage: count with our tokenizer
            prompt = count_prompt_tokens(self.tokenizer, messages)
            completion = count_prompt_tokens(self.tokenizer, [reply]) - 3
        return Usage(prompt, completion, cost_of(self.pricing, prompt, completion))

    async def request(
        self,
        messages: Sequence[Message],
        tools: Sequence[ToolDefinition] = (),
        settings: ModelSettings | None = None,
    ) -> ModelResponse:
        """One completion; tool calls come back as `ToolCall`s."""
        merged = self.settings.merge(settings)
        body = await self._http.post(self._payload(messages, tools, merged), merged.timeout)
        try:
            choice = body["choices"][0]
            raw = choice["message"]
            calls = tuple(
                ToolCall(
                    c.get("id") or f"call_{i}",
                    c["function"]["name"],
                    parse_arguments(c["function"].get("arguments") or ""),
                )
                for i, c in enumerate(raw.get("tool_calls") or ())
            )
            reply = Message("assistant", raw.get("content") or "", tool_calls=calls)
        except (KeyError, IndexError, TypeError) as exc:
            raise ModelResponseError(
                f"{self.name!r} answered without choices[0].message ({exc!r}): {body!r:.300}"
            ) from None
        finish = choice.get("finish_reason") or ("tool_calls" if calls else "stop")
        return ModelResponse(
            reply,
            usage=self._usage(body.get("usage"), messages, reply),
            model=str(body.get("model") or self.model),
            finish_reason=normalise_finish_reason(finish),
        )

    async def stream(
        self,
        messages: Sequence[Message],
        tools: Sequence[ToolDefinition] = (),
        settings: ModelSettings | None = None,
    ) -> AsyncIterator[ModelDelta]:
        """Deltas as the server sends them, then the assembled response."""
        merged = self.settings.merge(settings)
        payload = {**self._payload(messages, tools, merged), "stream": True}
        if self.stream_usage:
            payload["stream_options"] = {"include_usage": True}
        assembler = StreamAssembler(self.model)
        raw_usage: Any = None
        async with self._http.stream(payload, merged.timeout) as events:
            async for _, chunk in events:
                raw_usage = chunk.get("usage") or raw_usage
                for delta in self._chunk_deltas(chunk, assembler):
                    assembler.add(delta)
                    yield delta
        response = assembler.response()
        usage = self._usage(raw_usage, messages, response.message)
        yield UsageDelta(usage)
        yield ResponseDone(
            ModelResponse(
                response.message,
                usage=usage,
                model=response.model,
                finish_reason=response.finish_reason,
            )
        )

    def _chunk_deltas(
        self, chunk: dict[str, Any], assembler: StreamAssembler
    ) -> list[TextDelta | ToolCallDelta]:
        out: list[TextDelta | ToolCallDelta] = []
        for choice in chunk.get("choices") or ():
            if choice.get("finish_reason"):
                assembler.finish_reason = choice["finish_reason"]
            delta = choice.get("delta") or {}
            if delta.get("content"):
                out.append(TextDelta(delta["content"]))
            for i, call in enumerate(delta.get("tool_calls") or ()):
                function = call.get("function") or {}
                out.append(
                    ToolCallDelta(
                        int(call.get("index", i)),
                        id=call.get("id"),
                        name=function.get("name"),
                        arguments=function.get("arguments") or "",
                    )
                )
        return out

    async def aclose(self) -> None:
        """Close the HTTP connections this model opened."""
        await self._http.aclose()
