"""Numpy box renderer with AI2-THOR's camera model: depth and instance-segmentation frames.

Every object is drawn as its oriented bounding box when it has one, else its axis-aligned box;
the room is a shell of thin slabs just outside `room_lo`/`room_hi` (ids "Floor", "Wall",
"Ceiling"; the floor slab is left out when a THOR `Floor` object is given, which then is the
floor). Faces are back-face culled, so a camera inside a box does not see that box.

Camera: THOR position, yaw = agent rotation.y (0 looks along THOR +z, 90 along +x), horizon =
pitch (positive looks down), vertical `fov`, fx = fy = (H/2)/tan(fov/2), principal point at the
image centre, pixel centres at integer coordinates (see `embodmem.perception.camera`). Depth is
planar (along the optical axis) in metres; pixels that hit nothing get depth 0 and colour black.

Rendering happens in the world frame (`embodmem.frames`). Boxes outside the view frustum or
farther than `max_range` are culled, each remaining box is clipped against the near plane and
projected to a screen rectangle, and the slab (ray/box) test runs vectorized over that
rectangle, in row chunks of at most `CHUNK_PIXELS` pixels.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import product
from typing import Any

import numpy as np

from embodmem import validate as v
from embodmem.errors import DuplicateIdError, ValidationError
from embodmem.frames import thor_box, thor_camera_pose, thor_to_world, thor_xyz
from embodmem.perception.camera import CameraIntrinsics, optical_rotation
from embodmem.types import quat_to_matrix

NEAR_CLIP = 0.05  # metres; AI2-THOR's camera near plane is of this order
MAX_RANGE = 20.0  # metres; far beyond any iTHOR room
STRUCTURE_THICKNESS = 0.1  # metres of the floor / wall / ceiling slabs outside the room box
STRUCTURE_NAMES = ("Ceiling", "Wall", "Wall", "Wall", "Wall")  # and a Floor when none
CHUNK_PIXELS = 1 << 18
CUT_IN = ("Sink", "SinkBasin", "Bathtub", "BathtubBasin")  # THOR cuts their hole in the counter
ENCLOSE_SLACK = 0.02  # metres a box may stick out of another and still count as inside it
BACKGROUND = (0, 0, 0)
_SIGNS = np.array(list(product((-1.0, 1.0), repeat=3)))  # (8, 3) corner signs, bit i ~ axis 2-i
_EDGES = np.array([(i, j) for i in range(8) for j in range(i + 1, 8) if bin(i ^ j).count("1") == 1])


@dataclass(slots=True)
class RenderResult:
    """The frames of one render, in ai2thor's `Event` field names."""

    depth_frame: np.ndarray | None
    instance_segmentation_frame: np.ndarray | None
    color_to_object_id: dict[tuple[int, int, int], str]
    object_id_to_color: dict[str, tuple[int, int, int]]


@dataclass(frozen=True, slots=True)
class _Boxes:
    """B boxes in the world frame: ids, centres (B,3), rotations world <- box (B,3,3), halves."""

    ids: list[str]
    centers: np.ndarray
    rotations: np.ndarray
    halves: np.ndarray


def room_bounds(objects: Sequence[Mapping[str, Any]]) -> tuple[np.ndarray, np.ndarray]:
    """THOR-frame (lo, hi) of a room: the union of the objects' axis-aligned boxes.

    iTHOR scenes have a `Floor` object spanning the room and wall-mounted objects (windows,
    cabinets, light switches) reaching the walls, so the union is a tight room box; the ceiling is
    the top of the highest object.
    """
    corners = _aabb_corners(objects)
    if len(corners) == 0:
        raise ValidationError("objects", "empty", "need at least one object to bound a room")
    return corners.min(axis=(0, 1)), corners.max(axis=(0, 1))


