"""Reading ROS 2 messages into embodmem records, with no ROS import.

The readers go by field name only, so they take rclpy's generated messages (the memory server)
and the ones `rosbags` deserializes from a bag (`embodmem ingest-bag`) alike: one reading of the
wire vocabulary for both. Every reader checks through embodmem's validating records and raises
`ValidationError` naming the message field (`objects[3]/object.position`). `MessageReader` is the
one piece of state a robot stream needs: the latest odometry pose, for detections without one.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from embodmem import validate as v
from embodmem.errors import ValidationError
from embodmem.types import BBox3D, ObjectObservation, Observation, Pose

NS = 10**9
MAX_JSON_CHARS = 1 << 20  # per JSON string field of a message
INDEX_FIELD = "object_index"  # PointCloud2 field: index into the message's objects, -1 for none
# sensor_msgs/PointField datatype constants -> numpy type (without byte order).
INT8, UINT8, INT16, UINT16, INT32, UINT32, FLOAT32, FLOAT64 = range(1, 9)
FIELD_TYPES = {
    INT8: "i1",
    UINT8: "u1",
    INT16: "i2",
    UINT16: "u2",
    INT32: "i4",
    UINT32: "u4",
    FLOAT32: "f4",
    FLOAT64: "f8",
}
_FLOAT_TYPES = {FLOAT32, FLOAT64}
_INT_TYPES = set(FIELD_TYPES) - _FLOAT_TYPES
# Defaults of the memory server's limits (its parameters).
MAX_OBJECTS = 1000
MAX_POINTS = 2_000_000


@contextmanager
def field_prefix(where: str) -> Iterator[None]:
    """Re-raise a `ValidationError` with the message field it came from in front of its field."""
    try:
        yield
    except ValidationError as exc:
        raise type(exc)(f"{where}/{exc.field}", exc.value, exc.reason) from None


# ---------------------------------------------------------------------- time, frames, poses
def stamp_to_ns(stamp: Any, field: str = "header.stamp") -> int:
    """builtin_interfaces/Time -> integer nanoseconds (nanosec must be below one second)."""
    if not 0 <= stamp.nanosec < NS:
        raise ValidationError(f"{field}.nanosec", stamp.nanosec, "expected 0 <= nanosec < 1e9")
    return stamp.sec * NS + stamp.nanosec


def check_frame(frame_id: str, world_frame: str, field: str = "header.frame_id") -> None:
    """Accept only the memory's world frame (a leading '/' aside): no TF lookups are made."""
    if frame_id.lstrip("/") != world_frame.lstrip("/"):
        raise ValidationError(
            field, frame_id, f"expected the memory's world frame {world_frame!r} (no TF lookups)"
        )


def pose_from_msg(msg: Any, field: str) -> Pose:
    """geometry_msgs/Pose -> `Pose` (finite, within the memory's coordinate range)."""
    p, q = msg.position, msg.orientation
    return Pose(
        v.vec3(f"{field}.position", (p.x, p.y, p.z)),
        v.quaternion(f"{field}.orientation", (q.x, q.y, q.z, q.w)),
    )


def pose_from_odometry(msg: Any, world_frame: str) -> Pose:
    """The pose of a nav_msgs/Odometry in the world frame."""
    check_frame(msg.header.frame_id, world_frame)
    return pose_from_msg(msg.pose.pose, "pose.pose")


# ---------------------------------------------------------------------------- JSON fields
def json_object(text: str, field: str) -> dict[str, Any]:
    """A JSON object from a message string field ("" means {})."""
    if not text:
        return {}
    if len(text) > MAX_JSON_CHARS:
        raise ValidationError(field, f"{len(text)} characters", f"at most {MAX_JSON_CHARS}")
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise ValidationError(field, text[:80], f"not JSON ({exc})") from None
    if not isinstance(value, dict):
        raise ValidationError(field, text[:80], "expected a JSON object")
    return value


