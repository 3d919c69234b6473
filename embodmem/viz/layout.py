"""What both renderers share: where each node is drawn, edge and box line segments, and the
one-line summary and time wording.

Objects and places are drawn at their positions; rooms and the building (which the memory
places nowhere) above the scene, at the centre of what they contain. An exploded view
(Hydra-style) lifts each layer by `explode` metres per `LayerStyle.level`, so the layers stack
apart; objects, their boxes and the occupancy stay where they are (level 0). Segments are built
with numpy over all boxes or edges of a kind at once.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import shapely

from embodmem.viz.style import LAYERS

CUT_HEIGHT = 2.0  # m above the floor: occupancy higher up (a ceiling) would hide the room below
HIERARCHY_GAP = 0.6  # m between the scene's top and the room layer, and room to building
# Corner pairs of a box's 12 edges (corner index = 4 x_sign + 2 y_sign + z_sign, as in
# `BBox3D.corners`): pairs that differ in one sign.
BOX_EDGES = np.array([(i, i | bit) for bit in (1, 2, 4) for i in range(8) if not i & bit])


def display_positions(data: dict[str, Any], explode: float = 0.0) -> dict[str, np.ndarray]:
    """Node id -> drawn position (3,) for the scene data's nodes."""
    nodes = data["nodes"]
    tops = [n["bbox"]["center"][2] + n["bbox"]["size"][2] / 2 for n in nodes if n.get("bbox")]
    tops += [n["position"][2] for n in nodes if n["layer"] in ("object", "place")]
    top = max(tops, default=0.0)
    out = {}
    for n in nodes:
        level = LAYERS[n["layer"]].level
        p = np.array(n["position"], dtype=float)
        if n["layer"] in ("room", "building"):
            p[2] = top + HIERARCHY_GAP * (level - 1)
        p[2] += explode * level
        out[n["id"]] = p
    return out


def extent(data: dict[str, Any], positions: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(lo, hi) corners of everything drawn: nodes at their drawn positions and voxels."""
    pts = list(positions.values())
    vox = data["voxels"]
    if vox["shown"]:
        xyz = (vox["x"], vox["y"], vox["z"])
        pts += [np.array([min(c) for c in xyz]), np.array([max(c) for c in xyz])]
    every = np.array(pts) if pts else np.zeros((1, 3))
    return every.min(axis=0), every.max(axis=0)


def cut_height(z: np.ndarray) -> float:
    """Height of the plan cut: `CUT_HEIGHT` above the floor (the lowest percent of voxels)."""
    return float(np.percentile(z, 1)) + CUT_HEIGHT if len(z) else float("inf")


def edge_segments(data: dict[str, Any], positions: dict[str, np.ndarray], kind: str) -> np.ndarray:
    """(M, 2, 3) end points of the edges of one kind."""
    pairs = [(e["source"], e["target"]) for e in data["edges"] if e["type"] == kind]
    if not pairs:
        return np.empty((0, 2, 3))
    return np.array([(positions[a], positions[b]) for a, b in pairs])


def box_segments(nodes: list[dict[str, Any]]) -> np.ndarray:
    """(12 M, 2, 3) edges of the oriented boxes of the given object records."""
    corners = np.array([n["bbox"]["corners"] for n in nodes if n.get("bbox")], dtype=float)
    if not len(corners):
        return np.empty((0, 2, 3))
    return corners[:, BOX_EDGES].reshape(-1, 2, 3)


def polyline(segments: np.ndarray) -> tuple[list, list, list]:
    """x, y, z lists of segments joined with gaps (None), as plotly draws many lines in one
    trace."""
    if not len(segments):
        return [], [], []
    gaps = np.full((len(segments), 1, 3), np.nan)
    pts = np.concatenate([segments, gaps], axis=1).reshape(-1, 3).round(4)
    x, y, z = (np.where(np.isnan(c), None, c).tolist() for c in pts.T)
    return x, y, z


def footprint(corners: list[list[float]]) -> np.ndarray:
    """(K, 2) convex outline of a box seen from above (its 8 corners projected on the floor);
    the bounding rectangle when the box is flat from above."""
    hull = shapely.MultiPoint(np.asarray(corners, dtype=float)[:, :2]).convex_hull
    if isinstance(hull, shapely.Polygon):
        return np.asarray(hull.exterior.coords)[:-1]
    x0, y0, x1, y1 = hull.bounds
    return np.array([(x0, y0), (x1, y0), (x1, y1), (x0, y1)])


def time_text(ns: int | None) -> str:
    """A memory time for people: seconds when the clock is in real nanoseconds, else ticks."""
    if ns is None:
        return "never"
    return f"{ns / 1e9:.2f} s" if abs(ns) >= 10**6 else f"t={ns}"


def _count(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def summary_facts(data: dict[str, Any]) -> list[str]:
    """The memory's sizes in words ("135 objects", "1 room", ...)."""
    s = data["stats"]
    rel = s["relations"]
    return [
        _count(s["objects"], "object"),
        _count(s["places"], "place"),
        _count(s["rooms"], "room"),
        f"{rel['on'] + rel['in']:,} on/in, {rel['near']:,} near",
        _count(s["voxels"], "voxel"),
        _count(s["observations"], "observation"),
        f"last at {time_text(data['last_time_ns'])}",
    ]
