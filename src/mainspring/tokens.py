"""Token counting shared by models and memory.

A `Tokenizer` counts and truncates text in a model's own tokens. Budgets (memory context, agent
token caps) are only as true as the tokenizer behind them, so the default is a real BPE
(OpenAI's `o200k_base`, shipped offline by the `bpe-openai` package), never a word count.
Local models supply their own tokenizer (llama.cpp's) through the same protocol.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Protocol, runtime_checkable

from mainspring.errors import ConfigurationError


@runtime_checkable
class Tokenizer(Protocol):
    """Counts and truncates text in one model's tokens."""

    name: str

    def count(self, text: str) -> int:
        """Number of tokens in `text`."""
        ...

    def truncate(self, text: str, max_tokens: int) -> str:
        """The longest prefix of `text` that is at most `max_tokens` tokens."""
        ...


@lru_cache(maxsize=8)
def _load_encoding(name: str) -> Any:
    """Load an encoding once per process: building its rank tables takes ~0.4 s."""
    import bpe_openai

    try:
        return bpe_openai.get_encoding(name)
    except Exception as exc:
        names = ", ".join(bpe_openai.list_encoding_names())
        raise ConfigurationError(f"unknown encoding {name!r}; known: {names}") from exc


class BPETokenizer:
    """OpenAI's byte-pair encodings (`o200k_base`, `cl100k_base`, ...), offline."""

    def __init__(self, encoding: str = "o200k_base") -> None:
        self._encoding = _load_encoding(encoding)
        self.name = encoding

    @classmethod
    def for_model(cls, model: str) -> BPETokenizer:
        """The encoding an OpenAI model uses; `o200k_base` for models it does not know."""
        import bpe_openai

        try:
            return cls(bpe_openai.encoding_name_for_model(model))
        except Exception:
            return cls("o200k_base")

    def count(self, text: str) -> int:
        """Number of tokens in `text`."""
        return len(self._encoding.encode_ordinary(text))

    def truncate(self, text: str, max_tokens: int) -> str:
        """The longest prefix of at most `max_tokens` tokens, cut on a token boundary."""
        if max_tokens <= 0:
            return ""
        tokens = self._encoding.encode_ordinary(text)
        if len(tokens) <= max_tokens:
            return text
        # Decoding a token prefix can end inside a multi-byte character; drop the partial one.
        raw = self._encoding.decode_bytes(tokens[:max_tokens])
        return bytes(raw).decode("utf-8", errors="ignore")


@lru_cache(maxsize=1)
def default_tokenizer() -> Tokenizer:
    """The tokenizer used when a caller names none: `o200k_base`."""
    return BPETokenizer("o200k_base")
