"""One memory state as plain JSON-ready dicts: what every picture of the memory draws.

`scene_data(memory)` reads an `EmbodiedMemory` and returns lists and dicts only (no numpy, no
memory objects), so the same record feeds the HTML page, the PNG, a test, or one frame of an
episode playback (a list of these, one per recorded memory state). Positions are world metres
(z up); times are the memory's integer nanoseconds.

What a snapshot does not hold is said, not invented: the memory keeps the agent's last pose and
the places graph (where it went and in which order places were joined), not a pose trajectory,
so `agent.trajectory` is always None and `notes` says so.
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING, Any

import numpy as np

from embodmem import lexicon
from embodmem.nodes import ObjectNode, PlaceNode, RoomNode
from embodmem.octree import DEPTH, Octree
from embodmem.scene_graph import SceneGraph
from embodmem.types import StateChange
from embodmem.viz.style import active_states, category_of

if TYPE_CHECKING:
    from embodmem.experience import ExperienceMemory
    from embodmem.memory import EmbodiedMemory

FORMAT = "embodmem.viz.scene"
VERSION = 1
DEFAULT_MAX_VOXELS = 200_000
HISTORY_PER_NODE = 8  # most recent short-term changes kept in each node's record
DECIMALS = 4  # coordinates are rounded to 0.1 mm: smaller pages, nothing visible lost


def scene_data(
    memory: EmbodiedMemory,
    max_voxels: int = DEFAULT_MAX_VOXELS,
    query: str | None = None,
    k: int = 10,
) -> dict[str, Any]:
    """Everything a picture of `memory` shows, as plain dicts; `query` adds the hits of
    `memory.query(text=query, k=k)` (run last: a query counts as short-term lookups)."""
    changes = memory.short_term.changes()
    out: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "observations": memory.observations,
        "last_time_ns": memory.last_time_ns,
        "stats": memory.stats(),
        "nodes": node_records(memory, changes),
        "edges": edge_records(memory.scene_graph),
        "voxels": voxel_cloud(memory.octree, max_voxels),
        "agent": agent_record(memory),
        "changes": [change_record(c) for c in changes],
        "experience": experience_records(memory.experience),
        "notes": [
            "Snapshots keep the agent's last pose and the places graph, not its trajectory: "
            "connected places show where it went."
        ],
        "query": None,
    }
    if query is not None:
        out["query"] = query_record(memory, query, k)
    return out


def _xyz(p: Any) -> list[float]:
    return [round(float(c), DECIMALS) for c in p]


def change_record(c: StateChange) -> dict[str, Any]:
    """One short-term state change (what changed, from what to what, when, after which action)."""
    return {
        "time_ns": c.time_ns,
        "node_id": c.node_id,
        "label": c.label,
        "source_id": c.source_id,
        "field": c.field,
        "before": c.before,
        "after": c.after,
        "cause": c.cause,
    }


def node_records(memory: EmbodiedMemory, changes: list[StateChange]) -> list[dict[str, Any]]:
    """Every scene-graph node: objects with box, states, badges, attributes, evidence times
    and recent history; places; rooms and the building at the centre of what they contain."""
    g = memory.scene_graph
    history: dict[str, list[StateChange]] = defaultdict(list)
    for c in changes:
        history[c.node_id].append(c)
    out: list[dict[str, Any]] = []
    for node in g.nodes():
        if isinstance(node, ObjectNode):
            out.append(_object_record(memory, node, history.get(node.node_id, [])))
        elif isinstance(node, PlaceNode):
            out.append(
                {
                    "id": node.node_id,
                    "layer": "place",
                    "label": node.label,
                    "position": _xyz(node.position),
                    "first_seen_ns": node.first_seen_ns,
                    "last_seen_ns": node.last_seen_ns,
                    "visit_count": node.visit_count,
                    "current": node.node_id == memory.topology.current,
                }
            )
        else:
            times = (
                {"first_seen_ns": node.first_seen_ns, "last_seen_ns": node.last_seen_ns}
                if isinstance(node, RoomNode)
                else {}
            )
            out.append(
                {"id": node.node_id, "layer": node.layer.value, "label": node.label, **times}
            )
    _place_hierarchy(g, out)
    return out


def _object_record(
    memory: EmbodiedMemory, node: ObjectNode, history: list[StateChange]
) -> dict[str, Any]:
    g, st = memory.scene_graph, memory.short_term
    buffered = st.entry(node.node_id)  # the freshest states (pending consolidation included)
    states = dict(buffered.states if buffered is not None else node.states)
    ev = st.evidence(node.node_id)
    support = g.parent(node.node_id)
    box = node.bbox
    return {
        "id": node.node_id,
        "layer": "object",
        "label": node.label,
        "category": category_of(lexicon.categories(node.label)),
        "source_id": node.source_id,
        "position": _xyz(node.position),
        "bbox": None
        if box is None
        else {
            "center": _xyz(box.center),
            "size": _xyz(box.size),
            "rotation": [float(q) for q in box.rotation],
            "corners": [_xyz(c) for c in box.corners()],
        },
        "states": states,
        "badges": active_states(states, node.attributes),
        "attributes": dict(node.attributes),
        "support": None if support is None else {"kind": support[0], "id": support[1]},
        "first_seen_ns": ev.first_seen_ns,
        "last_seen_ns": ev.last_seen_ns,
        "last_changed_ns": ev.last_changed_ns,
        "last_absent_ns": ev.last_absent_ns,
        "observation_count": node.observation_count,
        "confidence": node.confidence,
        "buffered": buffered is not None,
        "history": [change_record(c) for c in history[-HISTORY_PER_NODE:]],
        "changes_total": len(history),
    }


def _place_hierarchy(g: SceneGraph, records: list[dict[str, Any]]) -> None:
    """Give rooms the centre of the objects and places they contain (through any depth) and
    the building the centre of its rooms; marked `derived` (the memory stores no position)."""
    parent = {c: p for p, _, c in g.relations("contains")}
    by_id = {r["id"]: r for r in records}
    sums: dict[str, list[np.ndarray]] = defaultdict(list)
    for r in records:
        if "position" not in r:
            continue
        up = parent.get(r["id"])
        while up is not None and by_id[up]["layer"] not in ("room", "building"):
            up = parent.get(up)
        if up is not None:
            sums[up].append(np.asarray(r["position"]))
    everything = [np.asarray(r["position"]) for r in records if "position" in r]
    for layer in ("room", "building"):
        for r in records:
            if r["layer"] != layer:
                continue
            if layer == "building":
                sums[r["id"]] += [np.asarray(by_id[c]["position"]) for c in g.contents(r["id"])]
            pts = sums.get(r["id"]) or everything
            r["position"] = _xyz(np.mean(pts, axis=0)) if pts else [0.0, 0.0, 0.0]
            r["derived"] = True


def edge_records(g: SceneGraph) -> list[dict[str, Any]]:
    """Every scene-graph edge: on / in (object -> support), near, contains (layer hierarchy,
    parent -> child), connected_to (places, rooms; with the traversal length)."""
    out = []
    for a, b, kind, attrs in g.iter_edges():
        rec: dict[str, Any] = {"source": a, "target": b, "type": kind}
        if "length" in attrs and attrs["length"] is not None:
            rec["length"] = round(float(attrs["length"]), DECIMALS)
        out.append(rec)
    return out


def voxel_cloud(octree: Octree, max_voxels: int = DEFAULT_MAX_VOXELS) -> dict[str, Any]:
    """Occupied voxel centres, at most `max_voxels`: the leaves when they fit, else the finest
    octree level whose occupied cells fit (level of detail: each cell stands for the `count`
    occupied leaves inside it). Object ids are given at the leaf level only."""
    total = len(octree)
    depth, size = DEPTH, octree.resolution
    counts: np.ndarray | None = None
    objects: list[int] | None = None
    if max_voxels <= 0 or total == 0:
        centres = np.empty((0, 3))
    elif total <= max_voxels:
        centres, ids = octree.occupied_voxels()
        objects = ids.tolist()
    else:
        for depth in range(DEPTH - 1, -1, -1):
            keys, counts = octree.level_keys(depth)
            if len(keys) <= max_voxels:
                break
        centres = octree.cell_centres(keys, depth)
        size = octree.resolution * 2 ** (DEPTH - depth)
    x, y, z = np.round(centres, DECIMALS).T.tolist() if len(centres) else ([], [], [])
    return {
        "total": total,
        "shown": len(x),
        "depth": depth,
        "leaf_depth": DEPTH,
        "cell_size": size,
        "x": x,
        "y": y,
        "z": z,
        "count": counts.tolist() if counts is not None else None,
        "object": objects,
    }


def agent_record(memory: EmbodiedMemory) -> dict[str, Any]:
    """The agent's last pose (when an observation carried one) and current place."""
    pose = memory.short_term.last_pose
    return {
        "last_pose": None
        if pose is None
        else {"position": _xyz(pose.position), "yaw": round(pose.yaw, DECIMALS)},
        "current_place": memory.topology.current,
        "trajectory": None,
    }


def experience_records(experience: ExperienceMemory) -> dict[str, Any]:
    """Past episodes (oldest first) and the learned where-is-T-found priors of every type
    that was found in them."""
    types = sorted({row[0] for e in experience.episodes for row in e.found if row[0]})
    return {
        "episodes": [e.to_dict() for e in experience.episodes],
        "priors": [
            {
                "type": t,
                "receptacles": [[r, round(p, DECIMALS)] for r, p in experience.priors(t)],
                "rooms": [[r, round(p, DECIMALS)] for r, p in experience.priors(t, by="room")],
            }
            for t in types
        ],
    }


def query_record(memory: EmbodiedMemory, text: str, k: int = 10) -> dict[str, Any]:
    """Hits of a text query, best first, with their scores and why they matched."""
    hits = memory.query(text=text, k=k)
    return {
        "text": text,
        "hits": [
            {
                "rank": i,
                "node_id": h.node_id,
                "label": h.label,
                "score": round(h.score, DECIMALS),
                "why": list(h.why),
            }
            for i, h in enumerate(hits, 1)
        ],
    }