def render_frames(
    objects: Sequence[Mapping[str, Any]],
    room_lo: Any,
    room_hi: Any,
    camera_position: Mapping[str, float],
    yaw_deg: float,
    horizon_deg: float,
    fov: float,
    width: int,
    height: int,
    depth: bool = True,
    segmentation: bool = True,
    max_range: float = MAX_RANGE,
) -> RenderResult:
    """Render THOR objects (ai2thor 5.0.0 metadata dicts, THOR frame) seen from a THOR camera."""
    intr = CameraIntrinsics.from_fov(width, height, fov)
    cam_xyz = thor_xyz("camera_position", camera_position)
    pose = thor_camera_pose(
        camera_position,
        v.finite_float("yaw_deg", yaw_deg),
        v.finite_float("horizon_deg", horizon_deg),
    )
    far = v.finite_float("max_range", max_range)
    if far <= NEAR_CLIP:
        raise ValidationError("max_range", max_range, f"must be > the near clip {NEAR_CLIP} m")
    boxes = _object_boxes(objects)
    has_floor = any(obj.get("objectType") == "Floor" for obj in objects)
    boxes = _concat(boxes, _structure_boxes(room_lo, room_hi, with_floor=not has_floor))
    rot = optical_rotation(pose)
    keep, rects = _cull(boxes, np.asarray(cam_xyz), rot, intr, far)
    zbuf, index = _trace(boxes, keep, rects, np.asarray(cam_xyz), rot, intr)
    enclosers = _enclosers(objects, boxes)
    level = enclosers.sum(axis=1)
    for depth in range(1, int(level[keep].max(initial=0)) + 1):
        inner = level[keep] >= depth  # what lies inside shows where its encloser was hit
        z_in, i_in = _trace(boxes, keep[inner], rects[inner], np.asarray(cam_xyz), rot, intr)
        show = (i_in >= 0) & (index >= 0)
        show[show] = enclosers[i_in[show], index[show]]
        zbuf[show], index[show] = z_in[show], i_in[show]
    id_to_color = frame_colors(objects)
    result = RenderResult(
        depth_frame=None,
        instance_segmentation_frame=None,
        color_to_object_id={c: i for i, c in id_to_color.items()},
        object_id_to_color=id_to_color,
    )
    if depth:
        result.depth_frame = np.where(index >= 0, zbuf, np.float32(0.0))
    if segmentation:
        palette = np.array([id_to_color[i] for i in boxes.ids] + [BACKGROUND], dtype=np.uint8)
        result.instance_segmentation_frame = palette[index]
    return result


def _enclosers(objects: Sequence[Mapping[str, Any]], boxes: _Boxes) -> np.ndarray:
    """(B, B) bool: box b lies inside object box a and shows through it. THOR's receptacle
    meshes are hollow where boxes are not: a sink sits in the counter's box, a basin in the
    sink's, what an open fridge holds in the fridge's; a closed openable, or an object that is
    not a receptacle, hides what its box encloses."""
    n = len(objects)
    out = np.zeros((len(boxes.ids), len(boxes.ids)), dtype=bool)
    if n < 2:
        return out
    reach = np.abs(boxes.rotations[:n]) @ boxes.halves[:n, :, None]  # world half extents
    lo, hi = boxes.centers[:n] - reach[..., 0], boxes.centers[:n] + reach[..., 0]
    inside = np.all(
        (lo[:, None] >= lo[None] - ENCLOSE_SLACK) & (hi[:, None] <= hi[None] + ENCLOSE_SLACK),
        axis=2,
    )
    cut = np.array([o.get("objectType") in CUT_IN for o in objects])
    under = (
        np.all(  # a sink under the counter slab it is cut into: footprint inside, top below
            (lo[:, None, :2] >= lo[None, :, :2] - ENCLOSE_SLACK)
            & (hi[:, None, :2] <= hi[None, :, :2] + ENCLOSE_SLACK),
            axis=2,
        )
        & (hi[:, None, 2] <= hi[None, :, 2] + ENCLOSE_SLACK)
    )
    inside |= cut[:, None] & under
    inside &= ~inside.T  # boxes that enclose each other (the same box twice): plain occluders
    shut = np.array([bool(o.get("openable")) and not o.get("isOpen") for o in objects])
    hollow = np.array([bool(o.get("receptacle")) for o in objects]) | cut  # a solid box hides
    out[:n, :n] = inside & ~shut[None] & (hollow[None] | cut[:, None])
    return out


