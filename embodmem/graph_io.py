"""Scene graph <-> versioned node-link dict (JSON-ready), networkx graph, and GraphML.

The dict has a header (`format`, `version`) and is an exact round trip: every float is written
with Python's shortest repr and read back to the same bits. Loading validates everything and
raises `SnapshotError` naming the field.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import networkx as nx

from embodmem import relations
from embodmem import validate as v
from embodmem.errors import EmbodmemError, SnapshotError
from embodmem.nodes import (
    LAYER_OF_SYMBOL,
    SYMBOLS,
    BuildingNode,
    Layer,
    ObjectNode,
    PlaceNode,
    RoomNode,
)
from embodmem.scene_graph import SceneGraph
from embodmem.types import BBox3D

FORMAT = "embodmem.scene_graph"
VERSION = 1
# Versions this reader understands, mapped to the migration that lifts them to VERSION.
COMPATIBLE: dict[int, Any] = {1: None}


def _bbox_to(b: BBox3D | None) -> dict[str, list[float]] | None:
    if b is None:
        return None
    return {"center": list(b.center), "size": list(b.size), "rotation": list(b.rotation)}


def _node_to(node: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"id": node.node_id, "layer": node.layer.value, "label": node.label}
    if isinstance(node, ObjectNode):
        out.update(
            position=list(node.position),
            bbox=_bbox_to(node.bbox),
            states=node.states,
            attributes=node.attributes,
            first_seen_ns=node.first_seen_ns,
            last_seen_ns=node.last_seen_ns,
            observation_count=node.observation_count,
            source_ids=list(node.source_ids),
            confidence=node.confidence,
            embedding=list(node.embedding) if node.embedding is not None else None,
        )
    elif isinstance(node, PlaceNode):
        out.update(
            position=list(node.position),
            first_seen_ns=node.first_seen_ns,
            last_seen_ns=node.last_seen_ns,
            visit_count=node.visit_count,
            embedding=list(node.embedding) if node.embedding is not None else None,
        )
    elif isinstance(node, RoomNode):
        out.update(first_seen_ns=node.first_seen_ns, last_seen_ns=node.last_seen_ns)
    return out


def to_dict(graph: SceneGraph) -> dict[str, Any]:
    """Versioned node-link dict of the whole graph."""
    return {
        "format": FORMAT,
        "version": VERSION,
        "settings": {
            "labels": sorted(graph.labels) if graph.labels is not None else None,
            "association_distance": graph.association_distance,
            "move_threshold": graph.move_threshold,
        },
        "counters": dict(graph._counters),
        "last_room": graph._last_room,
        "nodes": [_node_to(n) for n in graph._nodes.values()],
        "links": [
            {"source": s, "target": t, "kind": k, **attrs}
            for s, t, k, attrs in sorted(graph.iter_edges(), key=lambda e: (e[2], e[0], e[1]))
        ],
    }


def _get(d: Mapping[str, Any], key: str, where: str) -> Any:
    if type(d) is not dict and not isinstance(d, Mapping):
        raise SnapshotError(f"{where}: expected an object, got {type(d).__name__}")
    if key not in d:
        raise SnapshotError(f"{where}.{key}: missing field")
    return d[key]


def check_header(d: Any, fmt: str, compatible: Mapping[int, Any], where: str) -> int:
    """Validate a `format`/`version` header; returns the version."""
    got_fmt = _get(d, "format", where)
    if not isinstance(got_fmt, str) or got_fmt != fmt:
        raise SnapshotError(f"{where}.format={got_fmt!r}: expected {fmt!r}")
    version = _get(d, "version", where)
    if type(version) is not int or version not in compatible:
        raise SnapshotError(
            f"{where}.version={version!r}: unsupported, this reader knows {sorted(compatible)}"
        )
    return int(version)


_NODE_ID = re.compile(r"[BRPO][1-9][0-9]{0,17}\Z")
_LAYER_RANK = {Layer.BUILDING: 0, Layer.ROOM: 1, Layer.PLACE: 2, Layer.OBJECT: 3}
_NODE_KEYS = {
    Layer.OBJECT: {
        "id", "layer", "label", "position", "bbox", "states", "attributes", "first_seen_ns",
        "last_seen_ns", "observation_count", "source_ids", "confidence", "embedding",
    },
    Layer.PLACE: {
        "id", "layer", "label", "position", "first_seen_ns", "last_seen_ns", "visit_count",
        "embedding",
    },
    Layer.ROOM: {"id", "layer", "label", "first_seen_ns", "last_seen_ns"},
    Layer.BUILDING: {"id", "layer", "label"},
}  # fmt: skip


def _mapping(d: Mapping[str, Any], key: str, where: str) -> dict[str, Any]:
    value = _get(d, key, where)
    if not isinstance(value, Mapping):
        raise SnapshotError(f"{where}.{key}: expected an object, got {type(value).__name__}")
    return v.json_mapping(f"{where}.{key}", value)


def _times(d: Mapping[str, Any], where: str) -> tuple[int, int]:
    first = v.time_ns(f"{where}.first_seen_ns", _get(d, "first_seen_ns", where))
    last = v.time_ns(f"{where}.last_seen_ns", _get(d, "last_seen_ns", where))
    if last < first:
        raise SnapshotError(f"{where}.last_seen_ns={last}: before first_seen_ns={first}")
    return first, last


def _embedding(d: Mapping[str, Any], where: str) -> tuple[float, ...] | None:
    emb = _get(d, "embedding", where)
    return None if emb is None else v.vector(f"{where}.embedding", emb)


def bbox_from(d: Any, where: str) -> BBox3D | None:
    """A box from its snapshot form ({center, size, rotation}) or None."""
    if d is None:
        return None
    return BBox3D(
        v.vec3(f"{where}.center", _get(d, "center", where)),
        v.vec3(f"{where}.size", _get(d, "size", where)),
        v.quaternion(f"{where}.rotation", _get(d, "rotation", where)),
    )


def _node_from(d: Any, where: str) -> Any:
    if not isinstance(d, Mapping):
        raise SnapshotError(f"{where}: expected an object, got {type(d).__name__}")
    layer_name = _get(d, "layer", where)
    if layer_name not in tuple(Layer):
        raise SnapshotError(f"{where}.layer={layer_name!r}: expected one of {list(Layer)}")
    layer = Layer(layer_name)
    extra = set(d) - _NODE_KEYS[layer]
    if extra:
        raise SnapshotError(f"{where}: unknown fields {sorted(map(str, extra))}")
    node_id = _get(d, "id", where)
    if not isinstance(node_id, str) or not _NODE_ID.match(node_id):
        raise SnapshotError(f"{where}.id={node_id!r}: expected a typed id like O12")
    if LAYER_OF_SYMBOL[node_id[0]] is not layer:
        raise SnapshotError(f"{where}.id={node_id!r}: wrong layer symbol for {layer.value}")
    label = v.nonempty_str(f"{where}.label", _get(d, "label", where))
    if layer is Layer.OBJECT:
        attributes = _mapping(d, "attributes", where)
        relations.check_attributes(attributes)
        confidence = v.finite_float(f"{where}.confidence", _get(d, "confidence", where))
        if not 0.0 <= confidence <= 1.0:
            raise SnapshotError(f"{where}.confidence={confidence}: must be in [0, 1]")
        first, last = _times(d, where)
        return ObjectNode(
            node_id=node_id,
            label=label,
            position=v.vec3(f"{where}.position", _get(d, "position", where)),
            bbox=bbox_from(_get(d, "bbox", where), f"{where}.bbox"),
            states=_mapping(d, "states", where),
            attributes=attributes,
            first_seen_ns=first,
            last_seen_ns=last,
            observation_count=v.int64(
                f"{where}.observation_count", _get(d, "observation_count", where), 1
            ),
            source_ids=v.str_list(f"{where}.source_ids", _get(d, "source_ids", where)),
            confidence=confidence,
            embedding=_embedding(d, where),
        )
    if layer is Layer.PLACE:
        first, last = _times(d, where)
        return PlaceNode(
            node_id=node_id,
            position=v.vec3(f"{where}.position", _get(d, "position", where)),
            first_seen_ns=first,
            last_seen_ns=last,
            visit_count=v.int64(f"{where}.visit_count", _get(d, "visit_count", where), 1),
            embedding=_embedding(d, where),
            label=label,
        )
    if layer is Layer.ROOM:
        return RoomNode(node_id, label, *_times(d, where))
    return BuildingNode(node_id, label)


def from_dict(d: Any) -> SceneGraph:
    """Rebuild a graph from `to_dict` output; raises `SnapshotError` naming the field on any
    defect, so that a graph that loads can always be queried, updated and saved."""
    check_header(d, FORMAT, COMPATIBLE, "scene_graph")
    try:
        settings = _get(d, "settings", "scene_graph")
        labels = _get(settings, "labels", "scene_graph.settings")
        graph = SceneGraph(
            labels=None if labels is None else v.str_list("scene_graph.settings.labels", labels),
            association_distance=_positive(settings, "association_distance"),
            move_threshold=_positive(settings, "move_threshold"),
        )
        nodes = _get(d, "nodes", "scene_graph")
        if not isinstance(nodes, list):
            raise SnapshotError("scene_graph.nodes: expected a list")
        for i, nd in enumerate(nodes):
            _add_node(graph, _node_from(nd, f"scene_graph.nodes[{i}]"), f"scene_graph.nodes[{i}]")
        links = _get(d, "links", "scene_graph")
        if not isinstance(links, list):
            raise SnapshotError("scene_graph.links: expected a list")
        for i, link in enumerate(links):
            _add_link(graph, link, f"scene_graph.links[{i}]")
        _check_support_cycles(graph)
        graph._counters.update(_counters(graph, _get(d, "counters", "scene_graph")))
        last_room = d.get("last_room")
        if last_room is not None and not isinstance(graph._nodes.get(last_room), RoomNode):
            raise SnapshotError(f"scene_graph.last_room={last_room!r}: not a room node")
        graph._last_room = last_room
        graph._rooms_by_label = {n.label: n.node_id for n in graph.rooms()}
        graph.rebuild_indexes()
    except SnapshotError:
        raise
    except (EmbodmemError, LookupError, TypeError, ValueError, ArithmeticError) as exc:
        raise SnapshotError(f"scene_graph: malformed snapshot ({exc})") from None
    return graph


def _positive(settings: Any, key: str) -> float:
    value = v.finite_float(f"scene_graph.settings.{key}", settings[key], v.MAX_COORDINATE)
    if value <= 0:
        raise SnapshotError(f"scene_graph.settings.{key}={value}: must be > 0")
    return value


def _add_node(graph: SceneGraph, node: Any, where: str) -> None:
    """Add a loaded node, refusing what would make the graph ambiguous."""
    if node.node_id in graph._nodes:
        raise SnapshotError(f"{where}.id={node.node_id!r}: duplicated")
    if isinstance(node, ObjectNode):
        if graph.labels is not None and node.label not in graph.labels:
            raise SnapshotError(f"{where}.label={node.label!r}: not in the graph's label set")
        for sid in node.source_ids:
            if graph.object_by_source(sid) is not None or node.source_ids.count(sid) > 1:
                raise SnapshotError(f"{where}.source_ids: {sid!r} names two objects")
    if isinstance(node, RoomNode) and any(r.label == node.label for r in graph.rooms()):
        raise SnapshotError(f"{where}.label={node.label!r}: two rooms with one label")
    graph._add(node)


def _counters(graph: SceneGraph, counters: Any) -> dict[str, int]:
    """Id counters, each at least the largest id in use (so new ids never collide)."""
    if not isinstance(counters, Mapping) or set(counters) != set(SYMBOLS.values()):
        raise SnapshotError(f"scene_graph.counters: expected keys {sorted(SYMBOLS.values())}")
    out = {k: v.int64(f"scene_graph.counters.{k}", n, 0) for k, n in counters.items()}
    for node_id in graph._nodes:
        if int(node_id[1:]) > out[node_id[0]]:
            raise SnapshotError(
                f"scene_graph.counters.{node_id[0]}={out[node_id[0]]}: below node {node_id}"
            )
    return out


def _add_link(graph: SceneGraph, link: Any, where: str) -> None:
    s, t, kind = _get(link, "source", where), _get(link, "target", where), _get(link, "kind", where)
    extra = set(link) - {"source", "target", "kind", "length"}
    if extra or (kind != "connected_to" and "length" in link):
        raise SnapshotError(f"{where}: unknown fields {sorted(map(str, extra or {'length'}))}")
    for end in (s, t):
        if not isinstance(end, str) or end not in graph._nodes:
            raise SnapshotError(f"{where}: endpoint {end!r} is not a node")
    if s == t:
        raise SnapshotError(f"{where}: a {kind!r} edge from {s!r} to itself")
    layers = (graph._nodes[s].layer, graph._nodes[t].layer)
    if kind in ("on", "in", "near") and layers != (Layer.OBJECT, Layer.OBJECT):
        raise SnapshotError(f"{where}: {kind!r} joins two objects, not {layers}")
    if kind in ("on", "in"):
        if s in graph._parent:
            raise SnapshotError(f"{where}: {s!r} has two supports")
        graph._set_parent(s, (kind, t))
    elif kind == "near":
        graph._near.setdefault(s, set()).add(t)
        graph._near.setdefault(t, set()).add(s)
    elif kind == "contains":
        if _LAYER_RANK[layers[0]] >= _LAYER_RANK[layers[1]]:
            raise SnapshotError(f"{where}: {s!r} cannot contain {t!r} (layers {layers})")
        if t in graph._container:
            raise SnapshotError(f"{where}: {t!r} has two containers")
        graph._link(s, t)
    elif kind == "connected_to":
        if layers[0] is not layers[1] or layers[0] not in (Layer.ROOM, Layer.PLACE):
            raise SnapshotError(f"{where}: connected_to joins two rooms or two places")
        length = v.finite_float(f"{where}.length", link.get("length", 1.0), v.MAX_COORDINATE)
        if length < 0:
            raise SnapshotError(f"{where}.length={length}: must be >= 0")
        graph._connected.setdefault(s, {})[t] = length
        graph._connected.setdefault(t, {})[s] = length
    else:
        raise SnapshotError(f"{where}.kind={kind!r}: unknown relation kind")


def _check_support_cycles(graph: SceneGraph) -> None:
    """An object cannot (transitively) rest on itself."""
    done: set[str] = set()
    for start in graph._parent:
        path: list[str] = []
        node: str | None = start
        while node is not None and node not in done:
            if node in path:
                raise SnapshotError(f"scene_graph.links: on/in cycle through {node!r}")
            path.append(node)
            parent = graph._parent.get(node)
            node = parent[1] if parent else None
        done.update(path)


def to_networkx(graph: SceneGraph) -> nx.MultiDiGraph:
    """A networkx MultiDiGraph view (copy) with scalar attributes, for algorithms and export."""
    g = nx.MultiDiGraph()
    for node in graph._nodes.values():
        attrs = {
            k: (json.dumps(v) if isinstance(v, (dict, list)) else v)
            for k, v in _node_to(node).items()
            if k != "id" and v is not None
        }
        g.add_node(node.node_id, **attrs)
    for s, t, k, attrs in graph.iter_edges():
        g.add_edge(s, t, key=k, kind=k, **attrs)
    return g


def write_graphml(graph: SceneGraph, path: str | Path, force: bool = False) -> Path:
    """Export the graph as GraphML (lists and dicts JSON-encoded as strings), written
    atomically; an existing file that is not GraphML is replaced only with `force`."""
    from embodmem.store import atomic_write, check_target

    path = check_target(path, force, kind="graphml")
    text = "\n".join(
        ['<?xml version="1.0" encoding="utf-8"?>', *nx.generate_graphml(to_networkx(graph))]
    )
    atomic_write(path, text.encode("utf-8"))
    return path
