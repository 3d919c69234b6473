"""The long-term layered 3D scene graph: building -> room -> place -> object.

A plain container (networkx style): nodes per layer keyed by typed ids, typed edges, and
`integrate(observation)` that associates detections with nodes, merges them, and refreshes
geometric relations only around the objects that appeared or moved. What rests in or on a
moved carrier (a pickupable, or an openable: a drawer slides) and was not seen in the same
frame moves with it, as it does in THOR. Relations:

- `on` / `in`: an object -> its direct support or container, inferred from geometry
  (`embodmem.relations`), never copied from a simulator's ground truth;
- `near`: symmetric, between objects close to each other;
- `contains`: the layer hierarchy (building -> room -> place -> object);
- `connected_to`: symmetric, between rooms and between places (with a traversal length).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from embodmem import relations
from embodmem.association import LabelGrid, associate
from embodmem.errors import (
    DuplicateIdError,
    EmbodmemError,
    SnapshotError,
    UnknownLabelError,
    UnknownNodeError,
    ValidationError,
)
from embodmem.nodes import SYMBOLS, BuildingNode, Layer, Node, ObjectNode, PlaceNode, RoomNode
from embodmem.types import ObjectObservation, Observation, Vec3

RELATION_KINDS = ("on", "in", "near", "contains", "connected_to")
Triple = tuple[str, str, str]


@dataclass(slots=True)
class IntegrateReport:
    """What one `integrate` call did: node id per detection, and which nodes are new or moved."""

    node_ids: list[str] = field(default_factory=list)
    new: list[str] = field(default_factory=list)
    moved: list[str] = field(default_factory=list)
    room_id: str | None = None


class SceneGraph:
    """Layered scene graph with typed relation edges; see the module docstring."""

    def __init__(
        self,
        labels: Iterable[str] | None = None,
        association_distance: float = 0.5,
        move_threshold: float = 0.01,
    ) -> None:
        self.labels: frozenset[str] | None = frozenset(labels) if labels is not None else None
        self.association_distance = association_distance
        self.move_threshold = move_threshold
        self._nodes: dict[str, Node] = {}
        self._objects: dict[str, ObjectNode] = {}
        self._rooms_by_label: dict[str, str] = {}
        self._counters: dict[str, int] = dict.fromkeys(SYMBOLS.values(), 0)
        self._by_source: dict[str, str] = {}
        # Edges.
        self._parent: dict[str, tuple[str, str]] = {}  # child -> (on|in, parent)
        self._children: dict[str, set[str]] = {}
        self._near: dict[str, set[str]] = {}
        self._container: dict[str, str] = {}  # layer hierarchy: child -> parent
        self._contains: dict[str, set[str]] = {}
        self._connected: dict[str, dict[str, float]] = {}
        # Indexes (derived; rebuilt on load).
        self._label_grid = LabelGrid(cell=max(association_distance, 0.25))
        self._index: relations.RelationIndex | None = relations.RelationIndex()
        self._last_room: str | None = None

    # ----------------------------------------------------------------- reading
    def __len__(self) -> int:
        return len(self._nodes)

    def __contains__(self, node_id: object) -> bool:
        return node_id in self._nodes

    def node(self, node_id: str) -> Node:
        """The node with this id; raises `UnknownNodeError`."""
        try:
            return self._nodes[node_id]
        except (KeyError, TypeError):
            raise UnknownNodeError(node_id) from None

    def object(self, node_id: str) -> ObjectNode:
        """The object node with this id; raises `UnknownNodeError` for other ids."""
        node = self._objects.get(node_id)
        if node is None:
            raise UnknownNodeError(node_id, "object layer")
        return node

    def objects(self) -> list[ObjectNode]:
        """All object nodes, in creation order."""
        return list(self._objects.values())

    def nodes(self, layer: Layer | str | None = None) -> list[Node]:
        """All nodes, or those of one layer."""
        if layer is None:
            return list(self._nodes.values())
        layer = Layer(layer)
        return [n for n in self._nodes.values() if n.layer is layer]

    def rooms(self) -> list[RoomNode]:
        return [n for n in self._nodes.values() if isinstance(n, RoomNode)]

    def places(self) -> list[PlaceNode]:
        return [n for n in self._nodes.values() if isinstance(n, PlaceNode)]

    def object_by_source(self, source_id: str) -> ObjectNode | None:
        """The object node carrying a source id (e.g. a THOR objectId), or None."""
        node_id = self._by_source.get(source_id)
        return self._objects.get(node_id) if node_id is not None else None

    def parent(self, node_id: str) -> tuple[str, str] | None:
        """(kind, parent id) of an object's direct support/container, or None."""
        self.node(node_id)
        return self._parent.get(node_id)

    def support_chain(self, node_id: str) -> list[str]:
        """Ids of the object's on/in ancestors, nearest first."""
        out: list[str] = []
        current = self._parent.get(node_id)
        while current is not None and current[1] not in out:
            out.append(current[1])
            current = self._parent.get(current[1])
        return out

    def children(self, node_id: str) -> list[str]:
        """Objects directly on or in this one."""
        self.node(node_id)
        return sorted(self._children.get(node_id, ()))

    def container(self, node_id: str) -> str | None:
        """Parent in the layer hierarchy (place or room of an object, room of a place...)."""
        self.node(node_id)
        return self._container.get(node_id)

    def contents(self, node_id: str) -> list[str]:
        """Children in the layer hierarchy."""
        self.node(node_id)
        return sorted(self._contains.get(node_id, ()))

    def near(self, node_id: str) -> list[str]:
        self.node(node_id)
        return sorted(self._near.get(node_id, ()))

    def connections(self, node_id: str) -> dict[str, float]:
        """Nodes connected to this room/place, with traversal lengths."""
        self.node(node_id)
        return dict(self._connected.get(node_id, {}))

    def relations(self, kind: str | None = None) -> list[Triple]:
        """(subject, kind, object) triples; symmetric kinds are listed once (subject < object)."""
        if kind is not None and kind not in RELATION_KINDS:
            raise ValidationError("kind", kind, f"expected one of {RELATION_KINDS}")
        out: list[Triple] = []
        if kind in (None, "on", "in"):
            out += [(c, k, p) for c, (k, p) in self._parent.items() if kind in (None, k)]
        if kind in (None, "near"):
            out += [(a, "near", b) for a, bs in self._near.items() for b in bs if a < b]
        if kind in (None, "contains"):
            out += [(p, "contains", c) for c, p in self._container.items()]
        if kind in (None, "connected_to"):
            out += [
                (a, "connected_to", b) for a, bs in self._connected.items() for b in bs if a < b
            ]
        return out

    def iter_edges(self) -> Iterator[tuple[str, str, str, dict[str, Any]]]:
        """Every edge with its attributes (used by serialisation and export)."""
        for c, (k, p) in self._parent.items():
            yield c, p, k, {}
        for a, bs in self._near.items():
            for b in bs:
                if a < b:
                    yield a, b, "near", {}
        for c, p in self._container.items():
            yield p, c, "contains", {}
        for a, bs in self._connected.items():
            for b, length in bs.items():
                if a < b:
                    yield a, b, "connected_to", {"length": length}

    # ---------------------------------------------------------------- writing
    def match(self, obs: Observation) -> list[str | None]:
        """Node id each detection would join (None: a new object); validates like `integrate`
        and changes nothing (the short-term memory diffs against these nodes first)."""
        self._check(obs)
        return associate(
            obs.objects, self._by_source, self._label_grid, self._objects, self.association_distance
        )

    def integrate(
        self, obs: Observation, matches: Sequence[str | None] | None = None
    ) -> IntegrateReport:
        """Merge one observation; validates fully (bodies included) before changing anything.

        `matches` may pass what `match(obs)` returned for this observation and this graph state
        (callers that inspect matches first save a second association pass).
        """
        if matches is None:
            matches = self.match(obs)
        elif len(matches) != len(obs.objects):
            raise ValidationError("matches", len(matches), f"expected {len(obs.objects)} entries")
        # Plan: which detections are new or moved, and their geometry (may raise; nothing changed).
        self._relation_index()
        bodies: dict[int, relations.Body] = {}
        for i, (det, node_id) in enumerate(zip(obs.objects, matches, strict=True)):
            if node_id is None or self._changed_shape(self._objects[node_id], det):
                bodies[i] = relations.body_from_object(node_id or "new", det)
        # Apply.
        report = IntegrateReport()
        t = obs.time_ns
        if obs.region is not None:
            report.room_id = self._enter_room(obs.region, t)
        touched: dict[str, relations.Body] = {}
        shifts: dict[str, Vec3] = {}  # moved carriers -> how far they moved
        for i, (det, node_id) in enumerate(zip(obs.objects, matches, strict=True)):
            if node_id is None:
                node_id = self._new_object(det, t)
                report.new.append(node_id)
            else:
                node = self._objects[node_id]
                before = node.position
                self._update_object(node, det, t, moved=i in bodies)
                if i in bodies:
                    report.moved.append(node_id)
                    shift = _sub(node.position, before)
                    if _carries(node) and any(shift):  # a new box alone moves nothing
                        shifts[node_id] = shift
            if i in bodies:
                touched[node_id] = dataclasses.replace(bodies[i], key=node_id)
            report.node_ids.append(node_id)
            if report.room_id is not None and self._container.get(node_id) is None:
                self._link(report.room_id, node_id)
        for node_id in self._carry(shifts, seen=set(report.node_ids)):
            node = self._objects[node_id]
            touched[node_id] = relations.body_from_parts(
                node_id, node.label, node.position, node.bbox, node.attributes
            )
            report.moved.append(node_id)
        if touched:
            self._refresh_relations(touched)
        return report

    def _check(self, obs: Observation) -> None:
        if not isinstance(obs, Observation):
            raise ValidationError("observation", type(obs).__name__, "expected an Observation")
        seen: set[str] = set()
        for i, det in enumerate(obs.objects):
            if self.labels is not None and det.label not in self.labels:
                raise UnknownLabelError(
                    f"observation.objects[{i}].label", det.label, "not in the memory's label set"
                )
            known = self._by_source.get(det.id_hint) if det.id_hint is not None else None
            if known is None or det.attributes != self._objects[known].attributes:
                relations.check_attributes(det.attributes)  # a known node's are valid already
            if det.id_hint is not None:
                if det.id_hint in seen:
                    raise DuplicateIdError(
                        f"observation.objects[{i}].id_hint",
                        det.id_hint,
                        "appears twice in one frame",
                    )
                seen.add(det.id_hint)
                if known is not None and self._objects[known].label != det.label:
                    raise DuplicateIdError(
                        f"observation.objects[{i}].id_hint",
                        det.id_hint,
                        f"already names a {self._objects[known].label!r} (node {known}), "
                        f"not a {det.label!r}",
                    )

    def _next_id(self, layer: Layer) -> str:
        sym = SYMBOLS[layer]
        self._counters[sym] += 1
        return f"{sym}{self._counters[sym]}"

    def _enter_room(self, region: str, t: int) -> str:
        room_id = self._rooms_by_label.get(region)
        if room_id is None:
            building = self._building()
            room_id = self._next_id(Layer.ROOM)
            self._add(RoomNode(room_id, region, t, t))
            self._rooms_by_label[region] = room_id
            self._link(building, room_id)
        room = self._nodes[room_id]
        assert isinstance(room, RoomNode)
        room.last_seen_ns = max(room.last_seen_ns, t)
        if self._last_room is not None and self._last_room != room_id:
            self.connect(self._last_room, room_id)
        self._last_room = room_id
        return room_id

    def _building(self) -> str:
        for node in self._nodes.values():
            if isinstance(node, BuildingNode):
                return node.node_id
        node_id = self._next_id(Layer.BUILDING)
        self._add(BuildingNode(node_id))
        return node_id

    def _add(self, node: Node) -> None:
        self._nodes[node.node_id] = node
        if isinstance(node, ObjectNode):
            self._objects[node.node_id] = node
            for sid in node.source_ids:
                self._by_source[sid] = node.node_id
            self._label_grid.put(node.node_id, node.label, node.position)

    def _new_object(self, det: ObjectObservation, t: int) -> str:
        node_id = self._next_id(Layer.OBJECT)
        self._add(
            ObjectNode(
                node_id=node_id,
                label=det.label,
                position=det.position,  # type: ignore[arg-type]
                bbox=det.bbox,
                states=dict(det.states),
                attributes=dict(det.attributes),
                first_seen_ns=t,
                last_seen_ns=t,
                source_ids=[det.id_hint] if det.id_hint is not None else [],
                confidence=det.confidence,
                embedding=det.embedding,
            )
        )
        return node_id

    def _changed_shape(self, node: ObjectNode, det: ObjectObservation) -> bool:
        """True when a detection puts its node somewhere else or gives it another box."""
        moved = math.dist(node.position, det.position) > self.move_threshold  # type: ignore[arg-type]
        return moved or (det.bbox is not None and det.bbox != node.bbox)

    def _update_object(self, node: ObjectNode, det: ObjectObservation, t: int, moved: bool) -> None:
        """Merge a detection into its node."""
        node.observation_count += 1
        if t > node.last_seen_ns:
            node.last_seen_ns = t
        elif t < node.first_seen_ns:
            node.first_seen_ns = t
        if det.states and det.states != node.states:
            node.states = {**node.states, **det.states}
        if det.attributes and det.attributes != node.attributes:
            node.attributes = {**node.attributes, **det.attributes}
        if det.embedding is not None:
            node.embedding = det.embedding
        node.confidence = max(node.confidence, det.confidence)
        if det.id_hint is not None and det.id_hint not in node.source_ids:
            node.source_ids.append(det.id_hint)
            self._by_source[det.id_hint] = node.node_id
        if moved:
            node.position = det.position  # type: ignore[assignment]
            if det.bbox is not None:
                node.bbox = det.bbox
            self._label_grid.put(node.node_id, node.label, node.position)

    def _carry(self, shifts: dict[str, Vec3], seen: set[str]) -> list[str]:
        """Move what stood in or on each moved carrier along with it (a drawer slid shut
        takes its contents; a picked-up plate its apple), unless this frame saw it; returns the
        nodes moved. Without this, the contents of a closed drawer are left hanging in the air
        where the open drawer showed them, and lose their container."""
        out: list[str] = []
        for carrier in sorted(shifts):
            shift = shifts[carrier]
            stack = list(self._children.get(carrier, ()))
            while stack:
                node_id = stack.pop()
                if node_id in seen or node_id in shifts:
                    continue
                seen.add(node_id)
                node = self._objects[node_id]
                node.position = _add(node.position, shift)
                if node.bbox is not None:
                    node.bbox = dataclasses.replace(node.bbox, center=_add(node.bbox.center, shift))
                if "aabb" in node.attributes:  # the source's own world box (see relations)
                    lo, hi = node.attributes["aabb"]
                    aabb = [_add(lo, shift), _add(hi, shift)]
                    node.attributes = {**node.attributes, "aabb": aabb}
                self._label_grid.put(node_id, node.label, node.position)
                out.append(node_id)
                stack.extend(self._children.get(node_id, ()))
        return out

    def remove_object(self, node_id: str) -> None:
        """Delete an object node and every edge that touches it."""
        node = self.object(node_id)
        self._set_parent(node_id, None)
        orphans = list(self._children.get(node_id, ()))
        for child in orphans:
            self._set_parent(child, None)
        for other in self._near.pop(node_id, set()):
            self._near[other].discard(node_id)
        self._unlink(node_id)
        for sid in node.source_ids:
            self._by_source.pop(sid, None)
        self._label_grid.remove(node_id)
        self._relation_index().remove(node_id)
        del self._objects[node_id]
        del self._nodes[node_id]
        self._children.pop(node_id, None)
        for child in orphans:
            self._resolve_parent(child)

    # -------------------------------------------------------- edges and layers
    def _link(self, parent: str, child: str) -> None:
        """Set the layer-hierarchy parent of `child`."""
        old = self._container.get(child)
        if old == parent:
            return
        if old is not None:
            self._contains[old].discard(child)
        self._container[child] = parent
        self._contains.setdefault(parent, set()).add(child)

    def _unlink(self, child: str) -> None:
        old = self._container.pop(child, None)
        if old is not None:
            self._contains[old].discard(child)
        for grandchild in self._contains.pop(child, set()):
            self._container.pop(grandchild, None)

    def set_container(self, child: str, parent: str) -> None:
        """Attach a node to its layer-hierarchy parent (e.g. an object to its nearest place)."""
        self.node(child)
        self.node(parent)
        self._link(parent, child)

    def connect(self, a: str, b: str, length: float | None = None) -> None:
        """Add a symmetric `connected_to` edge between two rooms or two places."""
        na, nb = self.node(a), self.node(b)
        if na.layer is not nb.layer or na.layer not in (Layer.ROOM, Layer.PLACE) or a == b:
            raise ValidationError("connect", (a, b), "connects two distinct rooms or two places")
        if length is None:
            pa, pb = getattr(na, "position", None), getattr(nb, "position", None)
            length = math.dist(pa, pb) if pa is not None and pb is not None else 1.0
        self._connected.setdefault(a, {})[b] = float(length)
        self._connected.setdefault(b, {})[a] = float(length)

    def add_place(
        self,
        position: Vec3,
        time_ns: int,
        embedding: tuple[float, ...] | None = None,
        room_id: str | None = None,
    ) -> PlaceNode:
        """Create a place node (the topology room decides when)."""
        node = PlaceNode(self._next_id(Layer.PLACE), position, time_ns, time_ns, 1, embedding)
        self._add(node)
        if room_id is not None:
            self._link(room_id, node.node_id)
        return node

    def _set_parent(self, child: str, parent: tuple[str, str] | None) -> None:
        old = self._parent.get(child)
        if old == parent:
            return
        if old is not None:
            self._children[old[1]].discard(child)
            del self._parent[child]
        if parent is not None:
            self._parent[child] = parent
            self._children.setdefault(parent[1], set()).add(child)

    # ------------------------------------------------------------- relations
    def _refresh_relations(self, touched: dict[str, relations.Body]) -> None:
        """Recompute on/in/near for touched objects and for objects that may rest on them."""
        index = self._relation_index()
        for node_id, body in touched.items():
            if node_id in index.bodies:
                index.remove(node_id)
            index.add(body)
        affected: set[str] = set(touched)
        for node_id, body in touched.items():
            affected |= self._children.get(node_id, set())
            if body.receptacle:
                affected.update(index.dependents(body))
        for node_id in sorted(affected):
            self._resolve_parent(node_id)
        for node_id in touched:
            self._refresh_near(node_id)

    def _resolve_parent(self, node_id: str) -> None:
        index = self._relation_index()
        body = index.bodies[node_id]
        below = self._descendants(node_id)
        self._set_parent(node_id, relations.infer_parent(body, index.candidates_for(body), below))

    def _descendants(self, node_id: str) -> set[str]:
        out, stack = {node_id}, [node_id]
        while stack:
            for child in self._children.get(stack.pop(), ()):
                if child not in out:
                    out.add(child)
                    stack.append(child)
        return out

    def _refresh_near(self, node_id: str) -> None:
        for other in self._near.pop(node_id, set()):
            self._near[other].discard(node_id)
        parent = self._parent.get(node_id)
        related = {parent[1]} if parent else set()
        related |= self._children.get(node_id, set())
        index = self._relation_index()
        found = relations.near_of(index.bodies[node_id], index, related)
        if found:
            self._near[node_id] = set(found)
            for other in found:
                self._near.setdefault(other, set()).add(node_id)

    def rebuild_indexes(self) -> None:
        """Recompute derived indexes after loading: the association grid now, the relation
        index (object geometry) lazily, on the first update that needs it."""
        self._label_grid = LabelGrid(cell=self._label_grid.cell)
        self._by_source.clear()
        for node in self._objects.values():
            self._label_grid.put(node.node_id, node.label, node.position)
            for sid in node.source_ids:
                self._by_source[sid] = node.node_id
        self._index = None

    def _relation_index(self) -> relations.RelationIndex:
        """The relation index over every object's geometry, built on first use after a load."""
        if self._index is None:
            try:
                self._index = relations.RelationIndex(
                    relations.body_from_parts(n.node_id, n.label, n.position, n.bbox, n.attributes)
                    for n in self._objects.values()
                )
            except EmbodmemError as exc:
                raise SnapshotError(
                    f"scene_graph: loaded object geometry is invalid ({exc})"
                ) from None
        return self._index


def _carries(node: ObjectNode) -> bool:
    """Whether what rests in or on `node` moves with it: things that are picked up, and
    openables (a drawer slides; a fridge's position stays put as its door swings)."""
    return bool(node.attributes.get("pickupable") or node.attributes.get("openable"))


def _add(a: Vec3, b: Vec3) -> Vec3:
    return (a[0] + b[0], a[1] + b[1], a[2] + b[2])


def _sub(a: Vec3, b: Vec3) -> Vec3:
    return (a[0] - b[0], a[1] - b[1], a[2] - b[2])
