"""The compiled tokenizers loaded without `bpe_openai`'s Python layer (`mainspring._bpe`)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from mainspring import _bpe
from mainspring.errors import ConfigurationError
from mainspring.tokens import BPETokenizer


def test_a_later_import_of_the_package_reuses_the_loaded_module() -> None:
    # The extension cannot be initialised twice in one process: the package must find ours.
    code = (
        "from mainspring.tokens import BPETokenizer\n"
        "n = BPETokenizer().count('hello world, again')\n"
        "import bpe_openai\n"
        "encoding = bpe_openai.get_encoding('o200k_base')\n"
        "assert len(encoding.encode_ordinary('hello world, again')) == n\n"
        "print(n)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "4"


def test_making_a_tokenizer_loads_no_tables() -> None:
    code = (
        "import sys\n"
        "from mainspring.tokens import BPETokenizer\n"
        "BPETokenizer('cl100k_base')\n"
        "from mainspring import _bpe\n"
        "assert _bpe.load.cache_info().currsize == 0\n"
        "assert 'bpe_openai' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_an_unknown_encoding_names_the_known_ones() -> None:
    with pytest.raises(ConfigurationError, match="known: cl100k_base, o200k_base"):
        BPETokenizer("p99k_base")


@pytest.mark.parametrize(
    ("model", "encoding"),
    [
        ("gpt-4o-mini", "o200k_base"),
        ("openai/gpt-4.1-2025-04-14", "o200k_base"),
        ("o3-mini", "o200k_base"),
        ("gpt-4-turbo", "cl100k_base"),
        ("gpt-3.5-turbo-0125", "cl100k_base"),
        ("cl100k_base", "cl100k_base"),
        ("llama-3-8b", "o200k_base"),
    ],
)
def test_models_map_to_their_encodings(model: str, encoding: str) -> None:
    assert _bpe.encoding_for_model(model) == encoding
    assert BPETokenizer.for_model(model).name == encoding


def test_lone_surrogates_are_counted_and_cut_not_raised() -> None:
    tokenizer = BPETokenizer()
    text = "before \ud800 after"
    assert tokenizer.count(text) == tokenizer.count("before \ufffd after")
    assert tokenizer.truncate(text, 1) == "before"
    assert tokenizer.truncate(text, 2) == "before \ufffd"


def test_a_cut_inside_a_multibyte_character_keeps_whole_characters() -> None:
    tokenizer = BPETokenizer()
    text = "日本語のテキスト 🎉🎉 zażółć"
    for size in range(tokenizer.count(text) + 1):
        prefix = tokenizer.truncate(text, size)
        assert text.startswith(prefix)
        assert tokenizer.count(prefix) <= size
