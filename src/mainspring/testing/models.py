"""`ScriptedModel` (a queue of replies) and `FunctionModel` (a function decides each reply).

Both record every request they receive in `requests`, count tokens with the default tokenizer,
and stream their replies as the real adapters do (text, tool-call fragments, usage, done), so a
test exercises the same code paths as production.
"""

from __future__ import annotations

import inspect
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from mainspring.messages import Message, ModelResponse, ToolCall, Usage
from mainspring.models.base import (
    ModelDelta,
    ModelSettings,
    Pricing,
    PromptCounter,
    ToolDefinition,
    cost_of,
    response_deltas,
)
from mainspring.tokens import Tokenizer, default_tokenizer

Reply = ModelResponse | Message | str
"""A scripted reply: a full response, an assistant message, or plain text."""


def text(content: str) -> ModelResponse:
    """A reply that is just text (a final answer)."""
    return ModelResponse(Message("assistant", content), finish_reason="stop")


def tool_calls(*calls: ToolCall | tuple[str, dict[str, Any]], content: str = "") -> ModelResponse:
    """A reply asking for tools: `tool_calls(("add", {"a": 1, "b": 2}))`; ids are generated."""
    built = tuple(
        c if isinstance(c, ToolCall) else ToolCall(f"call_{i}", c[0], c[1])
        for i, c in enumerate(calls)
    )
    return ModelResponse(
        Message("assistant", content, tool_calls=built), finish_reason="tool_calls"
    )


@dataclass(frozen=True, slots=True)
class ModelRequest:
    """What a test double was asked: the messages, the tools offered and the settings."""

    messages: tuple[Message, ...]
    tools: tuple[ToolDefinition, ...]
    settings: ModelSettings | None


class _DoubleBase:
    """Shared request recording, usage accounting and streaming of the test doubles."""

    def __init__(self, name: str, pricing: Pricing | None, tokenizer: Tokenizer | None) -> None:
        self.name = name
        self.pricing = pricing
        self.tokenizer = tokenizer or default_tokenizer()
        self.requests: list[ModelRequest] = []
        self._prompt = PromptCounter(self.tokenizer)

    async def _reply(self, request: ModelRequest) -> Reply:
        raise NotImplementedError

    async def request(
        self,
        messages: Sequence[Message],
        tools: Sequence[ToolDefinition] = (),
        settings: ModelSettings | None = None,
    ) -> ModelResponse:
        """Record the request and return the next reply, with usage filled in when absent."""
        request = ModelRequest(tuple(messages), tuple(tools), settings)
        self.requests.append(request)
        reply = _as_response(await self._reply(request), self.name)
        if reply.usage != Usage():
            return reply
        if self._prompt.tokenizer is not self.tokenizer:  # a test swapped the tokenizer
            self._prompt = PromptCounter(self.tokenizer)
        prompt = self._prompt.count(messages, tools)
        completion = self.tokenizer.count(reply.message.content) + sum(
            self.tokenizer.count(str(c.arguments)) for c in reply.message.tool_calls
        )
        usage = Usage(prompt, completion, cost_of(self.pricing, prompt, completion))
        return ModelResponse(
            reply.message, usage=usage, model=reply.model, finish_reason=reply.finish_reason
        )

    async def stream(
        self,
        messages: Sequence[Message],
        tools: Sequence[ToolDefinition] = (),
        settings: ModelSettings | None = None,
    ) -> AsyncIterator[ModelDelta]:
        """The reply as deltas: its text, one fragment per tool call, usage, then done."""
        for delta in response_deltas(await self.request(messages, tools, settings)):
            yield delta


def _as_response(reply: Reply, model: str) -> ModelResponse:
    if isinstance(reply, str):
        return ModelResponse(Message("assistant", reply), model=model)
    if isinstance(reply, Message):
        if reply.tool_calls:
            return ModelResponse(reply, model=model, finish_reason="tool_calls")
        return ModelResponse(reply, model=model)
    if not reply.model:
        return ModelResponse(
            reply.message, usage=reply.usage, model=model, finish_reason=reply.finish_reason
        )
    return reply


class ScriptedModel(_DoubleBase):
    """Replies from a queue, in order; fails loudly on a call past the end or a reply left over.

    ```python
    model = ScriptedModel([tool_calls(("add", {"a": 2, "b": 3})), "The sum is 5."])
    ...
    model.assert_done()  # or use `with ScriptedModel([...]) as model:`
    ```

    An unexpected call raises `AssertionError`, which the agent loop does not swallow, so the
    test fails at the call that was not scripted.
    """

    def __init__(
        self,
        replies: Iterable[Reply],
        *,
        name: str = "scripted",
        pricing: Pricing | None = None,
        tokenizer: Tokenizer | None = None,
    ) -> None:
        super().__init__(name, pricing, tokenizer)
        self._queue: deque[Reply] = deque(replies)

    def add(self, *replies: Reply) -> None:
        """Queue more replies."""
        self._queue.extend(replies)

    @property
    def remaining(self) -> int:
        """Replies not yet consumed."""
        return len(self._queue)

    async def _reply(self, request: ModelRequest) -> Reply:
        if not self._queue:
            last = request.messages[-1].content[:200] if request.messages else ""
            raise AssertionError(
                f"ScriptedModel got request #{len(self.requests)} but its script is exhausted; "
                f"the last message was: {last!r}"
            )
        return self._queue.popleft()

    def assert_done(self) -> None:
        """Raise `AssertionError` if scripted replies were never requested."""
        if self._queue:
            raise AssertionError(
                f"ScriptedModel has {len(self._queue)} unused replies; the first is "
                f"{self._queue[0]!r}"
            )

    def __enter__(self) -> ScriptedModel:
        return self

    def __exit__(self, exc_type: object, *_: object) -> None:
        if exc_type is None:
            self.assert_done()


ReplyFunction = Callable[[ModelRequest], Reply | Awaitable[Reply]]


class FunctionModel(_DoubleBase):
    """A model whose every reply comes from `function(request)` (sync or async)."""

    def __init__(
        self,
        function: ReplyFunction,
        *,
        name: str = "function",
        pricing: Pricing | None = None,
        tokenizer: Tokenizer | None = None,
    ) -> None:
        super().__init__(name, pricing, tokenizer)
        self._function = function

    async def _reply(self, request: ModelRequest) -> Reply:
        reply = self._function(request)
        if inspect.isawaitable(reply):
            return await reply
        return reply
