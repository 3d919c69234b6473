"""What a camera can see of a remembered object: the view frustum, box sample points, where a
ray enters a box, and a line-of-sight test through the octree's occupancy.

These decide when an object that is not detected counts as evidence of absence
(`embodmem.short_term`): it must lie in the view, and the camera must see the place where it
was. The current frame's depth points answer that best (`seen_through`: the depth along the
ray to a point inside the object's box reaches beyond that point, so that part of the box is
visibly empty); without them, a `LineOfSight` test over remembered occupancy (`octree_sight`)
at least checks that nothing stands in front of the box.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from itertools import product

import numpy as np

from embodmem.octree import Octree
from embodmem.types import BBox3D, Pose, Vec3, quat_to_matrix

LineOfSight = Callable[[Vec3, Vec3], bool]
SIGHT_CONE_DEG = 2.0  # depth points this close to a ray (in angle) may answer for it
DEPTH_SLACK = 0.03  # m: depth noise and box jitter allowed when seeing through a point
# Box sample points in half-size units: the centre and the centres of the 8 octants.
_SAMPLES = np.array([(0.0, 0.0, 0.0), *product((-0.5, 0.5), repeat=3)])


def in_view(pose: Pose, points: np.ndarray, fov_deg: float, max_range: float) -> np.ndarray:
    """Mask of the points inside a camera's square view frustum (body x forward, z up)."""
    local = (points - np.asarray(pose.position)) @ quat_to_matrix(pose.orientation)
    ahead = local[:, 0]
    half = math.tan(math.radians(fov_deg) / 2)
    return (
        (ahead > 0)
        & (np.abs(local[:, 1]) <= ahead * half)
        & (np.abs(local[:, 2]) <= ahead * half)
        & ((local**2).sum(axis=1) <= max_range**2)
    )


def box_samples(box: BBox3D) -> np.ndarray:
    """(9, 3) points spread through a box: its centre and the centres of its 8 octants."""
    local = _SAMPLES * np.asarray(box.size) / 2
    if box.is_axis_aligned:
        return local + np.asarray(box.center)
    return local @ quat_to_matrix(box.rotation).T + np.asarray(box.center)


def ray_box_entry(origin: Vec3, targets: np.ndarray, box: BBox3D) -> np.ndarray:
    """Distance from `origin` at which the ray towards each target enters the box (slab test);
    0 for an origin inside the box, inf for a ray that misses it."""
    rot = np.eye(3) if box.is_axis_aligned else quat_to_matrix(box.rotation)
    o = (np.asarray(origin) - np.asarray(box.center)) @ rot
    d = (np.asarray(targets) - np.asarray(origin)) @ rot
    length = np.linalg.norm(d, axis=1, keepdims=True)
    d = d / np.where(length > 0, length, 1.0)
    half = np.asarray(box.size) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        t_a, t_b = (-half - o) / d, (half - o) / d
    inside = np.abs(o) <= half
    parallel = d == 0  # the ray stays in the slab on this axis iff the origin is in it
    near = np.where(parallel, np.where(inside, -np.inf, np.inf), np.minimum(t_a, t_b)).max(axis=1)
    far = np.where(parallel, np.where(inside, np.inf, -np.inf), np.maximum(t_a, t_b)).min(axis=1)
    return np.where(near <= far, np.maximum(near, 0.0), np.inf)


def seen_through(
    origin: Vec3,
    points: np.ndarray,
    targets: np.ndarray,
    cone_deg: float = SIGHT_CONE_DEG,
    slack: float = DEPTH_SLACK,
) -> np.ndarray:
    """Mask of the targets that a depth frame sees through: the frame's point nearest to the ray
    towards the target (within `cone_deg`) lies no nearer than the target (less `slack`). A ray
    with no point in its cone is not seen through (no evidence)."""
    rel = np.asarray(points, dtype=np.float64) - np.asarray(origin)
    aim = np.asarray(targets, dtype=np.float64) - np.asarray(origin)
    dist = np.linalg.norm(aim, axis=1)
    if not len(rel):
        return np.zeros(len(aim), bool)
    reach = np.maximum(np.sqrt(np.einsum("ij,ij->i", rel, rel)), 1e-12)
    cos = (rel @ (aim / np.maximum(dist, 1e-12)[:, None]).T) / reach[:, None]  # (points, targets)
    nearest = np.argmax(cos, axis=0)
    in_cone = cos[nearest, np.arange(len(aim))] >= math.cos(math.radians(cone_deg))
    return in_cone & (reach[nearest] >= dist - slack)


def octree_sight(octree: Octree) -> LineOfSight:
    """Line-of-sight test against an octree's occupancy: clear unless an occupied voxel is
    entered more than one voxel diagonal before the target (the voxel holding a surface at the
    target may begin up to that much earlier)."""
    slack = octree.resolution * math.sqrt(3)

    def clear(origin: Vec3, target: Vec3) -> bool:
        d = np.asarray(target, dtype=np.float64) - np.asarray(origin, dtype=np.float64)
        dist = float(np.sqrt(d @ d))
        return dist <= slack or octree.raycast(origin, d, dist - slack) is None

    return clear
