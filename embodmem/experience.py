"""Experience memory: what happened in finished episodes, for the next ones (Evo-Memory).

Each `Episode` keeps the task, the plan actually executed, the outcome, the failures and their
causes, where each object type was found (receptacle type, room type), and where the agent's
moves were blocked and which floor it could not reach (points in its own frame). `recall`
returns the past episodes most like a new task (embedding cosine of the task texts plus the
overlap of the object types involved) for an LLM prompt; `priors` aggregates where a type was
found into probabilities for a symbolic planner's exploration; `blocked_floor` and
`unreached_floor` are the floor the agent learned it cannot enter (walls, furniture) or get to,
so a later episode in the same place does not bump into it or walk towards it again. The store
is bounded: past `capacity` episodes it evicts with a replacement policy like the short-term
buffer's (FIFO, LRU, LFU), where a recall counts as a use. `EmbodiedMemory.experience` holds
one, saved with the memory's snapshot; task embeddings are made on the first recall, not on
load.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from embodmem import validate as v
from embodmem.embedders import Embedder, HashingEmbedder
from embodmem.errors import ValidationError
from embodmem.policies import UseStats, eviction_order, make_policy

TYPE_WEIGHT = 0.5  # weight of the object-type overlap against the text cosine in `recall`
MAX_CAPACITY = 1_000_000
FORMAT = 1


@dataclass(frozen=True, slots=True)
class Episode:
    """One finished episode, in the terms the agent saw (memory types, not simulator ids)."""

    task: str
    task_type: str = ""
    types: tuple[str, ...] = ()  # object types the task is about (goal targets)
    plan: tuple[str, ...] = ()  # executed skills, e.g. "pickup(Apple)"
    success: bool = False
    steps: int = 0
    failures: tuple[str, ...] = ()  # "PickupObject: <THOR's message>", ...
    found: tuple[tuple[str, str, str], ...] = ()  # (object type, receptacle type, room type)
    blocked: tuple[tuple[float, float], ...] = ()  # floor (x, z) the agent could not move into
    unreached: tuple[tuple[float, float], ...] = ()  # floor (x, z) no route of the agent reached
    time_ns: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "task", v.nonempty_str("episode.task", self.task))
        object.__setattr__(self, "task_type", v.utf8_str("episode.task_type", self.task_type))
        for name in ("types", "plan", "failures"):
            object.__setattr__(
                self, name, tuple(v.str_list(f"episode.{name}", getattr(self, name)))
            )
        if not isinstance(self.success, bool):
            raise ValidationError("episode.success", self.success, "expected true or false")
        object.__setattr__(self, "steps", v.int64("episode.steps", self.steps, minimum=0))
        object.__setattr__(self, "time_ns", v.time_ns("episode.time_ns", self.time_ns))
        if not isinstance(self.found, (tuple, list)):
            raise ValidationError("episode.found", self.found, "expected a list of rows")
        found = []
        for i, row in enumerate(self.found):
            if not isinstance(row, (tuple, list)) or len(row) != 3:
                raise ValidationError(
                    f"episode.found[{i}]", row, "expected (type, receptacle, room)"
                )
            found.append(tuple(v.utf8_str(f"episode.found[{i}]", x) for x in row))
        object.__setattr__(self, "found", tuple(found))
        for name in ("blocked", "unreached"):
            object.__setattr__(self, name, _floor_points(f"episode.{name}", getattr(self, name)))

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON form."""
        return {
            "task": self.task,
            "task_type": self.task_type,
            "types": list(self.types),
            "plan": list(self.plan),
            "success": self.success,
            "steps": self.steps,
            "failures": list(self.failures),
            "found": [list(r) for r in self.found],
            "blocked": [list(r) for r in self.blocked],
            "unreached": [list(r) for r in self.unreached],
            "time_ns": self.time_ns,
        }

    @classmethod
    def from_dict(cls, d: Any) -> Episode:
        """The episode `to_dict` wrote; `ValidationError` naming the field otherwise."""
        if not isinstance(d, Mapping):
            raise ValidationError("episode", type(d).__name__, "expected an object")
        unknown = set(d) - set(cls.__slots__)
        if unknown:
            raise ValidationError("episode", sorted(unknown, key=str)[0], "unknown field")
        if "task" not in d:
            raise ValidationError("episode.task", None, "missing")
        kw = dict(d)
        for name in ("types", "plan", "failures", "found", "blocked", "unreached"):
            if name in kw and not isinstance(kw[name], list):
                raise ValidationError(f"episode.{name}", kw[name], "expected a list")
        for name in ("found", "blocked", "unreached"):
            kw[name] = tuple(tuple(r) if isinstance(r, list) else r for r in kw.get(name, []))
        return cls(**kw)


