"""ROS messages <-> embodmem records: the one place the two vocabularies meet.

Every `*_from_msg` checks its message through embodmem's own validating records and raises
`ValidationError` naming the message field (`objects[3]/object.position`); nothing here keeps
state or holds memory logic. JSON fields go through orjson (shortest round-trip floats), float64
fields stay float64, so a record survives record -> message -> record bit-exact. PointCloud2
packing is plain numpy (sensor_msgs_py is not on PyPI).
"""

from __future__ import annotations

import array
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import orjson
from builtin_interfaces.msg import Time
from embodmem_interfaces.msg import MemoryHit as MemoryHitMsg
from embodmem_interfaces.msg import ObjectObservation as ObjectObservationMsg
from embodmem_interfaces.msg import ObjectObservationArray, SceneGraphEdge
from embodmem_interfaces.msg import ObjectState as ObjectStateMsg
from embodmem_interfaces.msg import StateChange as StateChangeMsg
from embodmem_interfaces.srv import GetContext, QueryMemory
from geometry_msgs.msg import Point, Quaternion, Vector3
from geometry_msgs.msg import Pose as PoseMsg
from nav_msgs.msg import Odometry
from sensor_msgs.msg import PointCloud2, PointField
from std_msgs.msg import Header

from embodmem import validate as v
from embodmem.errors import ValidationError
from embodmem.retrieval import MemoryHit
from embodmem.types import BBox3D, ObjectObservation, ObjectState, Observation, Pose, StateChange

NS = 10**9
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
MAX_JSON_CHARS = 1 << 20  # per JSON string field of a message
DEFAULT_BUDGET = 1500  # tokens of GetContext when the request says 0
DEFAULT_K = 10  # hits of QueryMemory when the request says 0
INDEX_FIELD = "object_index"  # PointCloud2 field: index into the message's objects, -1 for none
# PointField datatype -> numpy type (without byte order).
_FIELD_TYPES = {
    PointField.INT8: "i1",
    PointField.UINT8: "u1",
    PointField.INT16: "i2",
    PointField.UINT16: "u2",
    PointField.INT32: "i4",
    PointField.UINT32: "u4",
    PointField.FLOAT32: "f4",
    PointField.FLOAT64: "f8",
}
_FLOAT_TYPES = {PointField.FLOAT32, PointField.FLOAT64}
_INT_TYPES = set(_FIELD_TYPES) - _FLOAT_TYPES


@contextmanager
def field_prefix(where: str) -> Iterator[None]:
    """Re-raise a `ValidationError` with the message field it came from in front of its field."""
    try:
        yield
    except ValidationError as exc:
        raise type(exc)(f"{where}/{exc.field}", exc.value, exc.reason) from None


# ---------------------------------------------------------------------- time, frames, poses
def stamp_to_ns(stamp: Time, field: str = "header.stamp") -> int:
    """builtin_interfaces/Time -> integer nanoseconds (nanosec must be below one second)."""
    if not 0 <= stamp.nanosec < NS:
        raise ValidationError(f"{field}.nanosec", stamp.nanosec, "expected 0 <= nanosec < 1e9")
    return stamp.sec * NS + stamp.nanosec


def ns_to_stamp(ns: int) -> Time:
    """Integer nanoseconds -> builtin_interfaces/Time (int32 seconds, as ROS has them)."""
    sec, nanosec = divmod(int(ns), NS)
    if not INT32_MIN <= sec <= INT32_MAX:
        raise ValidationError("stamp", ns, "beyond builtin_interfaces/Time (int32 seconds)")
    return Time(sec=sec, nanosec=nanosec)


def check_frame(frame_id: str, world_frame: str, field: str = "header.frame_id") -> None:
    """Accept only the memory's world frame (a leading '/' aside): no TF lookups are made."""
    if frame_id.lstrip("/") != world_frame.lstrip("/"):
        raise ValidationError(
            field, frame_id, f"expected the memory's world frame {world_frame!r} (no TF lookups)"
        )


