"""Token counting with a real GPT tokenizer that works offline (the `bpe-openai` package).

`bpe-openai` is tiktoken-compatible and bundles its encodings (cl100k_base, o200k_base, ...), so
counting never touches the network; tiktoken itself downloads its files on first use. Choose the
encoding that matches the planner's model (cl100k_base: GPT-4 / GPT-3.5; o200k_base: GPT-4o).
"""

from __future__ import annotations

from functools import cache
from typing import Any

from embodmem.errors import ValidationError

DEFAULT_ENCODING = "cl100k_base"
# The encodings bpe-openai 0.1 bundles (`encoding_names()`; listed here so that checking a
# setting does not import the tokenizer).
ENCODINGS = ("cl100k_base", "gpt2", "o200k_base", "p50k_base", "p50k_edit", "r50k_base")


class TokenCounter:
    """Counts the tokens of prompt text in one named encoding."""

    def __init__(self, encoding: str = DEFAULT_ENCODING) -> None:
        self.encoding = encoding
        self._enc = _encoding(encoding)

    def count(self, text: str) -> int:
        """Number of tokens of `text`; special-token markers count as plain text."""
        if not isinstance(text, str):
            raise ValidationError("text", type(text).__name__, "expected a string")
        return len(self._enc.encode_ordinary(text))


def encoding_names() -> list[str]:
    """Encodings the tokenizer bundles."""
    import bpe_openai

    return bpe_openai.list_encoding_names()


def _encoding(name: Any) -> Any:
    if not isinstance(name, str) or name not in encoding_names():
        raise ValidationError("encoding", name, f"unknown tokenizer; known: {encoding_names()}")
    return _load(name)


@cache
def _load(name: str) -> Any:
    import bpe_openai

    return bpe_openai.get_encoding(name)
