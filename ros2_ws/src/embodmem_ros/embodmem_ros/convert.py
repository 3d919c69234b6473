"""embodmem records -> ROS messages, and service requests -> memory calls.

The reading direction (messages -> records) lives in `embodmem.ros_messages`, which needs no ROS,
so bags are read the same way without it. JSON fields go through orjson (shortest round-trip
floats), float64 fields stay float64, so a record survives record -> message -> record
bit-exact. PointCloud2 packing is plain numpy (sensor_msgs_py is not on PyPI).
"""

from __future__ import annotations

import array
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
from sensor_msgs.msg import PointCloud2, PointField
from std_msgs.msg import Header

from embodmem.errors import ValidationError
from embodmem.retrieval import MemoryHit
from embodmem.ros_messages import FIELD_TYPES, INDEX_FIELD, NS, stamp_to_ns
from embodmem.types import ObjectObservation, ObjectState, Observation, Pose, StateChange

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
DEFAULT_BUDGET = 1500  # tokens of GetContext when the request says 0
DEFAULT_K = 10  # hits of QueryMemory when the request says 0


# ---------------------------------------------------------------------- time, frames, poses
def ns_to_stamp(ns: int) -> Time:
    """Integer nanoseconds -> builtin_interfaces/Time (int32 seconds, as ROS has them)."""
    sec, nanosec = divmod(int(ns), NS)
    if not INT32_MIN <= sec <= INT32_MAX:
        raise ValidationError("stamp", ns, "beyond builtin_interfaces/Time (int32 seconds)")
    return Time(sec=sec, nanosec=nanosec)


def pose_to_msg(pose: Pose) -> PoseMsg:
    """`Pose` -> geometry_msgs/Pose."""
    (x, y, z), (qx, qy, qz, qw) = pose.position, pose.orientation
    return PoseMsg(position=Point(x=x, y=y, z=z), orientation=Quaternion(x=qx, y=qy, z=qz, w=qw))


def point(xyz: Any) -> Point:
    """A 3-sequence -> geometry_msgs/Point."""
    x, y, z = map(float, xyz)
    return Point(x=x, y=y, z=z)


# ---------------------------------------------------------------------------- JSON fields
def dumps(value: Any) -> str:
    """JSON text of a value (shortest round-trip floats; dataclasses as objects)."""
    return orjson.dumps(value).decode()


# ------------------------------------------------------------------------- point clouds
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
    names, formats = ["x", "y", "z"], ["<" + FIELD_TYPES[kind]] * 3
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


# --------------------------------------------------------------------------- detections out
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