def pose_from_msg(msg: PoseMsg, field: str) -> Pose:
    """geometry_msgs/Pose -> `Pose` (finite, within the memory's coordinate range)."""
    p, q = msg.position, msg.orientation
    return Pose(
        v.vec3(f"{field}.position", (p.x, p.y, p.z)),
        v.quaternion(f"{field}.orientation", (q.x, q.y, q.z, q.w)),
    )


def pose_to_msg(pose: Pose) -> PoseMsg:
    """`Pose` -> geometry_msgs/Pose."""
    (x, y, z), (qx, qy, qz, qw) = pose.position, pose.orientation
    return PoseMsg(position=Point(x=x, y=y, z=z), orientation=Quaternion(x=qx, y=qy, z=qz, w=qw))


def pose_from_odometry(msg: Odometry, world_frame: str) -> Pose:
    """The pose of a nav_msgs/Odometry in the world frame."""
    check_frame(msg.header.frame_id, world_frame)
    return pose_from_msg(msg.pose.pose, "pose.pose")


def point(xyz: Any) -> Point:
    """A 3-sequence -> geometry_msgs/Point."""
    x, y, z = map(float, xyz)
    return Point(x=x, y=y, z=z)


# ---------------------------------------------------------------------------- JSON fields
def dumps(value: Any) -> str:
    """JSON text of a value (shortest round-trip floats; dataclasses as objects)."""
    return orjson.dumps(value).decode()


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
    cloud: PointCloud2, max_points: int, with_index: bool = True
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
        fmt = np.dtype(order + _FIELD_TYPES[f.datatype])
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


def points_to_cloud(
    points: np.ndarray,
    header: Header,
    object_index: np.ndarray | None = None,
    dtype: type = np.float32,
) -> PointCloud2:
    """(N, 3) points (+ optional int32 object indices) -> an unorganised, little-endian
    PointCloud2; `dtype` float32 (the usual) or float64 (bit-exact)."""
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    kind = PointField.FLOAT32 if np.dtype(dtype) == np.float32 else PointField.FLOAT64
    names, formats = ["x", "y", "z"], ["<" + _FIELD_TYPES[kind]] * 3
    if object_index is not None:
        names.append(INDEX_FIELD)
        formats.append("<i4")
    layout = np.dtype({"names": names, "formats": formats})
    records = np.empty(len(pts), layout)
    for i, axis in enumerate("xyz"):
        records[axis] = pts[:, i]
    if object_index is not None:
        records[INDEX_FIELD] = np.asarray(object_index)
    fields = [
        PointField(
            name=name,
            offset=layout.fields[name][1],
            datatype=PointField.INT32 if name == INDEX_FIELD else kind,
            count=1,
        )
        for name in names
    ]
    return PointCloud2(
        header=header,
        height=1,
        width=len(pts),
        fields=fields,
        is_bigendian=False,
        point_step=layout.itemsize,
        row_step=layout.itemsize * len(pts),
        is_dense=bool(np.isfinite(pts).all()),
        data=array.array("B", records.tobytes()),
    )


# ------------------------------------------------------------------ detections in and out
def object_from_msg(msg: ObjectObservationMsg) -> ObjectObservation:
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


def object_to_msg(obj: ObjectObservation) -> ObjectObservationMsg:
    """`ObjectObservation` -> embodmem_interfaces/ObjectObservation."""
    msg = ObjectObservationMsg(
        label=obj.label,
        id_hint=obj.id_hint or "",
        position=point(obj.position),
        confidence=obj.confidence,
        states_json=dumps(obj.states),
        attributes_json=dumps(obj.attributes),
        embedding=array.array("d", obj.embedding or ()),
    )
    if obj.bbox is not None:
        msg.has_bbox = True
        msg.bbox_pose = pose_to_msg(Pose(obj.bbox.center, obj.bbox.rotation))
        sx, sy, sz = obj.bbox.size
        msg.bbox_size = Vector3(x=sx, y=sy, z=sz)
    return msg