def frame_colors(objects: Sequence[Mapping[str, Any]]) -> dict[str, tuple[int, int, int]]:
    """Colours of a frame of `objects`: theirs and the room structure's (see `assign_colors`)."""
    has_floor = any(obj.get("objectType") == "Floor" for obj in objects)
    structure = STRUCTURE_NAMES + (() if has_floor else ("Floor",))
    return assign_colors([str(obj.get("objectId")) for obj in objects] + list(structure))


def class_colors(
    id_to_color: Mapping[str, tuple[int, int, int]],
) -> dict[str, tuple[int, int, int]]:
    """Colours of the object classes of a frame's ids ("Apple" for "Apple|..."), none of them
    a colour an id already has (THOR lists both in metadata["colors"])."""
    return assign_colors([k.split("|")[0] for k in id_to_color], id_to_color.values())


def assign_colors(
    ids: Iterable[str], taken: Iterable[tuple[int, int, int]] = ()
) -> dict[str, tuple[int, int, int]]:
    """Deterministic, collision-free colours of a frame's ids (black is the background, and
    `taken` colours are not given out).

    An id keeps the colour of its hash unless an id earlier in sorted order already took it;
    then it re-hashes with a counter, so the result depends only on the set of ids.
    """
    out: dict[str, tuple[int, int, int]] = {}
    taken = {BACKGROUND, *taken}
    for oid in sorted(set(ids)):
        salt = 0
        color = _hash_color(oid, salt)
        while color in taken:
            salt += 1
            color = _hash_color(oid, salt)
        taken.add(color)
        out[oid] = color
    return out


@lru_cache(maxsize=65536)
def _hash_color(object_id: str, salt: int) -> tuple[int, int, int]:
    key = object_id if salt == 0 else f"{object_id}#{salt}"
    r, g, b = hashlib.blake2b(key.encode(), digest_size=3).digest()
    return (r, g, b)


def _aabb_corners(objects: Any) -> np.ndarray:
    """(N, 8, 3) THOR axis-aligned box corners of the objects, validated."""
    if isinstance(objects, (str, bytes, Mapping)) or not isinstance(objects, Sequence):
        raise ValidationError("objects", type(objects).__name__, "expected a sequence of dicts")
    out = np.empty((len(objects), 8, 3))
    for i, obj in enumerate(objects):
        if not isinstance(obj, Mapping):
            raise ValidationError(f"objects[{i}]", type(obj).__name__, "expected an object dict")
        aabb = obj.get("axisAlignedBoundingBox")
        pts = aabb.get("cornerPoints") if isinstance(aabb, Mapping) else None
        field = f"objects[{i}].axisAlignedBoundingBox.cornerPoints"
        try:
            arr = np.asarray(pts, dtype=np.float64)
        except (TypeError, ValueError):
            raise ValidationError(field, pts, "expected 8 xyz corner points") from None
        if arr.shape != (8, 3) or not np.isfinite(arr).all():
            raise ValidationError(field, f"shape {arr.shape}", "expected 8 finite xyz points")
        out[i] = arr
    return out


def _object_boxes(objects: Sequence[Mapping[str, Any]]) -> _Boxes:
    """World boxes of THOR objects: oriented when given, else axis-aligned."""
    world = thor_to_world(_aabb_corners(objects))
    lo, hi = world.min(axis=1), world.max(axis=1)
    centers, halves = (lo + hi) / 2, (hi - lo) / 2
    rotations = np.broadcast_to(np.eye(3), (len(objects), 3, 3)).copy()
    ids: list[str] = []
    for i, obj in enumerate(objects):
        oid = obj.get("objectId")
        if not isinstance(oid, str) or not oid:
            raise ValidationError(f"objects[{i}].objectId", oid, "expected a non-empty string")
        if oid in ids:
            raise DuplicateIdError(f"objects[{i}].objectId", oid, "objectId appears twice")
        ids.append(oid)
        oobb = obj.get("objectOrientedBoundingBox")
        if isinstance(oobb, Mapping) and oobb.get("cornerPoints"):
            key = _corner_key(oobb, f"objects[{i}].objectOrientedBoundingBox.cornerPoints")
            centers[i], rotations[i], halves[i] = _oriented_box(key)
    return _Boxes(ids, centers, rotations, halves)


