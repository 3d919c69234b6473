"""Replacement policies of the short-term buffer, and Ebbinghaus forgetting of long-term nodes.

A replacement policy ranks the buffer's entries from "evict first" to "keep longest" given each
entry's bookkeeping (`UseStats`: step inserted, step of last use, number of uses, label). Uses are
sightings and lookups; steps are the buffer's logical clock. Policies are pure rankings, so they
are swappable and the buffer stays one implementation:

- `fifo`: oldest insertion first;
- `lru`: least recently used first;
- `lfu`: least frequently used first (ties: least recent);
- `mem4nav`: lowest lambda*frequency - (1-lambda)*(steps since last use) first (Mem4Nav, l=0.5);
- `relevance`: least similar to the current goal first (ties: least recent).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from embodmem.embedders import Embedder, HashingEmbedder, label_words
from embodmem.errors import ValidationError


@dataclass(slots=True)
class UseStats:
    """Bookkeeping of the candidates for eviction, one array element each."""

    inserted: np.ndarray  # int64: step the entry entered the buffer
    last_use: np.ndarray  # int64: step of its last sighting or lookup
    uses: np.ndarray  # int64: number of sightings and lookups while buffered
    labels: list[str]


class ReplacementPolicy(Protocol):
    """Ranks entries for eviction: `keys` are sort keys, most significant first, lowest evicted
    first; the buffer breaks remaining ties by insertion order."""

    name: str

    def keys(self, stats: UseStats, step: int) -> tuple[np.ndarray, ...]: ...


class FIFO:
    name = "fifo"

    def keys(self, stats: UseStats, step: int) -> tuple[np.ndarray, ...]:
        return (stats.inserted,)


class LRU:
    name = "lru"

    def keys(self, stats: UseStats, step: int) -> tuple[np.ndarray, ...]:
        return (stats.last_use,)


class LFU:
    name = "lfu"

    def keys(self, stats: UseStats, step: int) -> tuple[np.ndarray, ...]:
        return (stats.uses, stats.last_use)


class Mem4Nav:
    """Mem4Nav's score: keep what is used often and recently; lambda weighs the two."""

    name = "mem4nav"

    def __init__(self, lam: float = 0.5) -> None:
        if isinstance(lam, bool) or not isinstance(lam, (int, float)) or not 0 <= lam <= 1:
            raise ValidationError("lam", lam, "expected a number in [0, 1]")
        self.lam = float(lam)

    def keys(self, stats: UseStats, step: int) -> tuple[np.ndarray, ...]:
        score = self.lam * stats.uses - (1 - self.lam) * (step - stats.last_use)
        return (score, stats.last_use)


class TaskRelevance:
    """Keeps what resembles the current goal; with no goal set it behaves like LRU.

    Similarity is the cosine between the goal text and the entry's label words, cached per label.
    """

    name = "relevance"

    def __init__(self, embedder: Embedder | None = None) -> None:
        self.embedder = embedder or HashingEmbedder()
        self.goal: str | None = None
        self._goal_vec: np.ndarray | None = None
        self._label_vecs: dict[str, np.ndarray] = {}

    def set_goal(self, goal: str | None) -> None:
        """Rank future evictions by similarity to `goal` (None: no goal)."""
        if goal is not None and (not isinstance(goal, str) or not goal.strip()):
            raise ValidationError("goal", goal, "expected a non-empty string or None")
        self.goal = goal
        self._goal_vec = None if goal is None else self.embedder.embed([goal])[0]

    def similarity(self, labels: list[str]) -> np.ndarray:
        """Cosine of each label to the goal (zeros without a goal)."""
        if self._goal_vec is None:
            return np.zeros(len(labels))
        missing = sorted({lab for lab in labels if lab not in self._label_vecs})
        if missing:
            vecs = self.embedder.embed([label_words(lab) for lab in missing])
            self._label_vecs.update(zip(missing, vecs, strict=True))
        return np.array([float(self._label_vecs[lab] @ self._goal_vec) for lab in labels])

    def keys(self, stats: UseStats, step: int) -> tuple[np.ndarray, ...]:
        return (np.round(self.similarity(stats.labels), 6), stats.last_use)


POLICIES = {"fifo": FIFO, "lru": LRU, "lfu": LFU, "mem4nav": Mem4Nav, "relevance": TaskRelevance}


def make_policy(name: str, embedder: Embedder | None = None) -> ReplacementPolicy:
    """A policy by config name (the relevance policy embeds with `embedder`)."""
    if not isinstance(name, str) or name not in POLICIES:
        raise ValidationError("policy", name, f"expected one of {sorted(POLICIES)}")
    if name == "relevance":
        return TaskRelevance(embedder)
    return POLICIES[name]()


def eviction_order(policy: ReplacementPolicy, stats: UseStats, step: int) -> np.ndarray:
    """Indices of the candidates, first to evict first; ties go to the earliest inserted."""
    keys = policy.keys(stats, step)
    tiebreak = np.arange(len(stats.inserted))
    # np.lexsort sorts by its last key first.
    return np.lexsort((tiebreak, stats.inserted, *reversed(keys)))


def retention(strength: np.ndarray, elapsed_s: np.ndarray, tau_s: float) -> np.ndarray:
    """Ebbinghaus retention exp(-dt / (tau * S)): a stronger memory (larger S) fades slower.

    The strength scales the time constant. MemoryBank's public code computes exp(-dt / tau * S),
    which by operator precedence is exp(-(dt / tau) * S) and makes strong memories fade faster.
    """
    if not (isinstance(tau_s, (int, float)) and math.isfinite(tau_s) and tau_s > 0):
        raise ValidationError("tau_s", tau_s, "expected a finite number > 0")
    return np.exp(-np.maximum(elapsed_s, 0.0) / (tau_s * np.asarray(strength, dtype=np.float64)))