def _floor_points(field_name: str, rows: Any) -> tuple[tuple[float, float], ...]:
    """Rows of (x, z) floor coordinates, checked."""
    if not isinstance(rows, (tuple, list)):
        raise ValidationError(field_name, rows, "expected a list of (x, z)")
    out = []
    for i, row in enumerate(rows):
        if not isinstance(row, (tuple, list)) or len(row) != 2:
            raise ValidationError(f"{field_name}[{i}]", row, "expected (x, z)")
        out.append(
            (v.coordinate(f"{field_name}[{i}]", row[0]), v.coordinate(f"{field_name}[{i}]", row[1]))
        )
    return tuple(out)


@dataclass(frozen=True, slots=True)
class Recalled:
    """A recalled episode and why: its score, the text cosine, the type overlap."""

    episode: Episode
    score: float
    text_similarity: float
    type_overlap: float


@dataclass
class ExperienceMemory:
    """A bounded store of finished episodes with recall and where-found priors."""

    capacity: int = 500
    policy: str = "lru"
    embedder: Embedder = field(default_factory=HashingEmbedder)
    episodes: list[Episode] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.capacity = v.int64("capacity", self.capacity, minimum=1)
        if self.capacity > MAX_CAPACITY:
            raise ValidationError("capacity", self.capacity, f"at most {MAX_CAPACITY}")
        if self.policy not in ("fifo", "lru", "lfu"):
            raise ValidationError("policy", self.policy, "expected fifo, lru or lfu")
        self._policy = make_policy(self.policy)
        self._clock = 0
        self._inserted: list[int] = []
        self._last: list[int] = []
        self._uses: list[int] = []
        self._vecs: list[np.ndarray | None] = []  # task embeddings, made on the first recall
        given, self.episodes = list(self.episodes), []
        for e in given:
            self.add(e)

    def __len__(self) -> int:
        return len(self.episodes)

    def add(self, episode: Episode) -> None:
        """Keep a finished episode, evicting one by the policy when full."""
        if not isinstance(episode, Episode):
            raise ValidationError("episode", type(episode).__name__, "expected an Episode")
        self._clock += 1
        if len(self.episodes) >= self.capacity:
            self._evict()
        self.episodes.append(episode)
        self._inserted.append(self._clock)
        self._last.append(self._clock)
        self._uses.append(0)
        self._vecs.append(None)

    def clear(self) -> None:
        """Forget every episode (a memory mode that keeps nothing across episodes)."""
        for seq in (self.episodes, self._inserted, self._last, self._uses, self._vecs):
            seq.clear()

    def _evict(self) -> None:
        stats = UseStats(
            np.array(self._inserted, dtype=np.int64),
            np.array(self._last, dtype=np.int64),
            np.array(self._uses, dtype=np.int64),
            [e.task_type for e in self.episodes],
        )
        i = int(eviction_order(self._policy, stats, self._clock)[0])
        for seq in (self.episodes, self._inserted, self._last, self._uses, self._vecs):
            del seq[i]

    def recall(self, task: str, types: Iterable[str] = (), k: int = 3) -> list[Recalled]:
        """The `k` past episodes most like `task` (text cosine + TYPE_WEIGHT x the Jaccard
        overlap of object types), best first; each counts as a use for the policy."""
        task = v.nonempty_str("task", task)
        wanted = set(v.str_list("types", types))
        k = v.int64("k", k, minimum=1)
        if not self.episodes:
            return []
        missing = [i for i, vec in enumerate(self._vecs) if vec is None]
        if missing:
            made = self.embedder.embed([self.episodes[i].task for i in missing])
            for i, vec in zip(missing, made, strict=True):
                self._vecs[i] = vec
        cos = np.stack(self._vecs) @ self.embedder.embed([task])[0]
        overlap = np.array(
            [
                len(wanted & set(e.types)) / len(wanted | set(e.types))
                if wanted | set(e.types)
                else 0.0
                for e in self.episodes
            ]
        )
        score = cos + TYPE_WEIGHT * overlap
        order = np.argsort(-score, kind="stable")[:k]
        self._clock += 1
        for i in order.tolist():
            self._last[i] = self._clock
            self._uses[i] += 1
        return [
            Recalled(self.episodes[i], float(score[i]), float(cos[i]), float(overlap[i]))
            for i in order.tolist()
        ]

    def priors(self, object_type: str, by: str = "receptacle") -> list[tuple[str, float]]:
        """Where a type was found in past episodes: (receptacle type, or room type with
        by="room") and its share of the sightings, most likely first; [] when never seen."""
        object_type = v.nonempty_str("object_type", object_type)
        if by not in ("receptacle", "room"):
            raise ValidationError("by", by, "expected receptacle or room")
        col = 1 if by == "receptacle" else 2
        counts = Counter(
            row[col] for e in self.episodes for row in e.found if row[0] == object_type and row[col]
        )
        total = sum(counts.values())
        return [
            (place, n / total)
            for place, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        ]

    def blocked_floor(self) -> list[tuple[float, float]]:
        """Every floor point (x, z) a past episode's agent could not move into, sorted."""
        return sorted({p for e in self.episodes for p in e.blocked})

    def unreached_floor(self) -> list[tuple[float, float]]:
        """Every floor point (x, z) no route of a past episode's agent reached, sorted (each
        episode keeps only its own, so a long run does not copy the earlier ones again)."""
        return sorted({p for e in self.episodes for p in e.unreached})

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON form (episodes oldest first, with the policy's bookkeeping)."""
        return {
            "format": FORMAT,
            "capacity": self.capacity,
            "policy": self.policy,
            "episodes": [e.to_dict() for e in self.episodes],
            "uses": list(self._uses),
        }

    @classmethod
    def from_dict(cls, d: Any, embedder: Embedder | None = None) -> ExperienceMemory:
        """The store `to_dict` wrote; `ValidationError` naming the field otherwise (nothing
        half-built is returned)."""
        if not isinstance(d, Mapping):
            raise ValidationError("experience", type(d).__name__, "expected an object")
        if d.get("format") != FORMAT:
            raise ValidationError("experience.format", d.get("format"), f"expected {FORMAT}")
        eps = d.get("episodes")
        if not isinstance(eps, list):
            raise ValidationError("experience.episodes", type(eps).__name__, "expected a list")
        uses = d.get("uses", [0] * len(eps))
        if not isinstance(uses, list) or len(uses) != len(eps):
            raise ValidationError("experience.uses", uses, "expected one count per episode")
        episodes = [Episode.from_dict(e) for e in eps]
        counts = [v.int64(f"experience.uses[{i}]", u, minimum=0) for i, u in enumerate(uses)]
        mem = cls(
            capacity=d.get("capacity", 500),
            policy=d.get("policy", "lru"),
            embedder=embedder or HashingEmbedder(),
        )
        if len(episodes) > mem.capacity:
            raise ValidationError("experience.episodes", len(episodes), "more than the capacity")
        for e in episodes:
            mem.add(e)
        mem._uses = counts
        return mem