def _corner_key(oobb: Mapping[str, Any], field: str) -> tuple[tuple[float, ...], ...]:
    """Validated, hashable form of a box's corner points (the cache key of `_oriented_box`)."""
    try:
        arr = np.asarray(oobb["cornerPoints"], dtype=np.float64)
    except (TypeError, ValueError):
        raise ValidationError(field, oobb["cornerPoints"], "expected 8 xyz corner points") from None
    if arr.shape != (8, 3) or not np.isfinite(arr).all():
        raise ValidationError(field, f"shape {arr.shape}", "expected 8 finite xyz points")
    return tuple(map(tuple, arr.tolist()))


@lru_cache(maxsize=8192)
def _oriented_box(corners: tuple[tuple[float, ...], ...]) -> tuple[np.ndarray, ...]:
    """(centre, rotation world <- box, half sizes) of a THOR oriented box; cached because
    fitting a box to corners costs ~0.3 ms and most objects do not move between frames."""
    box = thor_box(corners)
    return np.asarray(box.center), quat_to_matrix(box.rotation), np.asarray(box.size) / 2


def _structure_boxes(room_lo: Any, room_hi: Any, with_floor: bool) -> _Boxes:
    """Thin slabs just outside the room box: floor, ceiling and four walls."""
    lo_t, hi_t = v.vec3("room_lo", room_lo), v.vec3("room_hi", room_hi)
    if any(h <= lo for lo, h in zip(lo_t, hi_t, strict=True)):
        raise ValidationError("room_hi", room_hi, f"must exceed room_lo {lo_t} on every axis")
    pts = thor_to_world(np.array([lo_t, hi_t]))
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    t = STRUCTURE_THICKNESS
    outer_lo, outer_hi = lo - t, hi + t
    slabs = [  # ceiling, then the four walls (STRUCTURE_NAMES), then the floor
        ([outer_lo[0], outer_lo[1], hi[2]], [outer_hi[0], outer_hi[1], outer_hi[2]]),
        ([outer_lo[0], outer_lo[1], lo[2]], [lo[0], outer_hi[1], hi[2]]),
        ([hi[0], outer_lo[1], lo[2]], [outer_hi[0], outer_hi[1], hi[2]]),
        ([lo[0], outer_lo[1], lo[2]], [hi[0], lo[1], hi[2]]),
        ([lo[0], hi[1], lo[2]], [hi[0], outer_hi[1], hi[2]]),
    ]
    names = list(STRUCTURE_NAMES)
    if with_floor:
        slabs.append(([outer_lo[0], outer_lo[1], outer_lo[2]], [outer_hi[0], outer_hi[1], lo[2]]))
        names.append("Floor")
    a, b = np.array([s[0] for s in slabs]), np.array([s[1] for s in slabs])
    return _Boxes(names, (a + b) / 2, np.broadcast_to(np.eye(3), (len(names), 3, 3)), (b - a) / 2)


def _concat(a: _Boxes, b: _Boxes) -> _Boxes:
    return _Boxes(
        a.ids + b.ids,
        np.concatenate([a.centers, b.centers]),
        np.concatenate([a.rotations, b.rotations]),
        np.concatenate([a.halves, b.halves]),
    )


