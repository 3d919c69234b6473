"""Retrieval over remembered objects: semantic, spatial, temporal and label filters combined.

"Where did I last see the knife?"        -> query(text="knife")
"something to drink from near the sink"  -> query(text="something to drink from", near="O12")
"what changed since t"                   -> query(since=t) (or `short_term.changes(t)`)

Each object node has a description: its label's words and other everyday names, category words
(`embodmem.lexicon`), affordances from its attributes, its support and salient states ("fridge
(refrigerator, freezer, icebox): appliance; can hold things, can be opened, cools things; on
floor; closed"). Its embedding is cached by text, so it is recomputed only when the description
changes (states, support) and shared by nodes that read the same. An object's similarity to a
text is the best of its description's and each of its names' alone (a misleading support or a
long description must not hide the object itself; other names count 0.95 of the label's own
words, so ties go to the label people named). `mentions(text)` tells which labels a text names
outright (any of their names, plurals included: "knives" names `Knife`). Search is exact cosine
in numpy over all remembered objects (fine to tens of thousands of nodes). Positions and times
come from the short-term evidence timeline, the freshest the memory has.

Input rules: `k` must be a positive integer; `since` <= `until`; `radius` needs `near` (and
defaults to the configured radius when `near` is given alone); an empty `text` or a query with
no text and no filter is rejected (`QueryError`); `near` may be a point or an object node id
(unknown ids raise `UnknownNodeError`). Filters that match nothing give an empty list.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from embodmem import lexicon
from embodmem import validate as v
from embodmem.embedders import Embedder, label_words
from embodmem.errors import QueryError, UnknownNodeError
from embodmem.nodes import ObjectNode
from embodmem.octree import Octree
from embodmem.scene_graph import SceneGraph
from embodmem.short_term import NEVER, ShortTermMemory
from embodmem.types import Vec3

_QUERY_CACHE = 256  # query texts whose embeddings are kept
# Similarity to a label's other names counts this much of its own words' (a tie-breaker: "knife"
# finds the Knife before the ButterKnife, also called "knife").
_OTHER_NAME_WEIGHT = 0.95
# State flag -> words when true / when false (None: say nothing).
_FLAG_WORDS: dict[str, tuple[str | None, str | None]] = {
    "isOpen": ("open", "closed"),
    "isToggled": ("on", None),
    "isSliced": ("sliced", None),
    "isCooked": ("cooked", None),
    "isDirty": ("dirty", None),
    "isFilledWithLiquid": ("filled", None),
    "isBroken": ("broken", None),
    "isUsedUp": ("used up", None),
    "isPickedUp": ("held", None),
}
# Attribute -> what it lets one do with the object (affordance words of descriptions).
_AFFORDANCES = {
    "pickupable": "can be picked up",
    "receptacle": "can hold things",
    "openable": "can be opened",
    "toggleable": "can be turned on and off",
    "sliceable": "can be sliced",
    "cookable": "can be cooked",
    "dirtyable": "can be washed",
    "canFillWithLiquid": "can hold liquid",
    "canBeUsedUp": "can be used up",
    "breakable": "breakable",
    "isHeatSource": "heats things",
    "isColdSource": "cools things",
}


@dataclass(frozen=True, slots=True)
class MemoryHit:
    """One retrieved object: where and how it was last remembered, its score and why it matched."""

    node_id: str
    label: str
    source_id: str | None
    position: Vec3
    states: Mapping[str, Any]
    score: float
    why: tuple[str, ...]
    last_seen_ns: int


def state_words(
    states: Mapping[str, Any], attributes: Mapping[str, Any] | None = None
) -> list[str]:
    """Words for an object's salient states ("open", "sliced", "filled with water", "cold").

    Open/closed is said only of openable objects when `attributes` tell (THOR reports
    isOpen=False for everything).
    """
    out = []
    for key, (yes, no) in _FLAG_WORDS.items():
        flag = states.get(key)
        if key == "isOpen" and attributes is not None and not attributes.get("openable", True):
            continue
        word = yes if flag is True else no if flag is False else None
        if word is not None:
            liquid = states.get("fillLiquid")
            out.append(f"filled with {liquid}" if key == "isFilledWithLiquid" and liquid else word)
    temperature = states.get("temperature")
    if isinstance(temperature, str) and temperature.lower() in ("hot", "cold"):
        out.append(temperature.lower())
    return out


def describe(graph: SceneGraph, node: ObjectNode, states: Mapping[str, Any]) -> str:
    """Description of an object for embedding: names, categories, affordances, support, states."""
    own, *other = lexicon.names(node.label)
    parts = [own + (f" ({', '.join(other)})" if other else "")]
    cats = lexicon.categories(node.label)
    if cats:
        parts[0] += f": {', '.join(cats)}"
    can = [w for k, w in _AFFORDANCES.items() if node.attributes.get(k) is True]
    link = graph.parent(node.node_id)
    where = [f"{link[0]} {label_words(graph.node(link[1]).label)}"] if link is not None else []
    parts += [", ".join(p) for p in (can, where, state_words(states, node.attributes)) if p]
    return "; ".join(parts)


class Retriever:
    """Answers `query` over the objects the memory remembers; keeps the embedding cache."""

    def __init__(
        self,
        graph: SceneGraph,
        short_term: ShortTermMemory,
        octree: Octree,
        embedder: Embedder,
        radius: float = 1.0,
    ) -> None:
        self.graph = graph
        self.short_term = short_term
        self.octree = octree
        self.embedder = embedder
        self.radius = radius
        self._text: list[str | None] = []  # per timeline row
        self._emb = np.zeros((0, embedder.dim), np.float32)  # per timeline row
        self._code = np.zeros(0, np.int64)  # label code per timeline row
        self._codes: dict[str, int] = {}
        self._name_emb = np.zeros((0, embedder.dim), np.float32)  # names of each label, by code
        self._name_start = np.zeros(0, np.int64)  # first row of each label code's names
        self._name_weight = np.zeros(0, np.float32)  # 1 for a label's own words, less for others
        self._phrases: dict[str, list[tuple[tuple[str, ...], str]]] = {}  # first stem -> names
        self._vectors: dict[str, np.ndarray] = {}  # description -> embedding
        self._queries: OrderedDict[str, np.ndarray] = OrderedDict()
        self._dirty: set[str] = set()

    def touch(self, node_ids: Iterable[str]) -> None:
        """Mark objects whose description may have changed (seen, moved, restated)."""
        self._dirty.update(node_ids)

    def _sync_rows(self) -> None:
        """Extend the per-row arrays to new timeline rows (new objects are dirty)."""
        tl = self.short_term.timeline
        if len(self.graph.objects()) != len(tl.row):  # objects entered behind our back
            self.short_term.sync()
        n, have = len(tl), len(self._text)
        if n == have:
            return
        new_ids = tl.ids[have:]
        self._text += [None] * (n - have)
        self._emb = np.concatenate([self._emb, np.zeros((n - have, self.embedder.dim), np.float32)])
        labels = [self.graph.object(i).label if i in self.graph else "" for i in new_ids]
        codes = [self._codes.setdefault(lab, len(self._codes)) for lab in labels]
        self._code = np.concatenate([self._code, np.array(codes, np.int64)])
        self._dirty.update(new_ids)

    def _refresh_texts(self) -> None:
        """Re-describe dirty objects; embed descriptions never seen before (one batch)."""
        tl, st = self.short_term.timeline, self.short_term
        rows, texts = [], []
        for node_id in self._dirty:
            row = tl.row.get(node_id)
            if row is None or node_id not in self.graph:
                continue
            node = self.graph.object(node_id)
            entry = st.entry(node_id)
            text = describe(self.graph, node, entry.states if entry else node.states)
            if text != self._text[row]:
                rows.append(row)
                texts.append(text)
        self._dirty.clear()
        new_labels = list(self._codes)[len(self._name_start) :]
        label_names = [lexicon.names(lab) for lab in new_labels]
        flat = [name for group in label_names for name in group]
        new = sorted({t for t in texts + flat if t not in self._vectors})
        if new:
            self._vectors.update(zip(new, self.embedder.embed(new), strict=True))
        for row, text in zip(rows, texts, strict=True):
            self._text[row] = text
            self._emb[row] = self._vectors[text]
        if flat:
            sizes = [len(group) for group in label_names]
            starts = len(self._name_emb) + np.cumsum([0, *sizes[:-1]])
            self._name_start = np.concatenate([self._name_start, starts])
            weights = [1.0 if i == 0 else _OTHER_NAME_WEIGHT for n in sizes for i in range(n)]
            self._name_weight = np.concatenate([self._name_weight, np.array(weights, np.float32)])
            vecs = np.stack([self._vectors[t] for t in flat])
            self._name_emb = np.concatenate([self._name_emb, vecs])
            for lab, group in zip(new_labels, label_names, strict=True):
                for stems in filter(None, map(lexicon.stems, group)):
                    self._phrases.setdefault(stems[0], []).append((stems, lab))

    def label_codes(self, rows: np.ndarray) -> np.ndarray:
        """Label code of each row (equal codes: equal labels)."""
        return self._code[rows]

    def label_code(self, label: str) -> int:
        """The code of a remembered label (as in `label_codes`); raises KeyError if unknown."""
        return self._codes[label]

    def mentions(self, text: str) -> set[str]:
        """Remembered labels that `text` names outright by one of their names (plurals
        included: "Put the knives on the counters" names Knife, ButterKnife and CounterTop)."""
        self._sync_rows()
        self._refresh_texts()
        words = lexicon.stems(text)
        return {
            label
            for i, word in enumerate(words)
            for stems, label in self._phrases.get(word, ())
            if words[i : i + len(stems)] == stems
        }

    def _scores(self, rows: np.ndarray, queries: np.ndarray) -> np.ndarray:
        """Cosine of each query to each row's object: the best of its description and each of
        its label's names (a stale support or a long description must not hide it)."""
        sims = (queries @ self._name_emb.T) * self._name_weight
        by_name = np.maximum.reduceat(sims, self._name_start, axis=1)
        # One matrix-vector product per query over every row, then the rows: gathering the
        # rows first copies the matrix, and a threaded matrix product over it costs several
        # times a product per query on a busy 2-core machine (the ROS server's case).
        emb = self._emb[: len(self._text)]
        desc = np.stack([emb @ q for q in queries])[:, rows]
        return np.maximum(desc, by_name[:, self._code[rows]])

    def text_of(self, node_id: str) -> str:
        """The current description of an object (as embedded)."""
        node = self.graph.object(node_id)
        entry = self.short_term.entry(node_id)
        return describe(self.graph, node, entry.states if entry else node.states)

    def embed_query(self, text: str) -> np.ndarray:
        """Embedding of a query text (recent texts are cached)."""
        vec = self._queries.get(text)
        if vec is None:
            vec = self.embedder.embed([text])[0]
            self._queries[text] = vec
            if len(self._queries) > _QUERY_CACHE:
                self._queries.popitem(last=False)
        else:
            self._queries.move_to_end(text)
        return vec

    def similarity(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """(rows of live objects, cosine of each text to each of them: (len(texts), rows))."""
        self._sync_rows()
        self._refresh_texts()
        rows = np.flatnonzero(self.short_term.timeline.alive[: len(self._text)])
        queries = np.stack([self.embed_query(t) for t in texts])
        return rows, self._scores(rows, queries)

    def query(
        self,
        text: str | None = None,
        near: Any = None,
        radius: float | None = None,
        since: int | None = None,
        until: int | None = None,
        labels: Iterable[str] | None = None,
        k: int = 10,
    ) -> list[MemoryHit]:
        """Top-k remembered objects matching every given criterion; see the module docstring."""
        args = _check_query(text, near, radius, since, until, labels, k)
        centre = self._centre(near) if near is not None else None
        if centre is not None and radius is None:
            radius = self.radius
        self._sync_rows()
        tl = self.short_term.timeline
        n = len(self._text)
        mask = tl.alive[:n].copy()
        if args["labels"] is not None:
            wanted = [self._codes[lab] for lab in args["labels"] if lab in self._codes]
            mask &= np.isin(self._code, wanted)
        if since is not None or until is not None:
            mask &= _in_window(tl.times, n, since, until)
        dist = None
        if centre is not None:
            assert radius is not None
            dist = np.sqrt(((tl.pos[:n] - np.asarray(centre)) ** 2).sum(axis=1))
            close = dist <= radius
            for number, d in self.octree.objects_near(centre, radius):
                row = tl.row.get(f"O{number}")
                if row is not None and not close[row]:
                    close[row] = True
                    dist[row] = d
            mask &= close
        if text is not None:
            self._refresh_texts()
            score = np.full(n, -np.inf)
            cand = np.flatnonzero(mask)
            score[cand] = self._scores(cand, self.embed_query(text)[None, :])[0]
        elif dist is not None:
            score = 1.0 / (1.0 + dist)
        else:
            score = np.ones(n)
        cand = np.flatnonzero(mask)
        if not len(cand):
            return []
        if len(cand) > k:
            cut = np.argpartition(-score[cand], k - 1)[:k]
            kth = score[cand[cut]].min()
            cand = cand[score[cand] >= kth]  # keep ties at the cut for the recency order
        order = np.lexsort((-tl.times["last_seen"][cand], -score[cand]))[:k]
        hits = [
            self._hit(int(row), float(score[row]), text, centre, dist, since, until)
            for row in cand[order]
        ]
        self.short_term.access(h.node_id for h in hits)
        return hits

    def _centre(self, near: Any) -> Vec3:
        if isinstance(near, str):
            if near not in self.graph:
                raise UnknownNodeError(near)
            node = self.graph.node(near)
            pos = getattr(node, "position", None)
            if pos is None:
                raise QueryError("near", near, "node has no position (use an object or place)")
            row = self.short_term.timeline.row.get(near)
            return tuple(self.short_term.timeline.pos[row]) if row is not None else pos
        return v.vec3("near", near)

    def _hit(
        self,
        row: int,
        score: float,
        text: str | None,
        centre: Vec3 | None,
        dist: np.ndarray | None,
        since: int | None,
        until: int | None,
    ) -> MemoryHit:
        tl = self.short_term.timeline
        node_id = tl.ids[row]
        node = self.graph.object(node_id)
        entry = self.short_term.entry(node_id)
        reasons = []
        if text is not None:
            reasons.append(f"similarity {score:.2f} of {text!r} to {self._text[row]!r}")
        if centre is not None and dist is not None:
            reasons.append(f"{dist[row]:.2f} m from {tuple(round(c, 2) for c in centre)}")
        if since is not None or until is not None:
            reasons.append(f"evidence in [{since}, {until}]")
        last_seen = int(tl.times["last_seen"][row])
        if not reasons:
            reasons.append(f"label {node.label}, last seen at {last_seen}")
        return MemoryHit(
            node_id=node_id,
            label=node.label,
            source_id=node.source_id,
            position=tuple(float(x) for x in tl.pos[row]),  # type: ignore[arg-type]
            states=dict(entry.states if entry else node.states),
            score=score,
            why=tuple(reasons),
            last_seen_ns=last_seen,
        )


def _in_window(
    times: Mapping[str, np.ndarray], n: int, since: int | None, until: int | None
) -> np.ndarray:
    """Objects with evidence in [since, until]: their seen span overlaps it, or they changed or
    were seen absent inside it."""
    lo = since if since is not None else 0
    hi = until if until is not None else np.iinfo(np.int64).max
    first, last = times["first_seen"][:n], times["last_seen"][:n]
    out = (first <= hi) & (last >= lo)
    for key in ("last_changed", "last_absent"):
        t = times[key][:n]
        out |= (t != NEVER) & (t >= lo) & (t <= hi)
    return out


def _check_query(
    text: Any, near: Any, radius: Any, since: Any, until: Any, labels: Any, k: Any
) -> dict[str, Any]:
    """Validate query arguments (see the module docstring); raises `QueryError`."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k <= 0:
        raise QueryError("k", k, "expected an integer >= 1")
    if text is not None and (not isinstance(text, str) or not text.strip()):
        raise QueryError("text", text, "expected non-empty text (or None)")
    if text is not None:
        v.utf8_str("text", text)
    if radius is not None:
        if near is None:
            raise QueryError("radius", radius, "a radius needs a `near` point or node id")
        r = v.finite_float("radius", radius)
        if r <= 0 or not math.isfinite(r):
            raise QueryError("radius", radius, "expected a radius > 0 m")
    if near is not None and isinstance(near, str) and not near.strip():
        raise QueryError("near", near, "expected a point or a node id")
    t0 = v.time_ns("since", since) if since is not None else None
    t1 = v.time_ns("until", until) if until is not None else None
    if t0 is not None and t1 is not None and t0 > t1:
        raise QueryError("since", (since, until), "time range is inverted (since > until)")
    wanted = None
    if labels is not None:
        wanted = v.str_list("labels", labels)
        if not wanted:
            raise QueryError("labels", labels, "expected at least one label (or None)")
    if text is None and near is None and t0 is None and t1 is None and wanted is None:
        raise QueryError("query", "no criteria", "give text, near, since/until or labels")
    return {"labels": wanted}
