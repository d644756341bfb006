"""Synchronous llama.cpp work for `LocalModel`: prompts, tool choice by likelihood, grammars.

Everything here blocks and touches one `llama_cpp.Llama`; `LocalModel` runs it in a worker
thread, one call at a time.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

TOOL_PREFIX = '{"tool": "'


@dataclass(frozen=True, slots=True)
class Generation:
    """Text a llama call produced and the tokens it cost."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str = "stop"


def json_grammar(schema: dict[str, Any]) -> Any:
    r"""A llama.cpp grammar for `schema` whose strings hold no control characters or braces.

    llama.cpp's converter lets a string contain anything but `"` and `\`. A small model that
    forgets a closing quote then writes `}}` and runs on inside the string, or emits raw
    newlines, which JSON forbids. Excluding control characters (illegal in JSON anyway) and
    braces forces it to close the string where it means to close the object; the cost is that
    a local model cannot pass a literal brace in an argument.
    """
    from llama_cpp import LlamaGrammar  # type: ignore[attr-defined]
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    gbnf = json_schema_to_gbnf(json.dumps(schema))
    gbnf = gbnf.replace('char ::= [^"\\\\]', 'char ::= [^"\\\\{}\\x00-\\x1F\\x7F]')
    return LlamaGrammar.from_string(gbnf, verbose=False)


def chat_prompt(llama: Any, messages: Sequence[dict[str, str]]) -> str:
    """`messages` rendered by the GGUF's own chat template, ready for the assistant's turn."""
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    template = llama.metadata.get("tokenizer.chat_template")
    if not template:  # a GGUF without a template: ChatML, the most common convention
        template = (
            "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
            "{% endfor %}<|im_start|>assistant\n"
        )
    eos = llama.detokenize([llama.token_eos()]).decode("utf-8", errors="ignore")
    bos = llama.detokenize([llama.token_bos()]).decode("utf-8", errors="ignore")
    formatter = Jinja2ChatFormatter(template=template, eos_token=eos, bos_token=bos)
    prompt: str = formatter(messages=list(messages)).prompt  # type: ignore[arg-type]
    return prompt


def _log_softmax_at(logits: Any, token: int) -> float:
    top = float(logits.max())
    return float(logits[token]) - top - math.log(float(sum_exp(logits, top)))


def sum_exp(logits: Any, top: float) -> float:
    """Σ exp(logit - top), the softmax normaliser (numpy)."""
    import numpy as np

    return float(np.exp(logits - top).sum())


def _last_logits(llama: Any) -> Any:
    import numpy as np

    # With logits_all off, llama.cpp keeps only the last position's logits; read them directly.
    return np.ctypeslib.as_array(llama._ctx.get_logits(), shape=(llama.n_vocab(),)).copy()


def eval_reusing_cache(llama: Any, tokens: list[int]) -> None:
    """Evaluate `tokens`, keeping the KV cache of the prefix they share with the last prompt.

    Successive tool steps share the long system turn listing the tools, so only the new tail
    is computed. At least one token is evaluated so the logits belong to this prompt.
    """
    cached = llama.input_ids[: llama.n_tokens]
    same = 0
    limit = min(len(cached), len(tokens) - 1)
    while same < limit and cached[same] == tokens[same]:
        same += 1
    llama.n_tokens = same  # eval() drops the cache past this point first
    llama.eval(tokens[same:])


def score_names(llama: Any, prompt: str, names: Sequence[str]) -> tuple[dict[str, float], int]:
    """Log-probability of each complete name (with its closing quote) after `prompt`.

    Greedy decoding under a grammar commits on the first token, so with `get_weather` and
    `get_stock_price` it picks the likelier `get` and then whichever tail follows. Scoring each
    complete name compares what the model would write in full; names sharing a prefix share
    its evaluation. Also returns the prompt's token count.
    """
    prefix = llama.tokenize(prompt.encode(), add_bos=True, special=True)
    eval_reusing_cache(llama, prefix)
    tails: list[tuple[str, list[int]]] = []
    for name in names:
        full = llama.tokenize((prompt + name + '"').encode(), add_bos=True, special=True)
        tails.append((name, full[len(prefix) :] if full[: len(prefix)] == prefix else full))
    scores: dict[str, float] = {}
    _walk(llama, tails, 0, llama.n_tokens, _last_logits(llama), 0.0, scores)
    return scores, len(prefix)


def choose(
    llama: Any, prompt: str, names: Sequence[str], prior: dict[str, float] | None = None
) -> tuple[str, int]:
    """The most likely name after `prompt`, less its `prior` score, and the prompt's tokens.

    The prior is the same scoring with a content-free request ("contextual calibration",
    Zhao et al. 2021): a small model leans towards some names whatever it is asked, and
    subtracting that lean leaves what the request itself says.
    """
    scores, prompt_tokens = score_names(llama, prompt, names)
    prior = prior or {}
    best = max(names, key=lambda n: scores.get(n, -math.inf) - prior.get(n, 0.0))
    return best, prompt_tokens


def choose_tool(
    llama: Any, prompt: str, tools: Sequence[str], answer: str | None, prior: dict[str, float]
) -> tuple[str, int]:
    """Pick a tool by calibrated score, or `answer` when the raw scores prefer it.

    Calibration ranks tools against each other; whether to use a tool at all is the model's
    plain preference, since "no tool" has no meaningful content-free baseline.
    """
    names = [*tools, answer] if answer else list(tools)
    scores, prompt_tokens = score_names(llama, prompt, names)
    best = max(tools, key=lambda n: scores.get(n, -math.inf) - prior.get(n, 0.0))
    if answer and scores[answer] > max(scores[t] for t in tools):
        return answer, prompt_tokens
    return best, prompt_tokens


def _walk(
    llama: Any,
    group: list[tuple[str, list[int]]],
    depth: int,
    n_past: int,
    logits: Any,
    score: float,
    scores: dict[str, float],
) -> None:
    """Score `group` (names sharing their first `depth` tokens) depth-first."""
    branches: dict[int, list[tuple[str, list[int]]]] = {}
    for name, tail in group:
        if len(tail) == depth:
            scores[name] = score
        else:
            branches.setdefault(tail[depth], []).append((name, tail))
    for token, branch in branches.items():
        branch_score = score + _log_softmax_at(logits, token)
        if all(len(tail) == depth + 1 for _, tail in branch):
            scores.update((name, branch_score) for name, _ in branch)
            continue  # the last token of these names: no need for what follows it
        llama.n_tokens = n_past  # eval() drops the cache past this point first
        llama.eval([token])
        next_logits = _last_logits(llama)
        _walk(llama, branch, depth + 1, n_past + 1, next_logits, branch_score, scores)


def complete(
    llama: Any,
    prompt: str,
    *,
    grammar: Any = None,
    max_tokens: int | None,
    temperature: float,
    top_p: float,
    stop: list[str] | None,
    seed: int,
    repeat_penalty: float = 1.0,
) -> Generation:
    """A raw completion of `prompt` (already templated), optionally under a grammar."""
    out = llama.create_completion(
        prompt,
        grammar=grammar,
        max_tokens=max_tokens,
        temperature=temperature,
        top_p=top_p,
        stop=stop,
        seed=seed,
        repeat_penalty=repeat_penalty,
    )
    choice = out["choices"][0]
    usage = out.get("usage") or {}
    return Generation(
        choice["text"],
        int(usage.get("prompt_tokens", 0)),
        int(usage.get("completion_tokens", 0)),
        choice.get("finish_reason") or "stop",
    )
