"""Geometric relations between objects: `on` / `in` (an object -> its direct support or
container) and `near`, inferred from boxes alone, never copied from a simulator's ground truth.

A `Body` is the frozen geometry of one object node; `RelationIndex` is a uniform xy grid over
bodies, so a parent search only looks at the few bodies whose footprint cells the child's share.

Parent rule (`infer_parent`), strongest evidence first:
1. Surfaces whose box top meets the child's bottom (from SINK_TOL below to LIFT_TOL above it),
   with the child reaching above that top, footprints overlapping by half the smaller one and
   the child's footprint centre over the surface (else it would tip over). The highest top wins;
   tops within TOP_TIE of it go to the smaller footprint (two slabs cannot overlap: an L-shaped
   counter's box also covers the sink or island in its corner). That surface competes with the
   containers ("in" receptacles) holding most of the child's box: the smallest body wins (the
   plate on the table, the bowl in the cabinet, the drawer in the dresser).
2. Other receptacles holding most of the child's box: seats, beds, shelves, whose surface lies
   inside their box. Parts (fixed bodies mostly inside another) beat their whole, then the one
   under more of the child, then the bigger footprint (a chair pushed under a desk intrudes).
3. Receptacles at least as big as the child that it only partly rests on, hangs from (a towel
   on its holder) or partly sits in (a sponge sunk into a sink basin's box).
A fixed (not movable) body may only be a part of a movable one (a shelf of a shelving unit),
never rest on or in it (a burner is not in the pan on it). `infer_relations` breaks the rare
cycles left by degenerate boxes. The tolerances are calibrated on physics-settled AI2-THOR
scenes (objects rest within a few mm of their support; mesh boxes dip up to 8 cm into slabs
and seats); `experiments/relation_accuracy.py --sweep` shows the accuracy is flat around them.

`near` (`near_of`): footprint boxes at most NEAR_GAP apart in xy, height bands at most NEAR_BAND
apart, neither footprint box inside the other's, not child and parent; each body keeps its
NEAR_K nearest, so the graph stays sparse.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
from shapely.geometry import Polygon, box

from embodmem.errors import ValidationError
from embodmem.types import BBox3D, ObjectObservation, quat_to_matrix
from embodmem.validate import MAX_COORDINATE

# Vertical tolerances (m) of a resting contact: the child's bottom may sit SINK_TOL below a
# support's box top (meshes dip into slabs, seats, basins) or LIFT_TOL above it.
SINK_TOL = 0.08
LIFT_TOL = 0.01
# Support tops within this height (m) of the highest one are the same surface level.
TOP_TIE = 0.015
# Overlap needed: of the smaller footprint for a support, of the child's box for a holder, of
# the child's footprint for a partial (weak) support.
MIN_SUPPORT_COVER = 0.5
MIN_INSIDE_FRACTION = 0.5
MIN_WEAK_COVER = 0.1
# Fraction of a fixed body's box inside another's that makes it a part of that one.
PART_FRACTION = 0.5
# Footprints are padded to at least this half-width (m) so that every one has an area.
MIN_HALF = 0.005
# An oriented footprint sticking out of the source's own bounds by less than this (m) is
# numerical disagreement between two boxes of the same object, not worth a polygon clip.
CLIP_TOL = 0.005
# Grid cell size (m) of the xy prefilter.
CELL = 1.0
# `near`: footprint boxes within NEAR_GAP (m) in xy and NEAR_BAND (m) in height, each body
# keeping its NEAR_K nearest.
NEAR_GAP = 0.5
NEAR_BAND = 0.3
NEAR_K = 3
# Labels (lower case, letters and digits only) that hold things inside them, for sources that
# give no receptacle attributes, or THOR receptacles with no placement mode.
CONTAINER_LABELS = frozenset(
    {
        "basket",
        "bathtubbasin",
        "bin",
        "bowl",
        "box",
        "bucket",
        "cabinet",
        "cup",
        "drawer",
        "fridge",
        "garbagecan",
        "laundryhamper",
        "microwave",
        "mug",
        "oven",
        "pan",
        "pot",
        "refrigerator",
        "safe",
        "sink",
        "sinkbasin",
        "trashcan",
        "vase",
    }
)
Parent = tuple[str, str]


class RelationError(ValidationError):
    """A body or relation input is malformed (bad bounds, bad attribute, unknown key)."""


@dataclass(frozen=True, slots=True, eq=False)
class Body:
    """Geometry and affordances of one object node, precomputed for relation inference.

    Build it with `make_body` or `body_from_object` (arrays are read-only; bodies compare by
    identity). `bounds` repeats lo/hi as plain floats (x0, y0, z0, x1, y1, z1) for the hot
    path; `footprint` is the xy shadow of an oriented box, or None when that shadow is the
    bounds rectangle itself (`aligned`: overlaps need no clipping; see `footprint_polygon`);
    `centre` is the footprint's centroid.
    """

    key: str
    label: str
    lo: np.ndarray
    hi: np.ndarray
    corners: np.ndarray | None
    receptacle: bool
    receptacle_mode: str | None
    openable: bool
    movable: bool
    footprint: Polygon | None
    aligned: bool
    bounds: tuple[float, float, float, float, float, float]
    centre: tuple[float, float]
    area: float
    volume: float


def make_body(
    key: str,
    label: str,
    lo: Sequence[float],
    hi: Sequence[float],
    corners: Any = None,
    receptacle: bool = True,
    receptacle_mode: str | None = None,
    openable: bool = False,
    movable: bool = False,
) -> Body:
    """A `Body` from world bounds (and the oriented box's corners, if any)."""
    if not isinstance(key, str) or not key:
        raise RelationError("body.key", key, "expected a non-empty string")
    if not isinstance(label, str) or not label:
        raise RelationError("body.label", label, "expected a non-empty string")
    if receptacle_mode not in ("in", "on", None):
        raise RelationError("body.receptacle_mode", receptacle_mode, "expected 'in', 'on' or None")
    # Plain floats: for a handful of numbers, Python arithmetic beats numpy's per-call cost.
    try:
        x0, y0, z0 = (float(v) for v in lo)
        x1, y1, z1 = (float(v) for v in hi)
    except (TypeError, ValueError):
        raise RelationError("body.bounds", (lo, hi), "expected two 3-vectors") from None
    if not math.isfinite(x0 + y0 + z0 + x1 + y1 + z1):
        raise RelationError("body.bounds", (lo, hi), "expected two finite 3-vectors")
    if x1 < x0 or y1 < y0 or z1 < z0:
        raise RelationError("body.bounds", (lo, hi), "hi must be >= lo on every axis")
    mx, my = (x0 + x1) / 2, (y0 + y1) / 2
    x0, y0 = min(x0, mx - MIN_HALF), min(y0, my - MIN_HALF)
    x1, y1 = max(x1, mx + MIN_HALF), max(y1, my + MIN_HALF)
    lo_a, hi_a = np.array((x0, y0, z0)), np.array((x1, y1, z1))
    footprint: Polygon | None = None  # None: the footprint is the bounds rectangle itself
    if corners is not None:
        try:
            corners = np.array(corners, dtype=np.float64)
        except (TypeError, ValueError):
            raise RelationError("body.corners", corners, "expected 8 x 3 numbers") from None
        if corners.shape != (8, 3) or not np.isfinite(corners).all():
            raise RelationError("body.corners", f"shape {corners.shape}", "expected 8 finite xyz")
        if not _fills_rectangle(corners[:, :2], lo_a[:2], hi_a[:2]):
            xy = corners[:, :2]
            hull = shapely.convex_hull(shapely.multipoints(xy))
            inside = (xy.min(axis=0) >= (x0 - CLIP_TOL, y0 - CLIP_TOL)).all() and (
                xy.max(axis=0) <= (x1 + CLIP_TOL, y1 + CLIP_TOL)
            ).all()
            if not inside:  # the source's own bounds cut the oriented box: clip to them
                hull = hull.intersection(box(x0, y0, x1, y1))
            if isinstance(hull, Polygon) and 0 < hull.area < 0.999 * (x1 - x0) * (y1 - y0):
                footprint = hull
    for arr in (lo_a, hi_a, corners):
        if arr is not None:
            arr.flags.writeable = False
    if footprint is None:
        area = (x1 - x0) * (y1 - y0)
        centre = ((x0 + x1) / 2, (y0 + y1) / 2)
    else:
        area = float(footprint.area)
        centroid = footprint.centroid
        centre = (float(centroid.x), float(centroid.y))
        shapely.prepare(footprint)
    return Body(
        key=key,
        label=label,
        lo=lo_a,
        hi=hi_a,
        corners=corners,
        receptacle=bool(receptacle),
        receptacle_mode=receptacle_mode if receptacle else None,
        openable=bool(openable),
        movable=bool(movable),
        footprint=footprint,
        aligned=footprint is None,
        bounds=(x0, y0, z0, x1, y1, z1),
        centre=centre,
        area=area,
        volume=area * (z1 - z0),
    )


def _fills_rectangle(xy: np.ndarray, lo: np.ndarray, hi: np.ndarray, tol: float = 1e-4) -> bool:
    """Whether box corners projected to xy all sit on corners of the bounds rectangle (yaw a
    multiple of 90 degrees): then the footprint is the rectangle, no polygon needed."""
    on_x = np.minimum(np.abs(xy[:, 0] - lo[0]), np.abs(xy[:, 0] - hi[0])) <= tol
    on_y = np.minimum(np.abs(xy[:, 1] - lo[1]), np.abs(xy[:, 1] - hi[1])) <= tol
    return bool(on_x.all() and on_y.all())


def _shadow_area(bbox: BBox3D) -> float:
    """Area of a box's vertical shadow: each face pair contributes its area times the |z| of
    its normal (exact for any convex box), so near-aligned boxes need no polygon at all."""
    r = quat_to_matrix(bbox.rotation)
    sx, sy, sz = bbox.size
    return sx * sy * abs(r[2, 2]) + sy * sz * abs(r[2, 0]) + sx * sz * abs(r[2, 1])


def _rect_area(lo: Sequence[float], hi: Sequence[float]) -> float:
    return float((hi[0] - lo[0]) * (hi[1] - lo[1]))


def footprint_polygon(body: Body) -> Polygon:
    """The body's xy footprint as a polygon (built on demand for axis-aligned bodies)."""
    if body.footprint is not None:
        return body.footprint
    x0, y0, _, x1, y1, _ = body.bounds
    return box(x0, y0, x1, y1)


GEOMETRY_FLAGS = ("receptacle", "openable", "pickupable", "moveable")


def _flag(attrs: Mapping[str, Any], name: str, default: bool) -> bool:
    """A boolean attribute (THOR flags), `default` when the source did not give it."""
    value = attrs.get(name, default)
    if not isinstance(value, bool):
        raise RelationError(f"object.attributes.{name}", value, "expected a bool")
    return value


def _aabb(attrs: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray] | None:
    """The source's own world axis-aligned box ("aabb": [[lo], [hi]]), if it gave one."""
    if "aabb" not in attrs:
        return None
    lo, hi = _aabb_rows(attrs["aabb"])
    return np.array(lo), np.array(hi)


def _aabb_rows(raw: Any) -> tuple[list[float], list[float]]:
    """[[lo], [hi]] as two lists of 3 finite, in-range floats with lo <= hi (plain Python: this
    runs for every detection)."""
    try:
        (x0, y0, z0), (x1, y1, z1) = raw
        unpacked = isinstance(raw, (list, tuple))
    except (TypeError, ValueError):
        unpacked = False
    m = MAX_COORDINATE
    if (
        unpacked
        and all(type(c) is float or type(c) is int for c in (x0, y0, z0, x1, y1, z1))
        and -m <= x0 <= x1 <= m  # also false for NaN
        and -m <= y0 <= y1 <= m
        and -m <= z0 <= z1 <= m
    ):
        return [float(x0), float(y0), float(z0)], [float(x1), float(y1), float(z1)]
    raise RelationError("object.attributes.aabb", raw, "expected [[lo], [hi]] in range, lo <= hi")


def check_attributes(attributes: Mapping[str, Any]) -> None:
    """Raise `RelationError` unless the attributes geometry reads (aabb, receptacle flags and
    mode) are well formed; integrate checks every detection so a bad one is refused at once,
    not when the object next moves."""
    if "aabb" in attributes:
        _aabb_rows(attributes["aabb"])
    for name in GEOMETRY_FLAGS:
        if name in attributes and type(attributes[name]) is not bool:
            raise RelationError(f"object.attributes.{name}", attributes[name], "expected a bool")
    if attributes.get("receptacle_mode") not in ("in", "on", None):
        _receptacle_mode(attributes, "")


def _receptacle_mode(attributes: Mapping[str, Any], label: str) -> str | None:
    """'in' / 'on' / None: the attribute, else 'in' for container labels and 'on' for other
    receptacles."""
    mode = attributes.get("receptacle_mode")
    if mode is None and _flag(attributes, "receptacle", True):
        mode = "in" if _is_container_label(label) else "on"
    if mode not in ("in", "on", None):
        raise RelationError("object.attributes.receptacle_mode", mode, "expected 'in' or 'on'")
    return mode


def _is_container_label(label: str) -> bool:
    """Whether a label names something that holds things inside (see CONTAINER_LABELS)."""
    return re.sub(r"[^a-z0-9]", "", label.lower()) in CONTAINER_LABELS


def body_from_object(key: str, obj: ObjectObservation) -> Body:
    """`Body` of an observed object: world box (oriented if given) and receptacle affordances.

    Uses the source's axis-aligned box ("aabb" attribute) for the bounds when present, else the
    bounds of `obj.bbox`, else a point at `obj.position`. Without attributes anything may carry
    things on its top, and only `CONTAINER_LABELS` hold things inside.
    """
    if not isinstance(obj, ObjectObservation):
        raise RelationError("object", type(obj).__name__, "expected an ObjectObservation")
    return body_from_parts(key, obj.label, obj.position, obj.bbox, obj.attributes)  # type: ignore[arg-type]


def body_from_parts(
    key: str,
    label: str,
    position: Sequence[float],
    bbox: BBox3D | None,
    attributes: Mapping[str, Any],
) -> Body:
    """`Body` from an object's label, position, box and attributes (see `body_from_object`)."""
    aabb = _aabb(attributes)
    corners = None
    if bbox is not None:
        lo, hi = aabb if aabb is not None else bbox.min_max()
        if not bbox.is_axis_aligned and _shadow_area(bbox) < 0.999 * _rect_area(lo, hi):
            corners = bbox.corners()
    else:
        lo = hi = np.asarray(position, dtype=np.float64)
    return make_body(
        key,
        label,
        lo,
        hi,
        corners,
        receptacle=_flag(attributes, "receptacle", True),
        receptacle_mode=_receptacle_mode(attributes, label),
        openable=_flag(attributes, "openable", False),
        movable=_flag(attributes, "pickupable", False) or _flag(attributes, "moveable", False),
    )


def _cover(child: Body, parent: Body) -> float:
    """Fraction of the child's footprint that lies over the parent's footprint."""
    cx0, cy0, _, cx1, cy1, _ = child.bounds
    px0, py0, _, px1, py1, _ = parent.bounds
    if parent.aligned and px0 <= cx0 and py0 <= cy0 and cx1 <= px1 and cy1 <= py1:
        return 1.0
    if child.aligned and parent.aligned:
        w = min(cx1, px1) - max(cx0, px0)
        h = min(cy1, py1) - max(cy0, py0)
        return max(w, 0.0) * max(h, 0.0) / child.area
    return footprint_polygon(child).intersection(footprint_polygon(parent)).area / child.area


def _over(child: Body, parent: Body) -> bool:
    """Whether the centre of the child's footprint lies over the parent's footprint (it would
    tip over otherwise)."""
    x, y = child.centre
    px0, py0, _, px1, py1, _ = parent.bounds
    if not (px0 <= x <= px1 and py0 <= y <= py1):
        return False
    return parent.aligned or bool(shapely.contains_xy(parent.footprint, x, y))


def _part_of(part: Body, whole: Body) -> bool:
    """Whether fixed `part` lies mostly inside `whole`'s box (a shelf in a desk, a drawer in a
    dresser); movable things are objects of their own, never parts."""
    if part.movable or part is whole:
        return False
    overlap = np.minimum(part.hi, whole.hi) - np.maximum(part.lo, whole.lo)
    return bool(np.prod(np.clip(overlap, 0, None)) >= PART_FRACTION * np.prod(part.hi - part.lo))


def _innermost(loose: list[tuple[float, Body]]) -> Body:
    """Of receptacles holding a child on an unknown inner surface: parts before their whole,
    then the one under more of the child, then the bigger footprint (of two interpenetrating
    boxes the smaller is the intruder: a chair pushed under a desk)."""
    bodies = [b for _, b in loose]
    kept = [(c, b) for c, b in loose if not any(_part_of(o, b) for o in bodies)]
    return min(kept or loose, key=lambda cb: (-round(cb[0], 2), -cb[1].area, cb[1].key))[1]


def infer_parent(
    child: Body, candidates: Iterable[Body], exclude: Collection[str] = ()
) -> Parent | None:
    """Direct support or container of `child` among `candidates`: ("on" | "in", key) or None.

    See the module docstring for the rule. `exclude` lists keys never to choose (the child's
    descendants, to keep the graph acyclic when called incrementally).
    """
    cx0, cy0, cb, cx1, cy1, ct = child.bounds
    height = ct - cb
    contact: list[tuple[float, float, float, str, str]] = []
    holders: list[tuple[float, str, str]] = []
    loose: list[tuple[float, Body]] = []
    weak: list[tuple[int, float, float, str, str]] = []
    for p in candidates:
        if not p.receptacle or p.key == child.key or p.key in exclude:
            continue
        px0, py0, pb, px1, py1, pt = p.bounds
        if cx1 <= px0 or px1 <= cx0 or cy1 <= py0 or py1 <= cy0 or cb > pt + LIFT_TOL:
            continue
        kind = "in" if p.receptacle_mode == "in" else "on"
        part_only = p.movable and not child.movable  # fixed things are only parts of movables
        if cb >= pt - SINK_TOL and ct > pt:
            if part_only:
                continue
            cover = _cover(child, p)
            if cover * child.area >= MIN_SUPPORT_COVER * min(child.area, p.area) and _over(
                child, p
            ):
                # Sunk below a container's rim (an apple in a shallow bowl) is in it.
                sunk = kind == "in" and cb < pt - LIFT_TOL
                contact.append((pt, p.area, p.volume, p.key, "in" if sunk else "on"))
            elif child.area <= p.area:
                weak.append((0, -cover, p.volume, "on", p.key))
        elif cb >= pb - SINK_TOL:
            if child.volume >= p.volume:
                continue
            cover = _cover(child, p)
            span = (min(ct, pt) - max(cb, pb)) / height if height > 0 else 1.0
            if cover * span >= MIN_INSIDE_FRACTION:
                if kind == "in" and not part_only:
                    holders.append((p.volume, "in", p.key))
                else:  # an inner surface of furniture, or a part inside a movable whole
                    loose.append((cover, p))
            elif child.area <= p.area and not part_only:
                weak.append((2, -cover, p.volume, kind, p.key))
        elif pb <= ct and child.area <= p.area and not part_only:
            weak.append((1, -_cover(child, p), p.volume, "on", p.key))  # hangs from p
    if contact:  # the best surface competes with the containers: the smallest body wins
        top = max(c[0] for c in contact)
        _, volume, key, kind = min(c[1:] for c in contact if c[0] >= top - TOP_TIE)
        holders.append((volume, kind, key))
    if holders:
        _, kind, key = min(holders)
        return kind, key
    if loose:
        return "on", _innermost(loose).key
    weak = [w for w in weak if -w[1] >= MIN_WEAK_COVER]
    if weak:
        _, _, _, kind, key = min(weak)
        return kind, key
    return None


class RelationIndex:
    """Uniform xy grid over bodies: which bodies' footprints can touch a given footprint."""

    def __init__(self, bodies: Iterable[Body] = (), cell: float = CELL) -> None:
        if isinstance(cell, bool) or not isinstance(cell, (int, float)) or not cell > 0:
            raise RelationError("cell", cell, "must be a number > 0")
        self.cell = float(cell)
        self.bodies: dict[str, Body] = {}
        self._cells: dict[tuple[int, int], dict[str, Body]] = {}
        for b in bodies:
            self.add(b)

    def __len__(self) -> int:
        return len(self.bodies)

    def _cell_keys(self, bounds: Sequence[float], margin: float = 0.0) -> list[tuple[int, int]]:
        c = self.cell
        i0, i1 = math.floor((bounds[0] - margin) / c), math.floor((bounds[3] + margin) / c)
        j0, j1 = math.floor((bounds[1] - margin) / c), math.floor((bounds[4] + margin) / c)
        return [(i, j) for i in range(i0, i1 + 1) for j in range(j0, j1 + 1)]

    def add(self, body: Body) -> None:
        """Insert a body, replacing the one with the same key."""
        if not isinstance(body, Body):
            raise RelationError("body", type(body).__name__, "expected a Body")
        old = self.bodies.get(body.key)
        if old is not None and old.bounds != body.bounds:
            self.remove(body.key)
        self.bodies[body.key] = body
        for ij in self._cell_keys(body.bounds):
            self._cells.setdefault(ij, {})[body.key] = body

    def remove(self, key: str) -> None:
        """Drop a body; an unknown key raises `RelationError`."""
        body = self.bodies.pop(key, None)
        if body is None:
            raise RelationError("key", key, "no such body in the relation index")
        for ij in self._cell_keys(body.bounds):
            bodies = self._cells[ij]
            del bodies[key]
            if not bodies:
                del self._cells[ij]

    def overlapping(self, body: Body, margin: float = 0.0) -> list[Body]:
        """Other bodies sharing a grid cell with `body`'s footprint bounds grown by `margin`."""
        ijs = self._cell_keys(body.bounds, margin)
        if len(ijs) == 1:
            found = dict(self._cells.get(ijs[0], {}))
        else:
            found = {}
            for ij in ijs:
                found.update(self._cells.get(ij, {}))
        found.pop(body.key, None)
        return list(found.values())

    def candidates_for(self, child: Body) -> list[Body]:
        """Receptacles that may be `child`'s parent: grid cells shared, heights compatible."""
        _, _, cb, _, _, ct = child.bounds
        low = cb - LIFT_TOL
        ijs = self._cell_keys(child.bounds)
        if len(ijs) == 1:
            pool: Iterable[Body] = self._cells.get(ijs[0], {}).values()
        else:
            found: dict[str, Body] = {}
            for ij in ijs:
                found.update(self._cells.get(ij, {}))
            pool = found.values()
        return [
            b
            for b in pool
            if b.receptacle and b.bounds[2] <= ct and b.bounds[5] >= low and b.key != child.key
        ]

    def dependents(self, body: Body) -> list[str]:
        """Keys of indexed bodies that `infer_parent` could give `body` as parent: those whose
        parent may change when it appears, moves or goes."""
        if not body.receptacle:
            return []
        x0, y0, pb, x1, y1, pt = body.bounds
        return [
            o.key
            for o in self.overlapping(body)
            if o.bounds[0] < x1
            and x0 < o.bounds[3]
            and o.bounds[1] < y1
            and y0 < o.bounds[4]
            and pb <= o.bounds[5]
            and o.bounds[2] <= pt + LIFT_TOL
            and (o.bounds[2] >= pb - SINK_TOL or o.area <= body.area)
        ]


def near_of(
    body: Body, index: RelationIndex, exclude: Collection[str] = (), k: int = NEAR_K
) -> list[str]:
    """Keys of up to `k` indexed bodies near `body`, nearest first: gap between footprint boxes
    <= NEAR_GAP, height bands within NEAR_BAND, neither footprint box holding the other's (a
    table is not "near" the cup on it, nor the floor near anything), keys in `exclude` left out
    (pass the body's parent and children)."""
    if isinstance(k, bool) or not isinstance(k, int) or k < 0:
        raise RelationError("k", k, "expected an integer >= 0")
    x0, y0, z0, x1, y1, z1 = body.bounds
    found = []
    for o in index.overlapping(body, NEAR_GAP):
        ox0, oy0, oz0, ox1, oy1, oz1 = o.bounds
        if o.key in exclude or max(oz0 - z1, z0 - oz1) > NEAR_BAND:
            continue
        gap = math.hypot(max(ox0 - x1, x0 - ox1, 0.0), max(oy0 - y1, y0 - oy1, 0.0))
        if gap > NEAR_GAP:
            continue
        if (ox0 <= x0 and oy0 <= y0 and x1 <= ox1 and y1 <= oy1) or (
            x0 <= ox0 and y0 <= oy0 and ox1 <= x1 and oy1 <= y1
        ):
            continue
        found.append((gap, o.key))
    found.sort()
    return [key for _, key in found[:k]]


def _descendants(key: str, parent: Mapping[str, Parent]) -> set[str]:
    """Keys below `key` in the parent map."""
    children: dict[str, list[str]] = {}
    for c, (_, p) in parent.items():
        children.setdefault(p, []).append(c)
    out, stack = set(), [key]
    while stack:
        for c in children.get(stack.pop(), ()):
            if c not in out:
                out.add(c)
                stack.append(c)
    return out


def _cycle(parent: Mapping[str, Parent]) -> list[str]:
    """The keys of one parent cycle, or [] when the parent map is a forest."""
    state: dict[str, int] = {}
    for start in parent:
        path: list[str] = []
        k: str | None = start
        while k is not None and k not in state:
            state[k] = 1
            path.append(k)
            k = parent[k][1] if k in parent else None
        if k is not None and state[k] == 1:
            return path[path.index(k) :]
        for p in path:
            state[p] = 2
    return []


def infer_parents(index: RelationIndex) -> dict[str, Parent]:
    """child key -> (kind, parent key) for every body of the index; never a cycle."""
    parent: dict[str, Parent] = {}
    for b in index.bodies.values():
        found = infer_parent(b, index.candidates_for(b))
        if found is not None:
            parent[b.key] = found
    bodies = index.bodies
    while cycle := _cycle(parent):
        # Only interpenetrating boxes get here (a counter and the sink set into it). Re-resolve
        # one member without its descendants: a fixed body under a movable parent first, else
        # the biggest.
        k = max(
            cycle,
            key=lambda c: (
                not bodies[c].movable and bodies[parent[c][1]].movable,
                bodies[c].volume,
                c,
            ),
        )
        below = _descendants(k, parent)
        del parent[k]
        found = infer_parent(bodies[k], index.candidates_for(bodies[k]), below)
        if found is not None:
            parent[k] = found
    return parent


def near_pairs(
    index: RelationIndex, parent: Mapping[str, Parent] | None = None
) -> list[tuple[str, str]]:
    """Sorted unordered `near` pairs (a < b): the union of every body's NEAR_K nearest, leaving
    out pairs already related as child and parent in `parent`."""
    related: dict[str, set[str]] = {}
    for c, (_, p) in (parent or {}).items():
        related.setdefault(c, set()).add(p)
        related.setdefault(p, set()).add(c)
    out: set[tuple[str, str]] = set()
    for b in index.bodies.values():
        for o in near_of(b, index, related.get(b.key, ())):
            out.add((b.key, o) if b.key < o else (o, b.key))
    return sorted(out)


def infer_relations(bodies: Sequence[Body]) -> list[tuple[str, str, str]]:
    """All relations of a set of bodies: (child, "on" | "in", parent) triples sorted by child,
    then (a, "near", b) pairs with a < b."""
    index = RelationIndex()
    for b in bodies:
        if isinstance(b, Body) and b.key in index.bodies:
            raise RelationError("bodies", b.key, "duplicate body key")
        index.add(b)
    parent = infer_parents(index)
    triples = [(c, kind, p) for c, (kind, p) in sorted(parent.items())]
    return triples + [(a, "near", b) for a, b in near_pairs(index, parent)]
