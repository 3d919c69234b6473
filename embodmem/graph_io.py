"""Scene graph <-> versioned node-link dict (JSON-ready), networkx graph, and GraphML.

The dict has a header (`format`, `version`) and is an exact round trip: every float is written
with Python's shortest repr and read back to the same bits. Loading validates everything and
raises `SnapshotError` naming the field.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import networkx as nx

from embodmem.errors import EmbodmemError, SnapshotError
from embodmem.nodes import LAYER_OF_SYMBOL, BuildingNode, Layer, ObjectNode, PlaceNode, RoomNode
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
    if not isinstance(d, Mapping):
        raise SnapshotError(f"{where}: expected an object, got {type(d).__name__}")
    if key not in d:
        raise SnapshotError(f"{where}.{key}: missing field")
    return d[key]


def check_header(d: Any, fmt: str, compatible: Mapping[int, Any], where: str) -> int:
    """Validate a `format`/`version` header; returns the version."""
    got_fmt = _get(d, "format", where)
    if got_fmt != fmt:
        raise SnapshotError(f"{where}.format={got_fmt!r}: expected {fmt!r}")
    version = _get(d, "version", where)
    if version not in compatible:
        raise SnapshotError(
            f"{where}.version={version!r}: unsupported, this reader knows {sorted(compatible)}"
        )
    return int(version)


def _node_from(d: Mapping[str, Any], where: str) -> Any:
    layer = Layer(_get(d, "layer", where))
    node_id = _get(d, "id", where)
    label = _get(d, "label", where)
    if layer is Layer.OBJECT:
        bbox_d = _get(d, "bbox", where)
        bbox = None
        if bbox_d is not None:
            bbox = BBox3D(
                tuple(_get(bbox_d, "center", f"{where}.bbox")),  # type: ignore[arg-type]
                tuple(_get(bbox_d, "size", f"{where}.bbox")),  # type: ignore[arg-type]
                tuple(_get(bbox_d, "rotation", f"{where}.bbox")),  # type: ignore[arg-type]
            )
        emb = _get(d, "embedding", where)
        return ObjectNode(
            node_id=node_id,
            label=label,
            position=tuple(_get(d, "position", where)),  # type: ignore[arg-type]
            bbox=bbox,
            states=dict(_get(d, "states", where)),
            attributes=dict(_get(d, "attributes", where)),
            first_seen_ns=int(_get(d, "first_seen_ns", where)),
            last_seen_ns=int(_get(d, "last_seen_ns", where)),
            observation_count=int(_get(d, "observation_count", where)),
            source_ids=list(_get(d, "source_ids", where)),
            confidence=float(_get(d, "confidence", where)),
            embedding=tuple(emb) if emb is not None else None,
        )
    if layer is Layer.PLACE:
        emb = _get(d, "embedding", where)
        return PlaceNode(
            node_id=node_id,
            position=tuple(_get(d, "position", where)),  # type: ignore[arg-type]
            first_seen_ns=int(_get(d, "first_seen_ns", where)),
            last_seen_ns=int(_get(d, "last_seen_ns", where)),
            visit_count=int(_get(d, "visit_count", where)),
            embedding=tuple(emb) if emb is not None else None,
        )
    if layer is Layer.ROOM:
        return RoomNode(
            node_id,
            label,
            int(_get(d, "first_seen_ns", where)),
            int(_get(d, "last_seen_ns", where)),
        )
    return BuildingNode(node_id, label)


def from_dict(d: Any) -> SceneGraph:
    """Rebuild a graph from `to_dict` output; raises `SnapshotError` on any defect."""
    check_header(d, FORMAT, COMPATIBLE, "scene_graph")
    try:
        settings = _get(d, "settings", "scene_graph")
        graph = SceneGraph(
            labels=settings["labels"],
            association_distance=settings["association_distance"],
            move_threshold=settings["move_threshold"],
        )
        for i, nd in enumerate(_get(d, "nodes", "scene_graph")):
            node = _node_from(nd, f"scene_graph.nodes[{i}]")
            if node.node_id in graph._nodes:
                raise SnapshotError(f"scene_graph.nodes[{i}].id={node.node_id!r}: duplicated")
            if LAYER_OF_SYMBOL.get(node.node_id[:1]) is not node.layer:
                raise SnapshotError(
                    f"scene_graph.nodes[{i}].id={node.node_id!r}: wrong layer symbol"
                )
            graph._add(node)
        for i, link in enumerate(_get(d, "links", "scene_graph")):
            _add_link(graph, link, f"scene_graph.links[{i}]")
        graph._counters.update({k: int(v) for k, v in _get(d, "counters", "scene_graph").items()})
        graph._last_room = d.get("last_room")
        graph._rooms_by_label = {n.label: n.node_id for n in graph.rooms()}
        graph.rebuild_indexes()
    except SnapshotError:
        raise
    except (EmbodmemError, KeyError, TypeError, ValueError) as exc:
        raise SnapshotError(f"scene_graph: malformed snapshot ({exc})") from None
    return graph


def _add_link(graph: SceneGraph, link: Mapping[str, Any], where: str) -> None:
    s, t, kind = _get(link, "source", where), _get(link, "target", where), _get(link, "kind", where)
    for end in (s, t):
        if end not in graph._nodes:
            raise SnapshotError(f"{where}: endpoint {end!r} is not a node")
    if kind in ("on", "in"):
        graph._set_parent(s, (kind, t))
    elif kind == "near":
        graph._near.setdefault(s, set()).add(t)
        graph._near.setdefault(t, set()).add(s)
    elif kind == "contains":
        graph._link(s, t)
    elif kind == "connected_to":
        length = float(link.get("length", 1.0))
        graph._connected.setdefault(s, {})[t] = length
        graph._connected.setdefault(t, {})[s] = length
    else:
        raise SnapshotError(f"{where}.kind={kind!r}: unknown relation kind")


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


def write_graphml(graph: SceneGraph, path: str | Path) -> Path:
    """Export the graph as GraphML (lists and dicts JSON-encoded as strings)."""
    path = Path(path)
    nx.write_graphml(to_networkx(graph), path)
    return path
