"""Small geometry helpers on THOR-frame data (left-handed, y up, yaw clockwise seen from above).

Object dicts are treated copy-on-write: moving an object replaces its position and box values
instead of mutating them, so shallow copies handed out in earlier events stay valid snapshots.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

CAMERA_HEIGHT = 0.675  # camera above the agent's position when standing (ai2thor 5.0.0)
AGENT_HEIGHT_ABOVE_FLOOR = 0.901  # agent position above the floor's top (recorded episodes)
HAND_OFFSET = (0.0, -0.16, 0.38)  # heldObjectPose.localPosition relative to the camera


def xyz(d: Mapping[str, float]) -> np.ndarray:
    """A THOR {"x","y","z"} dict as a (3,) array."""
    return np.array((d["x"], d["y"], d["z"]), dtype=np.float64)


def as_dict(v: Any) -> dict[str, float]:
    """A (3,) vector as a THOR {"x","y","z"} dict of Python floats."""
    return {"x": float(v[0]), "y": float(v[1]), "z": float(v[2])}


def camera_axes(yaw_deg: float, horizon_deg: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(right, up, forward) unit vectors of a THOR camera; positive horizon looks down."""
    t, h = math.radians(yaw_deg), math.radians(horizon_deg)
    st, ct, sh, ch = math.sin(t), math.cos(t), math.sin(h), math.cos(h)
    forward = np.array((st * ch, -sh, ct * ch))
    up = np.array((st * sh, ch, ct * sh))
    right = np.array((ct, 0.0, -st))
    return right, up, forward


def planar_direction(yaw_deg: float, right: float, ahead: float) -> np.ndarray:
    """Horizontal THOR (x, z) displacement for `ahead` metres forward and `right` to the right."""
    t = math.radians(yaw_deg)
    return np.array(
        (ahead * math.sin(t) + right * math.cos(t), ahead * math.cos(t) - right * math.sin(t))
    )


def hand_position(camera: np.ndarray, yaw_deg: float, horizon_deg: float) -> np.ndarray:
    """THOR position of the agent's hand: a fixed offset in the camera frame."""
    right, up, forward = camera_axes(yaw_deg, horizon_deg)
    return camera + HAND_OFFSET[0] * right + HAND_OFFSET[1] * up + HAND_OFFSET[2] * forward


def aabb(obj: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """(lo, hi) corners of an object's axis-aligned box (a point box at its position if absent)."""
    box = obj.get("axisAlignedBoundingBox") or {}
    pts = box.get("cornerPoints")
    if not pts:
        p = xyz(obj["position"])
        return p, p.copy()
    arr = np.asarray(pts, dtype=np.float64)
    return arr.min(axis=0), arr.max(axis=0)


def translated(obj: Mapping[str, Any], delta: np.ndarray) -> dict[str, Any]:
    """The fields of `obj` that change when translated by `delta` (new values, no mutation)."""
    out: dict[str, Any] = {"position": as_dict(xyz(obj["position"]) + delta)}
    box = obj.get("axisAlignedBoundingBox")
    if box and box.get("cornerPoints"):
        out["axisAlignedBoundingBox"] = {
            "cornerPoints": (np.asarray(box["cornerPoints"]) + delta).tolist(),
            "center": as_dict(xyz(box["center"]) + delta),
            "size": dict(box["size"]),
        }
    obox = obj.get("objectOrientedBoundingBox")
    if obox and obox.get("cornerPoints"):
        out["objectOrientedBoundingBox"] = {
            "cornerPoints": (np.asarray(obox["cornerPoints"]) + delta).tolist()
        }
    return out


def box_dict(lo: np.ndarray, hi: np.ndarray) -> dict[str, Any]:
    """A THOR axisAlignedBoundingBox dict for the box [lo, hi]."""
    corners = [[x, y, z] for x in (hi[0], lo[0]) for y in (hi[1], lo[1]) for z in (hi[2], lo[2])]
    return {
        "cornerPoints": np.asarray(corners, dtype=float).tolist(),
        "center": as_dict((lo + hi) / 2),
        "size": as_dict(hi - lo),
    }