def _cull(
    boxes: _Boxes, origin: np.ndarray, rot: np.ndarray, intr: CameraIntrinsics, far: float
) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the boxes to trace and their screen rectangles (u0, u1, v0, v1), half-open.

    A box is dropped when the camera is inside it (back faces only), when its nearest point is
    beyond `far`, or when its near-clipped projection misses the image.
    """
    local_origin = np.einsum("bji,bj->bi", boxes.rotations, origin - boxes.centers)
    nearest = np.clip(local_origin, -boxes.halves, boxes.halves)
    dist = np.linalg.norm(local_origin - nearest, axis=1)
    corners = boxes.centers[:, None, :] + np.einsum(
        "bij,bkj->bki", boxes.rotations, _SIGNS[None] * boxes.halves[:, None, :]
    )
    opt = (corners - origin) @ rot  # (B, 8, 3) in the optical frame
    z = opt[..., 2]
    p0, p1 = opt[:, _EDGES[:, 0]], opt[:, _EDGES[:, 1]]
    z0, z1 = p0[..., 2], p1[..., 2]
    crossing = (z0 - NEAR_CLIP) * (z1 - NEAR_CLIP) < 0
    with np.errstate(divide="ignore", invalid="ignore"):
        s = np.where(crossing, (NEAR_CLIP - z0) / (z1 - z0), 0.0)
    cut = p0 + s[..., None] * (p1 - p0)
    pts = np.concatenate([opt, cut], axis=1)
    valid = np.concatenate([z >= NEAR_CLIP, crossing], axis=1)
    depth = np.where(valid, pts[..., 2], 1.0)
    u = intr.fx * pts[..., 0] / depth + intr.cx
    w = intr.fy * pts[..., 1] / depth + intr.cy
    u0 = np.floor(np.where(valid, u, np.inf).min(axis=1))
    u1 = np.ceil(np.where(valid, u, -np.inf).max(axis=1)) + 1
    v0 = np.floor(np.where(valid, w, np.inf).min(axis=1))
    v1 = np.ceil(np.where(valid, w, -np.inf).max(axis=1)) + 1
    keep = valid.any(axis=1) & (dist > 0) & (dist <= far)
    rects = np.stack(
        [
            np.clip(u0, 0, intr.width),
            np.clip(u1, 0, intr.width),
            np.clip(v0, 0, intr.height),
            np.clip(v1, 0, intr.height),
        ],
        axis=1,
    )
    rects = np.where(np.isfinite(rects), rects, 0).astype(np.int64)
    keep &= (rects[:, 1] > rects[:, 0]) & (rects[:, 3] > rects[:, 2])
    idx = np.flatnonzero(keep)
    return idx, rects[idx]


def _trace(
    boxes: _Boxes,
    keep: np.ndarray,
    rects: np.ndarray,
    origin: np.ndarray,
    rot: np.ndarray,
    intr: CameraIntrinsics,
) -> tuple[np.ndarray, np.ndarray]:
    """Nearest front-face hit per pixel: (planar depth (H,W) float32, box index (H,W), -1 none)."""
    xs, ys = intr.normalized_coords(np.float32)
    zbuf = np.full(intr.shape, np.inf, dtype=np.float32)
    index = np.full(intr.shape, -1, dtype=np.int32)
    for b, (u0, u1, v0, v1) in zip(keep, rects, strict=True):
        # Ray through pixel (x, y, 1) in optical coordinates, in box coordinates: o + t * m @ q.
        m = (boxes.rotations[b].T @ rot).astype(np.float32)
        o = (boxes.rotations[b].T @ (origin - boxes.centers[b])).astype(np.float32)
        h = boxes.halves[b].astype(np.float32)
        rows = max(1, CHUNK_PIXELS // (u1 - u0))
        for r0 in range(v0, v1, rows):
            r1 = min(v1, r0 + rows)
            enter, leave = _slab(m, o, h, xs[u0:u1], ys[r0:r1])
            view_z, view_i = zbuf[r0:r1, u0:u1], index[r0:r1, u0:u1]
            hit = (enter <= leave) & (enter >= NEAR_CLIP) & (enter < view_z)
            view_z[hit] = enter[hit]
            view_i[hit] = b
    return zbuf, index


def _slab(
    m: np.ndarray, o: np.ndarray, h: np.ndarray, xs: np.ndarray, ys: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Entry and exit t (rows x cols) of the rays o + t * m @ (x, y, 1) through the box |p| <= h."""
    enter = leave = None
    with np.errstate(divide="ignore", invalid="ignore"):
        for k in range(3):
            d = (m[k, 0] * xs)[None, :] + (m[k, 1] * ys + m[k, 2])[:, None]
            ta = (-h[k] - o[k]) / d
            tb = (h[k] - o[k]) / d
            near, far = np.fmin(ta, tb), np.fmax(ta, tb)
            enter = near if enter is None else np.fmax(enter, near, out=enter)
            leave = far if leave is None else np.fmin(leave, far, out=leave)
    return enter, leave


__all__ = ["RenderResult", "assign_colors", "render_frames", "room_bounds"]
