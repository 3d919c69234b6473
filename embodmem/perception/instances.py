"""Instance masks + depth -> per-object points and boxes (`ObjectObservation`s, `Observation`).

Accepts an (H, W) integer instance-id image with an {int: objectId} map, or an (H, W, 3) uint8
colour segmentation (AI2-THOR's `instance_segmentation_frame`) with a {(r, g, b): objectId} map.
Each object's points are trimmed by depth: points outside the central `trim_percentile`..
(100 - `trim_percentile`) depth range widened by `TRIM_FENCE` of its span (at least
`TRIM_MIN_MARGIN`) are mask bleed, not object. Boxes are world axis-aligned bounds of the kept
points, widened to `min_thickness` on thin axes; an object whose mask touches the image border
is marked `truncated` (its box is only the visible part).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from typing import Any

import numpy as np

from embodmem import validate as v
from embodmem.errors import ValidationError
from embodmem.perception.camera import CameraIntrinsics
from embodmem.perception.depth import depth_array, depth_to_points, positive_int
from embodmem.types import BBox3D, ObjectObservation, Observation, Pose

DEFAULT_MIN_POINTS = 20
DEFAULT_MIN_THICKNESS = 0.02  # metres
DEFAULT_TRIM_PERCENTILE = 5.0
TRIM_FENCE = 0.5
TRIM_MIN_MARGIN = 0.05  # metres
SEG_FIELD = "instance_mask_or_segmentation"


def objects_from_instance_masks(
    depth: Any,
    instance_mask_or_segmentation: Any,
    color_to_id: Mapping[Any, str],
    intrinsics: CameraIntrinsics,
    camera_pose: Pose,
    labels: Mapping[str, str] | None = None,
    min_points: int = DEFAULT_MIN_POINTS,
    **options: Any,
) -> list[ObjectObservation]:
    """Objects seen in one frame, sorted by id; further options as for `segment_frame`."""
    objects, _, _ = segment_frame(
        depth,
        instance_mask_or_segmentation,
        color_to_id,
        intrinsics,
        camera_pose,
        labels=labels,
        min_points=min_points,
        **options,
    )
    return objects


def observation_from_frame(
    depth: Any,
    instance_mask_or_segmentation: Any,
    color_to_id: Mapping[Any, str],
    intrinsics: CameraIntrinsics,
    camera_pose: Pose,
    time_ns: int = 0,
    region: str | None = None,
    action: str | None = None,
    **options: Any,
) -> Observation:
    """A full `Observation` of one frame: the objects, every valid depth point (world frame) and
    `point_object_index` (-1 for points on no kept object); the agent pose is the camera pose."""
    objects, points, index = segment_frame(
        depth, instance_mask_or_segmentation, color_to_id, intrinsics, camera_pose, **options
    )
    return Observation(
        time_ns=time_ns,
        objects=tuple(objects),
        agent_pose=camera_pose,
        points=points,
        point_object_index=index,
        region=region,
        action=action,
    )


def segment_frame(
    depth: Any,
    instance_mask_or_segmentation: Any,
    color_to_id: Mapping[Any, str],
    intrinsics: CameraIntrinsics,
    camera_pose: Pose,
    labels: Mapping[str, str] | None = None,
    min_points: int = DEFAULT_MIN_POINTS,
    stride: int = 1,
    max_depth: float | None = None,
    exclude: Collection[str] = (),
    trim_percentile: float = DEFAULT_TRIM_PERCENTILE,
    min_thickness: float = DEFAULT_MIN_THICKNESS,
) -> tuple[list[ObjectObservation], np.ndarray, np.ndarray]:
    """(objects sorted by id, (N, 3) world points, (N,) index of each point's object or -1).

    `exclude` lists object ids not to report (e.g. "Wall", "Ceiling"); their points get -1.
    """
    z_img = depth_array(depth, intrinsics)
    pixel_obj, ids = _pixel_objects(instance_mask_or_segmentation, color_to_id, intrinsics.shape)
    label_of = _labels(labels)
    need = positive_int("min_points", min_points)
    pct = v.finite_float("trim_percentile", trim_percentile)
    if not 0.0 <= pct < 50.0:
        raise ValidationError("trim_percentile", trim_percentile, "must be in [0, 50)")
    thick = v.finite_float("min_thickness", min_thickness)
    if thick < 0:
        raise ValidationError("min_thickness", min_thickness, "must be >= 0")
    if isinstance(exclude, str) or not isinstance(exclude, Collection):
        raise ValidationError("exclude", exclude, "expected a collection of object ids")
    points, pixels = depth_to_points(
        z_img, intrinsics, camera_pose, max_depth=max_depth, stride=stride, return_pixels=True
    )
    skip = np.array([oid in exclude for oid in ids] + [True])  # the last entry is "no object"
    point_obj = pixel_obj[pixels[:, 0], pixels[:, 1]]
    sel = np.flatnonzero(~skip[point_obj])
    out_index = np.full(len(points), -1, dtype=np.int64)
    if len(sel) == 0:
        return [], points, out_index
    by_depth = sel[np.argsort(z_img[pixels[sel, 0], pixels[sel, 1]])]
    small = np.int16 if len(ids) < 2**15 else np.int64  # int16 sorts stably by radix
    order = by_depth[np.argsort(point_obj[by_depth].astype(small), kind="stable")]
    sorted_obj = point_obj[order]
    starts = np.concatenate([[0], np.flatnonzero(np.diff(sorted_obj)) + 1])
    counts = np.diff(np.append(starts, len(order)))
    groups = sorted_obj[starts]
    group_of = np.repeat(np.arange(len(groups)), counts)
    kept = _depth_inliers(z_img[pixels[order, 0], pixels[order, 1]], starts, counts, group_of, pct)
    members, member_group = order[kept], group_of[kept]
    n_kept = np.bincount(member_group, minlength=len(groups))
    present = np.flatnonzero(n_kept)
    first = np.concatenate([[0], np.cumsum(n_kept[present])[:-1]])
    lo = np.minimum.reduceat(points[members], first, axis=0)
    hi = np.maximum.reduceat(points[members], first, axis=0)
    px_lo = np.minimum.reduceat(pixels[members], first, axis=0)
    px_hi = np.maximum.reduceat(pixels[members], first, axis=0)
    truncated = (px_lo == 0).any(axis=1) | (px_hi >= np.array(intrinsics.shape) - 1).any(axis=1)
    half = np.maximum((hi - lo) / 2, thick / 2)
    center = (lo + hi) / 2
    reported = n_kept[present] >= need
    out_of_group = np.full(len(groups), -1, dtype=np.int64)
    out_of_group[present[reported]] = np.arange(int(reported.sum()))
    out_index[members] = out_of_group[member_group]
    objects = [
        ObjectObservation(
            label=label_of(ids[groups[g]]),
            bbox=BBox3D.from_min_max(center[j] - half[j], center[j] + half[j]),
            id_hint=ids[groups[g]],
            attributes={"num_points": int(n_kept[g]), "truncated": bool(truncated[j])},
        )
        for j, g in enumerate(present)
        if reported[j]
    ]
    return objects, points, out_index


def _depth_inliers(
    z: np.ndarray, starts: np.ndarray, counts: np.ndarray, group_of: np.ndarray, pct: float
) -> np.ndarray:
    """Mask of the depths (sorted within each group) inside their group's central percentile
    range widened by `TRIM_FENCE` of its span (at least `TRIM_MIN_MARGIN`)."""
    lo, hi = (_group_quantile(z, starts, counts, q) for q in (pct / 100, 1 - pct / 100))
    margin = np.maximum(TRIM_FENCE * (hi - lo), TRIM_MIN_MARGIN)
    return (z >= (lo - margin)[group_of]) & (z <= (hi + margin)[group_of])


def _group_quantile(z: np.ndarray, starts: np.ndarray, counts: np.ndarray, q: float) -> np.ndarray:
    """Quantile `q` of each sorted group z[start:start+count], linearly interpolated."""
    pos = q * (counts - 1)
    i0 = np.floor(pos).astype(np.int64)
    i1 = np.minimum(i0 + 1, counts - 1)
    frac = pos - i0
    return z[starts + i0] * (1 - frac) + z[starts + i1] * frac


def _labels(labels: Mapping[str, str] | None) -> Callable[[str], str]:
    """Label of an object id: `labels[id]` when given, else the THOR type before the first "|"."""
    if labels is not None and not isinstance(labels, Mapping):
        raise ValidationError("labels", type(labels).__name__, "expected a mapping id -> label")
    table = dict(labels or {})
    return lambda oid: table.get(oid) or oid.split("|", 1)[0]


def _pixel_objects(
    seg: Any, color_to_id: Any, shape: tuple[int, int]
) -> tuple[np.ndarray, list[str]]:
    """(H, W) index into the sorted object ids of each pixel (-1 unmapped) and the ids."""
    arr = np.asarray(seg)
    colour = arr.ndim == 3
    if colour and (arr.shape[2] != 3 or arr.dtype != np.uint8):
        raise ValidationError(
            SEG_FIELD, f"shape {arr.shape} dtype {arr.dtype}", "expected (H, W, 3) uint8 colours"
        )
    if not colour and (arr.ndim != 2 or not np.issubdtype(arr.dtype, np.integer)):
        raise ValidationError(
            SEG_FIELD, f"shape {arr.shape} dtype {arr.dtype}", "expected (H, W) integer ids"
        )
    if arr.shape[:2] != shape:
        raise ValidationError(SEG_FIELD, f"shape {arr.shape}", f"expected the depth shape {shape}")
    if not isinstance(color_to_id, Mapping):
        raise ValidationError("color_to_id", type(color_to_id).__name__, "expected a mapping")
    keys = np.empty(len(color_to_id), dtype=np.int64)
    names: list[str] = []
    for i, (key, oid) in enumerate(color_to_id.items()):
        keys[i] = _color_key(key) if colour else _int_key(key)
        names.append(v.nonempty_str(f"color_to_id[{key!r}]", oid))
    ids = sorted(set(names))
    if not ids:
        return np.full(shape, -1, dtype=np.int64), ids
    id_index = {oid: i for i, oid in enumerate(ids)}
    order = np.argsort(keys)
    keys = keys[order]
    key_obj = np.array([id_index[n] for n in names], dtype=np.int64)[order]
    if colour:
        img = arr.astype(np.int64)
        pixel_key = (img[..., 0] << 16) | (img[..., 1] << 8) | img[..., 2]
    else:
        pixel_key = arr.astype(np.int64)
    pos = np.minimum(np.searchsorted(keys, pixel_key), len(keys) - 1)
    return np.where(keys[pos] == pixel_key, key_obj[pos], -1), ids


def _color_key(key: Any) -> int:
    """24-bit integer of an (r, g, b) colour key."""
    ok = isinstance(key, tuple) and len(key) == 3
    ok = ok and all(isinstance(c, (int, np.integer)) and 0 <= c <= 255 for c in key)
    if not ok:
        raise ValidationError("color_to_id", key, "keys must be (r, g, b) tuples of 0..255")
    r, g, b = (int(c) for c in key)
    return (r << 16) | (g << 8) | b


def _int_key(key: Any) -> int:
    if isinstance(key, bool) or not isinstance(key, (int, np.integer)):
        raise ValidationError("color_to_id", key, "keys must be integer instance ids")
    return int(key)