def observation_from_msg(
    msg: ObjectObservationArray,
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


def observation_to_msg(
    obs: Observation, frame_id: str, points_dtype: type = np.float64
) -> ObjectObservationArray:
    """`Observation` -> embodmem_interfaces/ObjectObservationArray (points as float64 by
    default, so the message holds the observation exactly)."""
    header = Header(stamp=ns_to_stamp(obs.time_ns), frame_id=frame_id)
    msg = ObjectObservationArray(
        header=header,
        objects=[object_to_msg(o) for o in obs.objects],
        region=obs.region or "",
        action=obs.action or "",
    )
    if obs.agent_pose is not None:
        msg.has_agent_pose = True
        msg.agent_pose = pose_to_msg(obs.agent_pose)
    if obs.points is not None:
        msg.points = points_to_cloud(obs.points, header, obs.point_object_index, points_dtype)
    return msg


# ------------------------------------------------------------------------ memory records out
def hit_to_msg(hit: MemoryHit) -> MemoryHitMsg:
    """`MemoryHit` -> embodmem_interfaces/MemoryHit."""
    return MemoryHitMsg(
        node_id=hit.node_id,
        label=hit.label,
        source_id=hit.source_id or "",
        position=point(hit.position),
        states_json=dumps(hit.states),
        score=float(hit.score),
        why=list(hit.why),
        last_seen=ns_to_stamp(hit.last_seen_ns),
    )


def state_to_msg(state: ObjectState) -> ObjectStateMsg:
    """`ObjectState` -> embodmem_interfaces/ObjectState."""
    return ObjectStateMsg(
        node_id=state.node_id,
        label=state.label,
        source_id=state.source_id or "",
        position=point(state.position),
        states_json=dumps(state.states),
        stamp=ns_to_stamp(state.time_ns),
    )


def change_to_msg(change: StateChange) -> StateChangeMsg:
    """`StateChange` -> embodmem_interfaces/StateChange."""
    return StateChangeMsg(
        stamp=ns_to_stamp(change.time_ns),
        node_id=change.node_id,
        source_id=change.source_id or "",
        label=change.label or "",
        field=change.field,
        before_json=dumps(change.before),
        after_json=dumps(change.after),
        cause=change.cause or "",
    )


def edge_to_msg(source: str, target: str, kind: str, attributes: dict[str, Any]) -> SceneGraphEdge:
    """One scene-graph edge -> embodmem_interfaces/SceneGraphEdge."""
    return SceneGraphEdge(
        source=source, target=target, kind=kind, attributes_json=dumps(attributes)
    )


# -------------------------------------------------------------------------- service requests
def query_kwargs(req: QueryMemory.Request) -> dict[str, Any]:
    """QueryMemory request -> keyword arguments of `EmbodiedMemory.query` (0 and "" mean unset;
    embodmem checks the rest)."""
    near: Any = None
    if req.use_near:
        p = req.near_point
        near = req.near_node_id or (p.x, p.y, p.z)
    return {
        "text": req.text or None,
        "near": near,
        "radius": req.radius if req.radius != 0 else None,
        "since": stamp_to_ns(req.since, "since") if req.use_since else None,
        "until": stamp_to_ns(req.until, "until") if req.use_until else None,
        "labels": list(req.labels) or None,
        "k": req.k or DEFAULT_K,
    }


def context_kwargs(req: GetContext.Request) -> dict[str, Any]:
    """GetContext request -> keyword arguments of `EmbodiedMemory.context`."""
    budget = req.budget_tokens
    return {
        "task": req.task,
        "budget_tokens": DEFAULT_BUDGET if budget == 0 else None if budget < 0 else budget,
        "mode": req.mode or "collapsed",
        "expanded": list(req.expanded),
    }
