"""The Rust tokenizers of `bpe-openai`, loaded without the package's Python layer.

`import bpe_openai` builds Python rank tables for all three shipped encodings at import (about
0.8 s and 70 MiB here) for a tiktoken-compatible API mainspring does not use. Its compiled
module alone answers `encode`, `decode` and `count` from tables it carries, and loads one
encoding in about 60 ms. So the compiled module is loaded from the installed package's folder
and registered under its own name: a later `import bpe_openai` (by the user) finds and reuses
it, as the extension cannot be initialised twice in one process.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import sys
from functools import cache
from pathlib import Path
from typing import Any, Protocol

from mainspring.errors import ConfigurationError, MissingExtraError

_MODULE = "bpe_openai._bindings"


class RustTokenizer(Protocol):
    """What `bpe_openai._bindings.PyTokenizer` offers (its `.pyi`)."""

    def encode(self, text: str) -> list[int]: ...

    def decode(self, tokens: list[int]) -> str: ...

    def count(self, text: str) -> int: ...


@cache
def bindings() -> Any:
    """The compiled module, loaded once per process."""
    if _MODULE in sys.modules:
        return sys.modules[_MODULE]
    spec = importlib.util.find_spec("bpe_openai")  # finds the package, does not run it
    if spec is None or not spec.submodule_search_locations:
        raise MissingExtraError("token counting", "core")
    for folder in spec.submodule_search_locations:
        for path in sorted(Path(folder).glob("_bindings*.so")):
            loader = importlib.machinery.ExtensionFileLoader(_MODULE, str(path))
            module_spec = importlib.util.spec_from_file_location(_MODULE, path, loader=loader)
            assert module_spec is not None
            module = importlib.util.module_from_spec(module_spec)
            loader.exec_module(module)
            sys.modules[_MODULE] = module
            return module
    # An unusual install (no separate compiled file): the package's own import path.
    return importlib.import_module(_MODULE)


@cache
def encoding_names() -> tuple[str, ...]:
    """The encodings shipped with the package."""
    return tuple(sorted(bindings().supported_encodings()))


def check_encoding(name: str) -> str:
    """`name`, if the package ships that encoding; else a `ConfigurationError` naming them."""
    if name not in encoding_names():
        raise ConfigurationError(f"unknown encoding {name!r}; known: {', '.join(encoding_names())}")
    return name


@cache
def load(name: str) -> RustTokenizer:
    """One encoding's tokenizer, built once per process and shared."""
    tokenizer: RustTokenizer = bindings().tokenizer_for_encoding(check_encoding(name))
    return tokenizer


# Model name prefixes and their encodings (OpenAI's published mapping); longest prefix wins.
_MODEL_PREFIXES = {
    "gpt-4o": "o200k_base",
    "gpt-4.1": "o200k_base",
    "gpt-4.5": "o200k_base",
    "gpt-5": "o200k_base",
    "chatgpt-4o": "o200k_base",
    "o1": "o200k_base",
    "o3": "o200k_base",
    "o4": "o200k_base",
    "gpt-oss": "o200k_base",
    "gpt-4": "cl100k_base",
    "gpt-3.5": "cl100k_base",
    "gpt-35": "cl100k_base",
    "text-embedding-3": "cl100k_base",
    "text-embedding-ada-002": "cl100k_base",
    "voyage": "voyage3_base",
}


def encoding_for_model(model: str) -> str:
    """The encoding an OpenAI model uses; `o200k_base` for a model it does not know."""
    name = model.rsplit("/", 1)[-1].lower()
    if name in _MODEL_PREFIXES.values():
        return name  # an encoding's own name
    for prefix in sorted(_MODEL_PREFIXES, key=len, reverse=True):
        if name.startswith(prefix):
            return _MODEL_PREFIXES[prefix]
    return "o200k_base"
