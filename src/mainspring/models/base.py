"""The `Model` protocol every provider adapter implements, and the values that cross it.

A model turns a conversation plus the tools on offer into one `ModelResponse`. Adapters speak one
wire format each (OpenAI Chat Completions, Anthropic Messages, llama.cpp in-process); the agent
loop only sees this protocol, so a plugin model needs `request` and `stream`, plus the two
attributes budgets rely on: a `tokenizer` to count a prompt before it is sent and a `pricing`.
"""

from __future__ import annotations

import json
import operator
from collections.abc import AsyncIterator, Sequence
from dataclasses import KW_ONLY, dataclass, field, replace
from typing import Any, Literal, Protocol, runtime_checkable

from mainspring.messages import Message, ModelResponse, ToolCall, Usage
from mainspring.tokens import Tokenizer

ToolChoice = Literal["auto", "required", "none"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelSettings:
    """Per-call knobs. `None` means "the provider's default"; `merge` layers settings."""

    temperature: float | None = None
    max_tokens: int | None = None
    """Cap on the reply's tokens."""
    top_p: float | None = None
    stop: tuple[str, ...] = ()
    seed: int | None = None
    tool_choice: ToolChoice | str | None = None
    """"auto", "required" (some tool), "none", or the name of the one tool to call."""
    parallel_tool_calls: bool | None = None
    timeout: float | None = None
    """Seconds for one HTTP attempt (connect + read); the adapter's default when unset."""
    response_schema: dict[str, Any] | None = None
    """JSON Schema the reply's text must follow: OpenAI structured output, a llama.cpp grammar
    for local models; adapters without either ignore it (callers validate and repair)."""

    def merge(self, override: ModelSettings | None) -> ModelSettings:
        """These settings with every field that `override` sets taking precedence."""
        if override is None:
            return self
        changes = {
            name: getattr(override, name)
            for name in self.__dataclass_fields__
            if getattr(override, name) not in (None, ())
        }
        return replace(self, **changes)


@dataclass(frozen=True, slots=True)
class ToolDefinition:
    """A tool as a model sees it: name, description and the JSON Schema of its arguments."""

    name: str
    description: str
    parameters: dict[str, Any] = field(default_factory=dict[str, Any])

    def openai(self) -> dict[str, Any]:
        """The OpenAI Chat Completions `tools[]` entry."""
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": self.parameters or {"type": "object", "properties": {}},
            },
        }

    @classmethod
    def from_openai(cls, schema: dict[str, Any]) -> ToolDefinition:
        """Read an OpenAI `tools[]` entry (what `ToolRegistry.schemas()` returns)."""
        function = schema.get("function", schema)
        return cls(
            function["name"], function.get("description", ""), function.get("parameters", {})
        )


@dataclass(frozen=True, slots=True)
class Pricing:
    """US dollars per million tokens. Pass one to a model to override the price table."""

    input_per_mtok: float
    output_per_mtok: float

    def cost(self, input_tokens: int, output_tokens: int) -> float:
        """Dollars for that many tokens."""
        return (input_tokens * self.input_per_mtok + output_tokens * self.output_per_mtok) / 1e6


FREE = Pricing(0.0, 0.0)
"""The price of a local model."""


@dataclass(frozen=True, slots=True)
class TextDelta:
    """A fragment of the reply's text."""

    text: str


@dataclass(frozen=True, slots=True)
class ToolCallDelta:
    """A fragment of one tool call; fragments with the same `index` belong together.

    `id` and `name` arrive once (some servers repeat them in every chunk: they are not new
    text); `arguments` fragments concatenate into the JSON arguments.
    """

    index: int
    _: KW_ONLY
    id: str | None = None
    name: str | None = None
    arguments: str = ""


@dataclass(frozen=True, slots=True)
class UsageDelta:
    """Token counts reported by the provider, usually in the last chunk."""

    usage: Usage


@dataclass(frozen=True, slots=True)
class ResponseDone:
    """The end of a stream: the whole response, assembled from the deltas."""

    response: ModelResponse


ModelDelta = TextDelta | ToolCallDelta | UsageDelta | ResponseDone
"""What `Model.stream` yields; the last item is always a `ResponseDone`."""


