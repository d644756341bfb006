"""`openai:<model>`: the OpenAI Chat Completions wire format over httpx.

One adapter serves every server that speaks the format: OpenAI itself, vLLM, Ollama, llama.cpp's
server and llama-cpp-python's, by `base_url`. Native tools, parallel tool calls and streamed
tool-call fragments are supported; a tool call whose arguments are not valid JSON is passed on
as raw text so the executor can tell the model what to fix. Structured output
(`ModelSettings.response_schema`) degrades to what the server accepts (see `structured.py`).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import replace
from typing import Any

import httpx

from mainspring.errors import ConfigurationError, ModelHTTPError, ModelResponseError
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
    count_prompt_tokens,
    normalise_finish_reason,
    parse_arguments,
)
from mainspring.models.pricing import lookup_pricing
from mainspring.models.provider import OPENAI_BASE_URL, OpenAIProvider, shown
from mainspring.models.retry import RetryPolicy, logger
from mainspring.models.structured import (
    MODES,
    OutputMode,
    extract_json,
    may_be_unsupported,
    repair_messages,
    response_format,
    schema_problem,
    with_instruction,
)
from mainspring.tokens import BPETokenizer, Tokenizer

__all__ = ["OPENAI_BASE_URL", "OpenAIModel"]

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


def _settings_json(
    settings: ModelSettings, has_tools: bool, mode: OutputMode | None
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in ("temperature", "max_tokens", "top_p", "seed"):
        value = getattr(settings, key)
        if value is not None:
            out[key] = value
    if settings.stop:
        out["stop"] = list(settings.stop)
    if settings.response_schema is not None and mode is not None:
        form = response_format(mode, settings.response_schema)
        if form is not None:
            out["response_format"] = form
    if has_tools:
        choice = settings.tool_choice
        if choice in ("auto", "required", "none"):
            out["tool_choice"] = choice
        elif choice is not None:
            out["tool_choice"] = {"type": "function", "function": {"name": choice}}
        if settings.parallel_tool_calls is not None:
            out["parallel_tool_calls"] = settings.parallel_tool_calls
    return out


def _prepared(
    messages: Sequence[Message], schema: dict[str, Any] | None, mode: OutputMode | None
) -> Sequence[Message]:
    """The messages for a structured-output mode: JSON mode and prompting carry the schema."""
    if schema is None or mode in (None, "json_schema"):
        return messages
    return with_instruction(messages, schema)


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
        provider: the connection to use instead of one built from `api_key`, `base_url`,
            `retry`, `timeout` and `client` (which must then be left out); models sharing a
            provider share its connections and what it learned about the server.
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
        provider: OpenAIProvider | None = None,
    ) -> None:
        if provider is None:
            provider = OpenAIProvider(
                api_key=api_key, base_url=base_url, retry=retry, timeout=timeout, client=client
            )
        elif (api_key, retry, client) != (None, None, None) or base_url != OPENAI_BASE_URL:
            raise ConfigurationError(
                "pass either provider= or api_key=/base_url=/retry=/client= to OpenAIModel, "
                "not both: the provider already holds the connection settings"
            )
        self.model = model
        self.name = f"openai:{model}"
        self.provider = provider
        self.base_url = provider.base_url
        self.settings = settings or ModelSettings()
        self.pricing = lookup_pricing("openai", model) if pricing is _UNSET else pricing
        self._tokenizer = tokenizer
        self.stream_usage = stream_usage

    @property
    def tokenizer(self) -> Tokenizer:
        """The model's BPE, loaded on first use (its tables take ~100 MB)."""
        if self._tokenizer is None:
            self._tokenizer = BPETokenizer.for_model(self.model)
        return self._tokenizer

    def __repr__(self) -> str:
        return f"OpenAIModel({self.model!r}, base_url={shown(self.base_url)!r})"

    def _payload(
        self,
        messages: Sequence[Message],
        tools: Sequence[ToolDefinition],
        settings: ModelSettings,
        mode: OutputMode | None = None,
    ) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "model": self.model,
            "messages": [_message_json(m) for m in messages],
            **_settings_json(settings, bool(tools), mode),
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
        schema = merged.response_schema
        if schema is None:
            return await self._complete(messages, tools, merged, None)
        for mode in self._modes():
            sent = _prepared(messages, schema, mode)
            try:
                response = await self._complete(sent, tools, merged, mode)
            except ModelHTTPError as exc:
                if self._fall_back(mode, exc):
                    continue
                raise
            self.provider.output_modes[self.model] = mode
            return await self._validated(response, sent, tools, merged, mode, schema)
        raise AssertionError("unreachable: the last mode raises instead of falling back")

    def _modes(self) -> tuple[OutputMode, ...]:
        known = self.provider.output_modes.get(self.model)
        return MODES if known is None else (known,)

    def _fall_back(self, mode: OutputMode, exc: ModelHTTPError) -> bool:
        """Whether to try the next structured-output mode after `exc` (and say so)."""
        modes = self._modes()
        if len(modes) == 1 or mode == modes[-1] or not may_be_unsupported(exc):
            return False
        following = modes[modes.index(mode) + 1]
        logger.warning(
            "%s at %s refused structured output as %s (HTTP %d); trying %s",
            self.name, shown(self.base_url), mode, exc.status, following,
        )  # fmt: skip
        return True

    async def _validated(
        self,
        response: ModelResponse,
        sent: Sequence[Message],
        tools: Sequence[ToolDefinition],
        settings: ModelSettings,
        mode: OutputMode,
        schema: dict[str, Any],
    ) -> ModelResponse:
        """The reply as clean JSON; one more request, with the problem, when it does not match.

        A reply that still does not match is returned as it is, so a caller that validates
        (the planner does) can tell the model what is wrong.
        """
        # A tool call is not the answer, and a reply cut at max_tokens would be cut again.
        if response.message.tool_calls or response.finish_reason == "length":
            return response
        text = extract_json(response.message.content)
        problem = schema_problem(text, schema)
        if problem is not None:
            logger.info("%s: structured reply (%s) did not validate: %s", self.name, mode, problem)
            again = repair_messages(sent, response.message.content, problem)
            retry = await self._complete(again, tools, settings, mode)
            usage = response.usage + retry.usage
            response = replace(retry, usage=usage)
            text = extract_json(response.message.content)
            if schema_problem(text, schema) is not None:
                return response
        return replace(response, message=replace(response.message, content=text))

    async def _complete(
        self,
        messages: Sequence[Message],
        tools: Sequence[ToolDefinition],
        settings: ModelSettings,
        mode: OutputMode | None,
    ) -> ModelResponse:
        payload = self._payload(messages, tools, settings, mode)
        body = await self.provider.post(
            "chat/completions", payload, settings.timeout, model=self.name
        )
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
        assembler = StreamAssembler(self.model)
        raw_usage: Any = None
        async with self._open_stream(messages, tools, merged) as (events, sent):
            async for _, chunk in events:
                raw_usage = chunk.get("usage") or raw_usage
                for delta in self._chunk_deltas(chunk, assembler):
                    assembler.add(delta)
                    yield delta
        response = assembler.response()
        usage = self._usage(raw_usage, sent, response.message)
        yield UsageDelta(usage)
        yield ResponseDone(
            ModelResponse(
                response.message,
                usage=usage,
                model=response.model,
                finish_reason=response.finish_reason,
            )
        )

    @asynccontextmanager
    async def _open_stream(
        self, messages: Sequence[Message], tools: Sequence[ToolDefinition], settings: ModelSettings
    ) -> AsyncIterator[tuple[AsyncIterator[tuple[str, dict[str, Any]]], Sequence[Message]]]:
        """The server's events and the messages sent, after any structured-output fallback.

        An HTTP error status arrives before the first byte, so trying the next mode repeats
        nothing the caller has seen.
        """
        schema = settings.response_schema
        modes: tuple[OutputMode | None, ...] = (None,) if schema is None else self._modes()
        async with AsyncExitStack() as stack:
            for mode in modes:
                sent = _prepared(messages, schema, mode)
                payload = {**self._payload(sent, tools, settings, mode), "stream": True}
                if self.stream_usage:
                    payload["stream_options"] = {"include_usage": True}
                opening = self.provider.stream(
                    "chat/completions", payload, settings.timeout, model=self.name
                )
                try:
                    events = await stack.enter_async_context(opening)
                except ModelHTTPError as exc:
                    if mode is not None and self._fall_back(mode, exc):
                        continue
                    raise
                if mode is not None:
                    self.provider.output_modes[self.model] = mode
                yield events, sent
                return
        raise AssertionError("unreachable: the last mode raises instead of falling back")

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
        """Close the HTTP connections this model's provider opened."""
        await self.provider.aclose()
