"""`anthropic:<model>`: the Anthropic Messages API over httpx (tool_use / tool_result blocks).

Anthropic publishes no offline tokenizer, so prompt counts before a call are an estimate with
OpenAI's `o200k_base` BPE (documented in docs/models.md); usage after a call is Anthropic's own.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

import httpx

from mainspring.errors import ConfigurationError, ModelError, ModelResponseError
from mainspring.messages import Message, ModelResponse, ToolCall, Usage
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
    normalise_finish_reason,
)
from mainspring.models.pricing import lookup_pricing
from mainspring.models.provider import (
    ANTHROPIC_BASE_URL,
    ANTHROPIC_VERSION,
    AnthropicProvider,
    shown,
)
from mainspring.models.retry import RetryPolicy
from mainspring.tokens import Tokenizer, default_tokenizer

__all__ = ["ANTHROPIC_BASE_URL", "ANTHROPIC_VERSION", "AnthropicModel", "to_anthropic"]

_UNSET: Any = object()
_TOOL_CHOICE = {"auto": {"type": "auto"}, "required": {"type": "any"}, "none": {"type": "none"}}


def _assistant_blocks(message: Message) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    if message.content:
        blocks.append({"type": "text", "text": message.content})
    for call in message.tool_calls:
        arguments = call.arguments if isinstance(call.arguments, dict) else {"_raw": call.arguments}
        blocks.append({"type": "tool_use", "id": call.id, "name": call.name, "input": arguments})
    return blocks


def to_anthropic(messages: Sequence[Message]) -> tuple[str, list[dict[str, Any]]]:
    """The system prompt and the `messages` array; consecutive tool results share a user turn."""
    system = "\n\n".join(m.content for m in messages if m.role == "system")
    out: list[dict[str, Any]] = []
    for message in messages:
        if message.role == "system":
            continue
        if message.role == "tool":
            block = {
                "type": "tool_result",
                "tool_use_id": message.tool_call_id,
                "content": message.content,
            }
            if out and out[-1]["role"] == "user" and isinstance(out[-1]["content"], list):
                out[-1]["content"].append(block)
            else:
                out.append({"role": "user", "content": [block]})
        elif message.role == "assistant":
            out.append({"role": "assistant", "content": _assistant_blocks(message)})
        else:
            out.append({"role": "user", "content": [{"type": "text", "text": message.content}]})
    return system, out


class AnthropicModel:
    """A Claude model behind the Messages API.

    Args:
        model: e.g. `claude-sonnet-4-5`.
        api_key: sent as `x-api-key`; never logged.
        base_url: the API root (default Anthropic's).
        settings: defaults for every call. `max_tokens` is required by the API: 4096 if unset.
        pricing: overrides the `genai-prices` table.
        tokenizer: overrides the o200k estimate used to count prompts before sending.
        retry: the retry policy for 429/5xx/529/connection failures.
        timeout: seconds per HTTP attempt.
        client: an httpx client to share (the caller closes it).
        provider: the connection to use instead of one built from `api_key`, `base_url`,
            `retry`, `timeout` and `client` (which must then be left out).
    """

    def __init__(
        self,
        model: str,
        *,
        api_key: str | None = None,
        base_url: str = ANTHROPIC_BASE_URL,
        settings: ModelSettings | None = None,
        pricing: Pricing | None = _UNSET,
        tokenizer: Tokenizer | None = None,
        retry: RetryPolicy | None = None,
        timeout: float = 120.0,
        client: httpx.AsyncClient | None = None,
        provider: AnthropicProvider | None = None,
    ) -> None:
        if provider is None:
            provider = AnthropicProvider(
                api_key=api_key, base_url=base_url, retry=retry, timeout=timeout, client=client
            )
        elif (api_key, retry, client) != (None, None, None) or base_url != ANTHROPIC_BASE_URL:
            raise ConfigurationError(
                "pass either provider= or api_key=/base_url=/retry=/client= to AnthropicModel, "
                "not both: the provider already holds the connection settings"
            )
        self.model = model
        self.name = f"anthropic:{model}"
        self.provider = provider
        self.base_url = provider.base_url
        self.settings = settings or ModelSettings()
        self.pricing = lookup_pricing("anthropic", model) if pricing is _UNSET else pricing
        self._tokenizer = tokenizer

    @property
    def tokenizer(self) -> Tokenizer:
        """The o200k estimate (or the tokenizer given), loaded on first use."""
        if self._tokenizer is None:
            self._tokenizer = default_tokenizer()
        return self._tokenizer

    def __repr__(self) -> str:
        return f"AnthropicModel({self.model!r}, base_url={shown(self.base_url)!r})"

    def _payload(
        self, messages: Sequence[Message], tools: Sequence[ToolDefinition], settings: ModelSettings
    ) -> dict[str, Any]:
        system, turns = to_anthropic(messages)
        payload: dict[str, Any] = {
            "model": self.model,
            "messages": turns,
            "max_tokens": settings.max_tokens or 4096,
        }
        if system:
            payload["system"] = system
        for key in ("temperature", "top_p"):
            if getattr(settings, key) is not None:
                payload[key] = getattr(settings, key)
        if settings.stop:
            payload["stop_sequences"] = list(settings.stop)
        if tools:
            payload["tools"] = [
                {"name": t.name, "description": t.description, "input_schema": t.parameters}
                for t in tools
            ]
            if settings.tool_choice is not None:
                choice: dict[str, Any] = dict(
                    _TOOL_CHOICE.get(settings.tool_choice)
                    or {"type": "tool", "name": settings.tool_choice}
                )
                if settings.parallel_tool_calls is False and choice["type"] != "none":
                    choice["disable_parallel_tool_use"] = True
                payload["tool_choice"] = choice
        return payload

    def _usage(self, raw: Any) -> Usage:
        raw = raw if isinstance(raw, dict) else {}
        prompt = int(raw.get("input_tokens") or 0)
        completion = int(raw.get("output_tokens") or 0)
        return Usage(prompt, completion, cost_of(self.pricing, prompt, completion))

    async def request(
        self,
        messages: Sequence[Message],
        tools: Sequence[ToolDefinition] = (),
        settings: ModelSettings | None = None,
    ) -> ModelResponse:
        """One reply; `tool_use` blocks become `ToolCall`s."""
        merged = self.settings.merge(settings)
        body = await self.provider.post(
            "v1/messages", self._payload(messages, tools, merged), merged.timeout, model=self.name
        )
        try:
            blocks = body["content"]
            text = "".join(b["text"] for b in blocks if b.get("type") == "text")
            calls = tuple(
                ToolCall(b["id"], b["name"], b.get("input") or {})
                for b in blocks
                if b.get("type") == "tool_use"
            )
        except (KeyError, TypeError) as exc:
            raise ModelResponseError(
                f"{self.name!r} answered without content blocks ({exc!r}): {body!r:.300}"
            ) from None
        return ModelResponse(
            Message("assistant", text, tool_calls=calls),
            usage=self._usage(body.get("usage")),
            model=str(body.get("model") or self.model),
            finish_reason=normalise_finish_reason(body.get("stop_reason")),
        )

    async def stream(
        self,
        messages: Sequence[Message],
        tools: Sequence[ToolDefinition] = (),
        settings: ModelSettings | None = None,
    ) -> AsyncIterator[ModelDelta]:
        """Deltas from the server-sent events, then the assembled response."""
        merged = self.settings.merge(settings)
        payload = {**self._payload(messages, tools, merged), "stream": True}
        assembler = StreamAssembler(self.model)
        state = _StreamState()
        async with self.provider.stream(
            "v1/messages", payload, merged.timeout, model=self.name
        ) as events:
            async for event, data in events:
                delta = state.delta(event, data, assembler)
                if delta is not None:
                    assembler.add(delta)
                    yield delta
        usage = self._usage(state.usage)
        response = assembler.response()
        yield UsageDelta(usage)
        yield ResponseDone(
            ModelResponse(
                response.message,
                usage=usage,
                model=response.model,
                finish_reason=response.finish_reason,
            )
        )

    async def aclose(self) -> None:
        """Close the HTTP connections this model's provider opened."""
        await self.provider.aclose()


class _StreamState:
    """Maps Anthropic's content-block indexes to tool-call indexes and gathers usage."""

    def __init__(self) -> None:
        self.tool_index: dict[int, int] = {}
        self.usage: dict[str, int] = {}

    def delta(
        self, event: str, data: dict[str, Any], assembler: StreamAssembler
    ) -> TextDelta | ToolCallDelta | None:
        kind = data.get("type", event)
        if kind == "error":
            error = data.get("error") or {}
            raise ModelError(f"stream error: {error.get('type')}: {error.get('message')}")
        if kind == "message_start":
            self.usage.update((data.get("message") or {}).get("usage") or {})
        elif kind == "message_delta":
            self.usage.update(data.get("usage") or {})
            stop = (data.get("delta") or {}).get("stop_reason")
            assembler.finish_reason = stop or assembler.finish_reason
        elif kind == "content_block_start":
            block = data.get("content_block") or {}
            if block.get("type") == "tool_use":
                index = self.tool_index.setdefault(data.get("index", 0), len(self.tool_index))
                return ToolCallDelta(index, id=block.get("id"), name=block.get("name"))
        elif kind == "content_block_delta":
            return self._block_delta(data)
        return None

    def _block_delta(self, data: dict[str, Any]) -> TextDelta | ToolCallDelta | None:
        delta = data.get("delta") or {}
        if delta.get("type") == "text_delta":
            return TextDelta(delta.get("text", ""))
        if delta.get("type") == "input_json_delta":
            index = self.tool_index.get(data.get("index", 0))
            if index is not None:
                return ToolCallDelta(index, arguments=delta.get("partial_json", ""))
        return None