@runtime_checkable
class Model(Protocol):
    """A language model behind one wire format. Name it `provider:model` in the registry."""

    name: str
    pricing: Pricing | None
    """Dollars per token; `None` when unknown (costs are then reported as 0)."""

    @property
    def tokenizer(self) -> Tokenizer:
        """Counts a prompt before it is sent, so budgets can refuse an over-cap call."""
        ...

    async def request(
        self,
        messages: Sequence[Message],
        tools: Sequence[ToolDefinition] = (),
        settings: ModelSettings | None = None,
    ) -> ModelResponse:
        """One complete reply."""
        ...

    def stream(
        self,
        messages: Sequence[Message],
        tools: Sequence[ToolDefinition] = (),
        settings: ModelSettings | None = None,
    ) -> AsyncIterator[ModelDelta]:
        """The reply as it is produced, ending with a `ResponseDone`."""
        ...


MESSAGE_OVERHEAD_TOKENS = 4
"""Per-message framing tokens (role markers, separators) in OpenAI's published accounting."""


PROMPT_PRIMING_TOKENS = 3
"""Every reply is primed with an assistant header."""


def message_tokens(tokenizer: Tokenizer, message: Message) -> int:
    """Tokens one message adds to a prompt: framing, text, and its tool calls."""
    total = MESSAGE_OVERHEAD_TOKENS
    if message.content:
        total += tokenizer.count(message.content)
    for call in message.tool_calls:
        total += tokenizer.count(call.name) + tokenizer.count(call.arguments_json())
    return total


def tool_tokens(tokenizer: Tokenizer, tool: ToolDefinition) -> int:
    """Tokens one tool definition adds to a native tool-calling prompt."""
    return tokenizer.count(json.dumps(tool.openai(), separators=(",", ":")))


def count_prompt_tokens(
    tokenizer: Tokenizer, messages: Sequence[Message], tools: Sequence[ToolDefinition] = ()
) -> int:
    """Tokens a request will use before the reply: messages, tool calls and tool schemas.

    Exact for the text; the framing per message is OpenAI's published estimate, so this can be
    off by a few tokens per message for other chat templates. The agent loop keeps the same sum
    incrementally (each message counted once, with `message_tokens`).
    """
    return (
        PROMPT_PRIMING_TOKENS
        + sum(message_tokens(tokenizer, m) for m in messages)
        + sum(tool_tokens(tokenizer, t) for t in tools)
    )


class PromptCounter:
    """`count_prompt_tokens` for histories that grow: each message and tool counted once.

    A caller that is sent the whole conversation on every request (a test double, an adapter
    estimating usage) would otherwise re-tokenise the history each time, which makes a run's
    counting quadratic. The last history's total is kept, so a history that extends it costs
    only its new messages; other items are remembered by identity (messages and definitions
    are immutable), holding a reference so an id is never reused while remembered.
    """

    def __init__(self, tokenizer: Tokenizer, *, limit: int = 4096) -> None:
        self.tokenizer = tokenizer
        self._limit = limit
        self._seen: dict[int, tuple[object, int]] = {}
        self._history: list[Message] = []
        self._history_tokens = 0

    def _once(self, item: Message | ToolDefinition) -> int:
        hit = self._seen.get(id(item))
        if hit is not None and hit[0] is item:
            return hit[1]
        if len(self._seen) >= self._limit:
            self._seen.clear()
        if isinstance(item, Message):
            tokens = message_tokens(self.tokenizer, item)
        else:
            tokens = tool_tokens(self.tokenizer, item)
        self._seen[id(item)] = (item, tokens)
        return tokens

    def _messages(self, messages: Sequence[Message]) -> int:
        known = len(self._history)
        if len(messages) >= known and all(map(operator.is_, self._history, messages)):
            total = self._history_tokens + sum(self._once(m) for m in messages[known:])
        else:
            total = sum(self._once(m) for m in messages)
        self._history, self._history_tokens = list(messages), total
        return total

    def count(self, messages: Sequence[Message], tools: Sequence[ToolDefinition] = ()) -> int:
        """The same figure as `count_prompt_tokens(tokenizer, messages, tools)`."""
        return PROMPT_PRIMING_TOKENS + self._messages(messages) + sum(self._once(t) for t in tools)