# ------------------------------------------------------------------------- point clouds
def cloud_to_points(
    cloud: Any, max_points: int, with_index: bool = True
) -> tuple[np.ndarray, np.ndarray | None]:
    """PointCloud2 -> ((N, 3) float64 points, (N,) int64 object indices or None).

    x, y, z may be float32 or float64; non-finite points (invalid depth) are dropped, as is
    usual for organised clouds. The `object_index` field is read when `with_index`.
    """
    n = cloud.width * cloud.height
    if n == 0:
        return np.empty((0, 3)), None
    if n > max_points:
        raise ValidationError("points", f"{n} points", f"at most {max_points} per cloud")
    fields = {f.name: f for f in cloud.fields}
    names = ["x", "y", "z"] + ([INDEX_FIELD] if with_index and INDEX_FIELD in fields else [])
    order = ">" if cloud.is_bigendian else "<"
    formats = []
    for name in names:
        f = fields.get(name)
        if f is None:
            raise ValidationError("points.fields", sorted(fields), f"no field {name!r}")
        allowed = _INT_TYPES if name == INDEX_FIELD else _FLOAT_TYPES
        if f.datatype not in allowed:
            raise ValidationError(f"points.fields.{name}.datatype", f.datatype, "unsupported")
        fmt = np.dtype(order + FIELD_TYPES[f.datatype])
        if f.count > 1 or f.offset + fmt.itemsize > cloud.point_step:
            raise ValidationError(f"points.fields.{name}", f.offset, "outside the point step")
        formats.append(fmt)
    if cloud.row_step < cloud.point_step * cloud.width:
        raise ValidationError("points.row_step", cloud.row_step, "shorter than width points")
    size = cloud.row_step * cloud.height
    if len(cloud.data) < size:
        raise ValidationError("points.data", f"{len(cloud.data)} bytes", f"expected {size}")
    layout = np.dtype(
        {
            "names": names,
            "formats": formats,
            "offsets": [fields[name].offset for name in names],
            "itemsize": cloud.point_step,
        }
    )
    rows = np.frombuffer(cloud.data, np.uint8, count=size).reshape(cloud.height, cloud.row_step)
    packed = np.ascontiguousarray(rows[:, : cloud.point_step * cloud.width])
    records = packed.view(layout).reshape(n)
    xyz = np.stack([records["x"], records["y"], records["z"]], axis=1).astype(np.float64)
    finite = np.isfinite(xyz).all(axis=1)
    index = records[INDEX_FIELD].astype(np.int64) if INDEX_FIELD in names else None
    if not finite.all():
        xyz = xyz[finite]
        index = index[finite] if index is not None else None
    return xyz, index


# ------------------------------------------------------------------------------ detections
def object_from_msg(msg: Any) -> ObjectObservation:
    """embodmem_interfaces/ObjectObservation -> `ObjectObservation`."""
    bbox = None
    if msg.has_bbox:
        c, q, s = msg.bbox_pose.position, msg.bbox_pose.orientation, msg.bbox_size
        bbox = BBox3D((c.x, c.y, c.z), (s.x, s.y, s.z), (q.x, q.y, q.z, q.w))
    p = msg.position
    return ObjectObservation(
        label=msg.label,
        position=(p.x, p.y, p.z),
        bbox=bbox,
        states=json_object(msg.states_json, "states_json"),
        confidence=msg.confidence,
        id_hint=msg.id_hint or None,
        embedding=tuple(msg.embedding) if len(msg.embedding) else None,
        attributes=json_object(msg.attributes_json, "attributes_json"),
    )


def observation_from_msg(
    msg: Any,
    world_frame: str,
    fallback_pose: Pose | None,
    max_objects: int,
    max_points: int,
) -> Observation:
    """embodmem_interfaces/ObjectObservationArray -> `Observation`; `fallback_pose` (the latest
    odometry) is the agent pose of a message that carries none."""
    check_frame(msg.header.frame_id, world_frame)
    time_ns = stamp_to_ns(msg.header.stamp)
    if len(msg.objects) > max_objects:
        raise ValidationError("objects", f"{len(msg.objects)} objects", f"at most {max_objects}")
    objects = []
    for i, obj in enumerate(msg.objects):
        with field_prefix(f"objects[{i}]"):
            objects.append(object_from_msg(obj))
    pose = pose_from_msg(msg.agent_pose, "agent_pose") if msg.has_agent_pose else fallback_pose
    points, index = cloud_to_points(msg.points, max_points)
    with field_prefix("observation"):
        return Observation(
            time_ns=time_ns,
            objects=tuple(objects),
            agent_pose=pose,
            points=points if len(points) else None,
            point_object_index=index if len(points) else None,
            region=msg.region or None,
            action=msg.action or None,
        )


def points_from_msg(cloud: Any, world_frame: str, max_points: int) -> Observation:
    """sensor_msgs/PointCloud2 -> an `Observation` of its points only (occupancy); a cloud with
    no finite point is refused."""
    check_frame(cloud.header.frame_id, world_frame)
    points, _ = cloud_to_points(cloud, max_points, with_index=False)
    if not len(points):
        raise ValidationError("points", "0 finite points", "empty cloud")
    return Observation(stamp_to_ns(cloud.header.stamp), points=points)


@dataclass
class MessageReader:
    """A robot's three streams read into observations: detections and point clouds become
    `Observation`s; odometry sets the pose of later detections that carry none."""

    world_frame: str = "map"
    max_objects: int = MAX_OBJECTS
    max_points: int = MAX_POINTS
    pose: Pose | None = None  # the latest odometry pose

    def detections(self, msg: Any) -> Observation:
        """embodmem_interfaces/ObjectObservationArray -> `Observation`."""
        return observation_from_msg(
            msg, self.world_frame, self.pose, self.max_objects, self.max_points
        )

    def points(self, msg: Any) -> Observation:
        """sensor_msgs/PointCloud2 -> `Observation` of its points."""
        return points_from_msg(msg, self.world_frame, self.max_points)

    def odometry(self, msg: Any) -> None:
        """nav_msgs/Odometry -> the pose of later detections (a bad one changes nothing)."""
        self.pose = pose_from_odometry(msg, self.world_frame)
