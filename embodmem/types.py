"""Plain typed records that flow into and out of the memory.

World frame: metres, right-handed, z up (ROS REP-103). Quaternions are (x, y, z, w). Time is
integer nanoseconds. Records validate themselves on construction and are immutable, so a record
that exists is a valid record.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from embodmem import validate as v
from embodmem.errors import ValidationError

Vec3 = tuple[float, float, float]
Quat = tuple[float, float, float, float]
IDENTITY_QUAT: Quat = (0.0, 0.0, 0.0, 1.0)
# The 35 ways to pick 3 of the 7 other corners; a box's edges are the one pairwise-orthogonal pick.
_EDGE_TRIPLES = np.array(list(itertools.combinations(range(7), 3)))


def quat_to_matrix(q: Quat) -> np.ndarray:
    """3x3 rotation matrix of a unit quaternion (x, y, z, w)."""
    x, y, z, w = q
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )


def matrix_to_quat(m: np.ndarray) -> Quat:
    """Unit quaternion (x, y, z, w) of a proper 3x3 rotation matrix, with w >= 0."""
    m = np.asarray(m, dtype=np.float64)
    trace = m[0, 0] + m[1, 1] + m[2, 2]
    if trace > 0:
        s = math.sqrt(trace + 1.0) * 2
        w, x = 0.25 * s, (m[2, 1] - m[1, 2]) / s
        y, z = (m[0, 2] - m[2, 0]) / s, (m[1, 0] - m[0, 1]) / s
    elif m[0, 0] > m[1, 1] and m[0, 0] > m[2, 2]:
        s = math.sqrt(1.0 + m[0, 0] - m[1, 1] - m[2, 2]) * 2
        w, x = (m[2, 1] - m[1, 2]) / s, 0.25 * s
        y, z = (m[0, 1] + m[1, 0]) / s, (m[0, 2] + m[2, 0]) / s
    elif m[1, 1] > m[2, 2]:
        s = math.sqrt(1.0 + m[1, 1] - m[0, 0] - m[2, 2]) * 2
        w, x = (m[0, 2] - m[2, 0]) / s, (m[0, 1] + m[1, 0]) / s
        y, z = 0.25 * s, (m[1, 2] + m[2, 1]) / s
    else:
        s = math.sqrt(1.0 + m[2, 2] - m[0, 0] - m[1, 1]) * 2
        w, x = (m[1, 0] - m[0, 1]) / s, (m[0, 2] + m[2, 0]) / s
        y, z = (m[1, 2] + m[2, 1]) / s, 0.25 * s
    q = np.array([x, y, z, w])
    q /= np.linalg.norm(q)
    if q[3] < 0:
        q = -q
    return (float(q[0]), float(q[1]), float(q[2]), float(q[3]))


def yaw_quat(yaw: float) -> Quat:
    """Quaternion of a rotation by `yaw` radians about +z."""
    return (0.0, 0.0, math.sin(yaw / 2), math.cos(yaw / 2))


def _canonical_frame(axes: np.ndarray) -> np.ndarray:
    """Right-handed rotation whose columns follow three (near-orthogonal) box edge directions,
    each edge matched to the world axis it is closest to, so an upright box keeps z up and a
    box aligned with the world gets exactly the identity."""
    remaining = list(range(3))
    cols: list[np.ndarray] = [np.zeros(3)] * 3
    for world_axis in (2, 0):
        best = max(remaining, key=lambda i: abs(axes[i][world_axis]))
        remaining.remove(best)
        a = axes[best] if axes[best][world_axis] >= 0 else -axes[best]
        cols[world_axis] = a
    z = cols[2] / np.linalg.norm(cols[2])
    x = cols[0] - z * (z @ cols[0])
    x /= np.linalg.norm(x)
    rot = np.stack([x, np.cross(z, x), z], axis=1)
    if np.allclose(rot, np.eye(3), atol=1e-9):
        return np.eye(3)
    return rot


@dataclass(frozen=True, slots=True)
class Pose:
    """A rigid pose in the world frame: position (m) and orientation quaternion (x, y, z, w)."""

    position: Vec3
    orientation: Quat = IDENTITY_QUAT

    def __post_init__(self) -> None:
        object.__setattr__(self, "position", v.vec3("pose.position", self.position))
        object.__setattr__(self, "orientation", v.quaternion("pose.orientation", self.orientation))

    @property
    def yaw(self) -> float:
        """Heading about +z in radians (atan2 of the rotated x axis)."""
        x, y, z, w = self.orientation
        return math.atan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z))

    def matrix(self) -> np.ndarray:
        """4x4 homogeneous transform world <- body."""
        out = np.eye(4)
        out[:3, :3] = quat_to_matrix(self.orientation)
        out[:3, 3] = self.position
        return out


@dataclass(frozen=True, slots=True)
class BBox3D:
    """A box: centre, edge lengths along its own axes, rotation (identity = axis-aligned)."""

    center: Vec3
    size: Vec3
    rotation: Quat = IDENTITY_QUAT

    def __post_init__(self) -> None:
        object.__setattr__(self, "center", v.vec3("bbox.center", self.center))
        size = v.vec3("bbox.size", self.size)
        if min(size) < 0:
            raise ValidationError("bbox.size", self.size, "box sizes must be >= 0")
        object.__setattr__(self, "size", size)
        object.__setattr__(self, "rotation", v.quaternion("bbox.rotation", self.rotation))

    @property
    def is_axis_aligned(self) -> bool:
        x, y, z, _ = self.rotation
        return abs(x) < 1e-9 and abs(y) < 1e-9 and abs(z) < 1e-9

    @classmethod
    def from_min_max(cls, lo: Sequence[float], hi: Sequence[float]) -> BBox3D:
        """Axis-aligned box between two corners."""
        lo3, hi3 = v.vec3("bbox.min", lo), v.vec3("bbox.max", hi)
        if any(h < lo_ for lo_, h in zip(lo3, hi3, strict=True)):
            raise ValidationError("bbox.max", hi, f"must be >= bbox.min {lo3} on every axis")
        center = tuple((a + b) / 2 for a, b in zip(lo3, hi3, strict=True))
        size = tuple(b - a for a, b in zip(lo3, hi3, strict=True))
        return cls(center, size)  # type: ignore[arg-type]

    @classmethod
    def from_points(cls, points: Any) -> BBox3D:
        """Axis-aligned box around a point set."""
        arr, _ = v.points_array("bbox.points", points)
        if len(arr) == 0:
            raise ValidationError("bbox.points", "empty", "need at least one point")
        return cls.from_min_max(arr.min(axis=0), arr.max(axis=0))

    @classmethod
    def from_corners(cls, corners: Any) -> BBox3D:
        """Oriented box from its 8 corner points, in any order and any handedness.

        The box axes are the three pairwise-orthogonal edges that leave the first corner.
        A reflected corner set (as from a left-handed source) yields a proper rotation.
        """
        arr, _ = v.points_array("bbox.corners", corners)
        if arr.shape[0] != 8:
            raise ValidationError("bbox.corners", f"{arr.shape[0]} points", "expected 8 corners")
        center = arr.mean(axis=0)
        d = arr[1:] - arr[0]
        lengths = np.linalg.norm(d, axis=1)
        if np.sort(lengths)[2] < 1e-9:
            return cls.from_points(arr)
        unit = d / np.maximum(lengths, 1e-12)[:, None]
        cos = np.abs(unit @ unit.T)
        combos = _EDGE_TRIPLES
        worst = np.max(
            np.stack(
                [
                    cos[combos[:, 0], combos[:, 1]],
                    cos[combos[:, 0], combos[:, 2]],
                    cos[combos[:, 1], combos[:, 2]],
                ]
            ),
            axis=0,
        )
        worst = np.where(lengths[combos].min(axis=1) < 1e-9, np.inf, worst)
        if not np.isfinite(worst.min()):
            return cls.from_points(arr)
        axes = unit[combos[int(np.argmin(worst))]]
        rot = _canonical_frame(axes)
        local = (arr - center) @ rot
        size = local.max(axis=0) - local.min(axis=0)
        if np.allclose(rot, np.eye(3), atol=1e-9):
            return cls(tuple(center), tuple(size))  # type: ignore[arg-type]
        return cls(tuple(center), tuple(size), matrix_to_quat(rot))  # type: ignore[arg-type]

    def corners(self) -> np.ndarray:
        """(8, 3) corner points."""
        half = np.asarray(self.size) / 2
        signs = np.array([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)])
        local = signs * half
        if self.is_axis_aligned:
            return local + np.asarray(self.center)
        return local @ quat_to_matrix(self.rotation).T + np.asarray(self.center)

    def min_max(self) -> tuple[np.ndarray, np.ndarray]:
        """Axis-aligned bounds (lo, hi) of the box."""
        if self.is_axis_aligned:
            c, h = np.asarray(self.center), np.asarray(self.size) / 2
            return c - h, c + h
        pts = self.corners()
        return pts.min(axis=0), pts.max(axis=0)

    def axis_aligned(self) -> BBox3D:
        """The axis-aligned box that bounds this one."""
        if self.is_axis_aligned:
            return self
        lo, hi = self.min_max()
        return BBox3D.from_min_max(lo, hi)


@dataclass(frozen=True, slots=True)
class ObjectObservation:
    """One detected object in one observation.

    `id_hint` is a stable source id when the source has one (e.g. THOR's objectId); `states` are
    dynamic flags (isOpen, temperature...), `attributes` static properties (pickupable,
    receptacle...). At least one of `position` and `bbox` is required; a missing position is the
    box centre.
    """

    label: str
    position: Vec3 | None = None
    bbox: BBox3D | None = None
    states: Mapping[str, Any] = field(default_factory=dict)
    confidence: float = 1.0
    id_hint: str | None = None
    embedding: tuple[float, ...] | None = None
    attributes: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "label", v.nonempty_str("object.label", self.label))
        if self.bbox is not None and not isinstance(self.bbox, BBox3D):
            raise ValidationError("object.bbox", self.bbox, "expected a BBox3D or None")
        if self.position is None:
            if self.bbox is None:
                raise ValidationError("object.position", None, "need a position or a bbox")
            object.__setattr__(self, "position", self.bbox.center)
        else:
            object.__setattr__(self, "position", v.vec3("object.position", self.position))
        object.__setattr__(self, "states", v.json_mapping("object.states", self.states))
        object.__setattr__(self, "attributes", v.json_mapping("object.attributes", self.attributes))
        conf = v.finite_float("object.confidence", self.confidence)
        if not 0.0 <= conf <= 1.0:
            raise ValidationError("object.confidence", self.confidence, "must be in [0, 1]")
        object.__setattr__(self, "confidence", conf)
        if self.id_hint is not None:
            v.nonempty_str("object.id_hint", self.id_hint)
        if self.embedding is not None:
            object.__setattr__(self, "embedding", v.vector("object.embedding", self.embedding))


@dataclass(frozen=True, slots=True)
class Observation:
    """Everything an agent perceived at one instant.

    `points` (N, 3) in the world frame may come with `point_object_index` (N,) giving, per point,
    the index into `objects` it belongs to (-1 for none). `region` names the room the agent is in
    when the source knows it (e.g. "kitchen"); `action` is the action that preceded this
    observation, recorded as the cause of any state change it reveals.
    """

    time_ns: int
    objects: tuple[ObjectObservation, ...] = ()
    agent_pose: Pose | None = None
    points: np.ndarray | None = None
    point_object_index: np.ndarray | None = None
    frame_id: str = "world"
    region: str | None = None
    action: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "time_ns", v.time_ns("observation.time_ns", self.time_ns))
        if isinstance(self.objects, (str, bytes, Mapping)):
            raise ValidationError("observation.objects", self.objects, "expected a sequence")
        try:
            objects = tuple(self.objects)
        except TypeError:
            raise ValidationError(
                "observation.objects", self.objects, "expected a sequence"
            ) from None
        for i, obj in enumerate(objects):
            if not isinstance(obj, ObjectObservation):
                raise ValidationError(
                    f"observation.objects[{i}]", obj, "expected ObjectObservation"
                )
        object.__setattr__(self, "objects", objects)
        if self.agent_pose is not None and not isinstance(self.agent_pose, Pose):
            raise ValidationError("observation.agent_pose", self.agent_pose, "expected a Pose")
        if not isinstance(self.frame_id, str) or self.frame_id != "world":
            raise ValidationError(
                "observation.frame_id",
                self.frame_id,
                "only 'world' frame observations are accepted",
            )
        if self.region is not None:
            v.nonempty_str("observation.region", self.region)
        if self.action is not None:
            v.nonempty_str("observation.action", self.action)
        if self.points is not None:
            pts, _ = v.points_array("observation.points", self.points)
            object.__setattr__(self, "points", pts)
            if self.point_object_index is not None:
                try:
                    idx = np.asarray(self.point_object_index)
                except (TypeError, ValueError, OverflowError):
                    raise ValidationError(
                        "observation.point_object_index", "value", "expected (N,) integers"
                    ) from None
                if idx.shape != (len(pts),) or not np.issubdtype(idx.dtype, np.integer):
                    raise ValidationError(
                        "observation.point_object_index",
                        f"shape {idx.shape} dtype {idx.dtype}",
                        f"expected ({len(pts)},) integers",
                    )
                if len(idx) and (idx.min() < -1 or idx.max() >= len(objects)):
                    raise ValidationError(
                        "observation.point_object_index",
                        f"range [{idx.min()}, {idx.max()}]",
                        f"indices must be in [-1, {len(objects) - 1}]",
                    )
                object.__setattr__(self, "point_object_index", idx.astype(np.int64))
        elif self.point_object_index is not None:
            raise ValidationError("observation.point_object_index", "array", "given without points")


@dataclass(frozen=True, slots=True)
class ObjectState:
    """An object's remembered state at one time: where it was and what its flags were."""

    node_id: str
    label: str
    position: Vec3
    states: Mapping[str, Any]
    time_ns: int
    source_id: str | None = None


@dataclass(frozen=True, slots=True)
class StateChange:
    """One field of one object changed between two observations (moved, opened, picked up...).

    `field` is the source's field name ("isOpen", "position", "parentReceptacles"...); `cause` is
    the action that preceded the observation, when known.
    """

    node_id: str
    field: str
    before: Any
    after: Any
    time_ns: int
    source_id: str | None = None
    label: str | None = None
    cause: str | None = None


@dataclass(frozen=True, slots=True)
class Action:
    """An agent action: a name and its keyword arguments (THOR style: objectId=...)."""

    name: str
    args: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        v.nonempty_str("action.name", self.name)
        object.__setattr__(self, "args", v.json_mapping("action.args", self.args))
