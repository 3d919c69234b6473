"""Places graph (Mem4Nav-style topology) over the scene graph's place layer.

Place nodes live in the `SceneGraph` (one source of truth); this room decides when to create
them and keeps the one index the graph does not: from which places each object was seen.
A new place is created when the agent is farther than `distance` from every place, or when its
observation embedding is novel (cosine similarity below `novelty_similarity` to the nearest
place's embedding). Consecutive places are joined by traversal edges with their length;
landmarks (object nodes) attach to the nearest place.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Sequence
from typing import Any

import networkx as nx
import numpy as np

from embodmem import validate as v
from embodmem.errors import SnapshotError, UnknownNodeError, ValidationError
from embodmem.nodes import PlaceNode
from embodmem.scene_graph import SceneGraph
from embodmem.types import Pose, Vec3


class Topology:
    """Creates and links place nodes as the agent moves; answers place queries."""

    def __init__(
        self, graph: SceneGraph, distance: float = 1.0, novelty_similarity: float = 0.5
    ) -> None:
        if not distance > 0:
            raise ValidationError("distance", distance, "place distance must be > 0")
        self.graph = graph
        self.distance = float(distance)
        self.novelty_similarity = float(novelty_similarity)
        self.current: str | None = None
        self._seen_from: dict[str, set[str]] = {}
        self._positions: np.ndarray | None = None  # cache of place positions, in _ids order
        self._ids: list[str] = []

    def _index(self) -> tuple[list[str], np.ndarray]:
        places = self.graph.places()
        if self._positions is None or len(self._ids) != len(places):
            self._ids = [p.node_id for p in places]
            self._positions = np.array([p.position for p in places]) if places else np.empty((0, 3))
        return self._ids, self._positions

    def nearest_place(self, where: Pose | Sequence[float]) -> str | None:
        """Id of the place nearest to a pose or point, or None when there are no places."""
        point = where.position if isinstance(where, Pose) else v.vec3("point", where)
        ids, pos = self._index()
        if not ids:
            return None
        return ids[int(np.argmin(((pos - np.asarray(point)) ** 2).sum(axis=1)))]

    def update(
        self,
        position: Vec3,
        time_ns: int,
        seen: Iterable[str] = (),
        embedding: Sequence[float] | None = None,
        room_id: str | None = None,
    ) -> str:
        """Record the agent at `position`; returns the current place id (new or revisited)."""
        nearest = self.nearest_place(position)
        emb = tuple(float(x) for x in embedding) if embedding is not None else None
        place: PlaceNode | None = None
        if nearest is not None:
            cand = self.graph.node(nearest)
            assert isinstance(cand, PlaceNode)
            close = math.dist(cand.position, position) <= self.distance
            if close and not self._novel(cand, emb):
                place = cand
        if place is None:
            place = self.graph.add_place(position, time_ns, emb, room_id)
            self._positions = None
        else:
            place.visit_count += 1
            place.last_seen_ns = max(place.last_seen_ns, time_ns)
            if room_id is not None and self.graph.container(place.node_id) is None:
                self.graph.set_container(place.node_id, room_id)
        if self.current is not None and self.current != place.node_id:
            self.graph.connect(self.current, place.node_id)
        self.current = place.node_id
        for obj in seen:
            self._seen_from.setdefault(obj, set()).add(place.node_id)
        return place.node_id

    def _novel(self, place: PlaceNode, emb: tuple[float, ...] | None) -> bool:
        if emb is None or place.embedding is None or len(emb) != len(place.embedding):
            return False
        a, b = np.asarray(emb), np.asarray(place.embedding)
        denom = float(np.linalg.norm(a) * np.linalg.norm(b))
        return denom > 0 and float(a @ b) / denom < self.novelty_similarity

    def attach_landmarks(self, object_ids: Iterable[str]) -> None:
        """Make each object's layer parent the place nearest to it."""
        for obj in object_ids:
            node = self.graph.object(obj)
            place = self.nearest_place(node.position)
            if place is not None:
                self.graph.set_container(obj, place)

    def shortest_path(self, a: str, b: str) -> list[str]:
        """Place ids along the shortest traversal path from a to b (raises if unreachable)."""
        for end in (a, b):
            if not isinstance(self.graph.node(end), PlaceNode):
                raise ValidationError("place", end, "not a place node")
        g = nx.Graph()
        g.add_nodes_from([a, b])
        for p in self.graph.places():
            for q, length in self.graph.connections(p.node_id).items():
                g.add_edge(p.node_id, q, length=length)
        try:
            return list(nx.shortest_path(g, a, b, weight="length"))
        except nx.NetworkXNoPath:
            raise ValidationError(
                "place", (a, b), "no traversal path between these places"
            ) from None

    def path_length(self, path: Sequence[str]) -> float:
        """Summed traversal length along a place path."""
        return sum(self.graph.connections(p)[q] for p, q in itertools.pairwise(path))

    def places_seeing(self, object_id: str) -> list[str]:
        """Places from which an object was observed."""
        if object_id not in self.graph:
            raise UnknownNodeError(object_id)
        return sorted(self._seen_from.get(object_id, ()))

    def forget_object(self, object_id: str) -> None:
        self._seen_from.pop(object_id, None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "distance": self.distance,
            "novelty_similarity": self.novelty_similarity,
            "current": self.current,
            "seen_from": {k: sorted(s) for k, s in self._seen_from.items()},
        }

    @classmethod
    def from_dict(cls, graph: SceneGraph, d: Any) -> Topology:
        """Topology from `to_dict` output over its loaded graph; `SnapshotError` on defects
        (settings out of range, ids that are not places / objects of the graph)."""
        if not isinstance(d, dict) or set(d) != {
            "distance",
            "novelty_similarity",
            "current",
            "seen_from",
        }:
            raise SnapshotError(
                "topology: expected distance, novelty_similarity, current, seen_from"
            )
        topo = cls(
            graph,
            v.finite_float("topology.distance", d["distance"], v.MAX_COORDINATE),
            v.finite_float("topology.novelty_similarity", d["novelty_similarity"], 1.0),
        )
        places = {p.node_id for p in graph.places()}
        current = d["current"]
        if current is not None and current not in places:
            raise SnapshotError(f"topology.current={current!r}: not a place of the graph")
        topo.current = current
        seen = d["seen_from"]
        if not isinstance(seen, dict):
            raise SnapshotError("topology.seen_from: expected an object")
        for obj, where in seen.items():
            ids = v.str_list(f"topology.seen_from.{obj}", where)
            if obj not in graph._objects or not set(ids) <= places:
                raise SnapshotError(f"topology.seen_from.{obj}: unknown object or places")
            topo._seen_from[obj] = set(ids)
        return topo