def response_deltas(response: ModelResponse) -> list[ModelDelta]:
    """A finished response as the deltas a stream would have carried, ending with `ResponseDone`.

    For models that produce a whole reply at once (local generation, test doubles, replays) but
    must still offer `stream`.
    """
    deltas: list[ModelDelta] = []
    if response.message.content:
        deltas.append(TextDelta(response.message.content))
    for index, call in enumerate(response.message.tool_calls):
        deltas.append(
            ToolCallDelta(index, id=call.id, name=call.name, arguments=call.arguments_json())
        )
    deltas.append(UsageDelta(response.usage))
    deltas.append(ResponseDone(response))
    return deltas


def cost_of(pricing: Pricing | None, input_tokens: int, output_tokens: int) -> float:
    """Dollars for a call, 0.0 when the price is unknown."""
    return 0.0 if pricing is None else pricing.cost(input_tokens, output_tokens)


class StreamAssembler:
    """Builds the final `ModelResponse` from stream deltas, whatever the server's quirks.

    Tool-call fragments are grouped by `index`. A server that repeats the call's `id` and `name`
    in every chunk (llama-cpp-python does) must not produce `get_weatherget_weather`, so an `id`
    or `name` equal to, or a prefix extension of, what is known replaces it rather than appending.
    """

    def __init__(self, model: str) -> None:
        self.model = model
        self.text: list[str] = []
        self.calls: dict[int, dict[str, str]] = {}
        self.usage = Usage()
        self.finish_reason: str | None = None

    def add(self, delta: TextDelta | ToolCallDelta | UsageDelta) -> None:
        """Fold one delta into the response under construction."""
        if isinstance(delta, TextDelta):
            self.text.append(delta.text)
        elif isinstance(delta, UsageDelta):
            self.usage = delta.usage
        else:
            call = self.calls.setdefault(delta.index, {"id": "", "name": "", "arguments": ""})
            for key in ("id", "name"):
                value = getattr(delta, key)
                if value:
                    call[key] = _merge_name(call[key], value)
            call["arguments"] += delta.arguments

    def response(self) -> ModelResponse:
        """The assembled response; tool arguments are parsed when they are valid JSON."""
        calls = tuple(
            ToolCall(c["id"] or f"call_{i}", c["name"], parse_arguments(c["arguments"]))
            for i, c in sorted(self.calls.items())
        )
        finish = self.finish_reason or ("tool_calls" if calls else "stop")
        return ModelResponse(
            Message("assistant", "".join(self.text), tool_calls=calls),
            usage=self.usage,
            model=self.model,
            finish_reason=normalise_finish_reason(finish),
        )


def _merge_name(known: str, fragment: str) -> str:
    # A repeat (llama-cpp-python) or a growing prefix replaces; a true fragment (OpenAI sends a
    # name once, but the protocol allows pieces) appends.
    if not known or fragment.startswith(known):
        return fragment
    if known.endswith(fragment):
        return known
    return known + fragment


def parse_arguments(raw: str) -> Any:
    """A provider's arguments text, handed to `ToolCall` unchanged: `ToolCall` parses it.

    `ToolCall` keeps the text as `raw_arguments` for the record and reports anything but a JSON
    object as `invalid_arguments` (`messages.read_arguments`, the one parser), which the model
    sees and can fix, so a malformed call never crashes a run here. Typed `Any` because the
    text goes where `ToolCall` takes its arguments and is turned into a dict there.
    """
    return raw


_FINISH = {
    "stop": "stop",
    "end_turn": "stop",
    "stop_sequence": "stop",
    "tool_calls": "tool_calls",
    "tool_use": "tool_calls",
    "function_call": "tool_calls",
    "length": "length",
    "max_tokens": "length",
    "content_filter": "content_filter",
}


def normalise_finish_reason(reason: str | None) -> Any:
    """Map a provider's stop reason onto `FinishReason`; unknown ones become "stop"."""
    return _FINISH.get(reason or "stop", "stop")
