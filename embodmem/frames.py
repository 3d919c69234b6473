"""Frame conversions into the world frame (metres, right-handed, z up, ROS REP-103).

AI2-THOR (Unity) is left-handed and y-up: x right, y up, z forward. We map a THOR vector with

    (x, y, z)_thor  ->  (z, -x, y)_world

so THOR's forward becomes +x, its right becomes -y (ROS's y points left) and up stays up. The map
has determinant -1: it is a reflection, not a rotation. Points and directions convert with the
matrix `THOR_TO_WORLD`; a rotation R_thor converts by conjugation M R M^T, which is again a proper
rotation; boxes convert corner by corner (`BBox3D.from_corners` restores a right-handed frame).
A THOR yaw of theta degrees (clockwise seen from above) is a world yaw of -theta; a THOR camera
horizon of h degrees (positive looks down) is a world pitch of +h.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from embodmem.errors import ValidationError
from embodmem.types import BBox3D, Pose, Quat, Vec3, matrix_to_quat, quat_to_matrix
from embodmem.validate import MAX_COORDINATE, coordinate, finite_float, points_array

THOR_TO_WORLD = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
WORLD_TO_THOR = THOR_TO_WORLD.T


def thor_to_world(points: Any) -> np.ndarray:
    """Convert THOR points (..., 3) to world points (..., 3)."""
    return np.asarray(points, dtype=np.float64) @ THOR_TO_WORLD.T


def world_to_thor(points: Any) -> np.ndarray:
    """Convert world points (..., 3) back to THOR points (..., 3)."""
    return np.asarray(points, dtype=np.float64) @ WORLD_TO_THOR.T


def thor_xyz(field: str, value: Any) -> Vec3:
    """World point of a THOR `{"x", "y", "z"}` dict; names the field when a key is missing."""
    if not isinstance(value, Mapping):
        raise ValidationError(field, value, "expected a mapping with keys x, y, z")
    try:
        x, y, z = (value[k] for k in ("x", "y", "z"))
    except KeyError as exc:
        raise ValidationError(field, value, f"missing key {exc.args[0]!r}") from None
    x, y, z = (coordinate(f"{field}.{k}", c) for k, c in zip("xyz", (x, y, z), strict=True))
    return (z, -x, y)


def world_to_thor_xyz(point: Vec3) -> dict[str, float]:
    """THOR `{"x", "y", "z"}` dict of a world point (inverse of `thor_xyz`)."""
    x, y, z = point
    return {"x": -y, "y": z, "z": x}


def unity_euler_matrix(rx: float, ry: float, rz: float) -> np.ndarray:
    """THOR-frame rotation matrix of Unity Euler angles in degrees (applied z, then x, then y)."""
    ax, ay, az = (math.radians(a) for a in (rx, ry, rz))
    cx, sx, cy, sy, cz, sz = (
        math.cos(ax),
        math.sin(ax),
        math.cos(ay),
        math.sin(ay),
        math.cos(az),
        math.sin(az),
    )
    rot_x = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    rot_y = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rot_z = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    return rot_y @ rot_x @ rot_z


def thor_rotation_to_world(rotation: Mapping[str, float]) -> Quat:
    """World quaternion of a THOR object's Euler rotation dict (degrees)."""
    r = unity_euler_matrix(rotation["x"], rotation["y"], rotation["z"])
    return matrix_to_quat(THOR_TO_WORLD @ r @ WORLD_TO_THOR)


def world_rotation_to_thor_matrix(q: Quat) -> np.ndarray:
    """THOR-frame rotation matrix of a world quaternion (inverse of `thor_rotation_to_world`)."""
    return WORLD_TO_THOR @ quat_to_matrix(q) @ THOR_TO_WORLD


def thor_camera_pose(
    position: Mapping[str, float],
    yaw_deg: float,
    horizon_deg: float,
    field: str = "camera.position",
) -> Pose:
    """World pose of a THOR camera; body axes follow ROS (x forward, y left, z up).

    Yaw is THOR's rotation.y, horizon the camera pitch (positive looks down).
    """
    yaw = -math.radians(finite_float("camera.yaw", yaw_deg, 1e9))
    pitch = math.radians(finite_float("camera.horizon", horizon_deg, 1e9))
    cyaw, syaw, cp, sp = math.cos(yaw), math.sin(yaw), math.cos(pitch), math.sin(pitch)
    rz = np.array([[cyaw, -syaw, 0], [syaw, cyaw, 0], [0, 0, 1]])
    ry = np.array([[cp, 0, sp], [0, 1, 0], [-sp, 0, cp]])
    return Pose(thor_xyz(field, position), matrix_to_quat(rz @ ry))


def thor_box(corner_points: Any, field: str = "bbox") -> BBox3D:
    """World box from THOR corner points (8 x 3, THOR frame), axis-aligned when the input is."""
    arr, _ = points_array(f"{field}.cornerPoints", corner_points)
    if arr.shape != (8, 3) or not (np.abs(arr) <= MAX_COORDINATE).all():
        raise ValidationError(
            f"{field}.cornerPoints",
            f"shape {arr.shape}",
            f"expected 8 xyz corners within +-{MAX_COORDINATE:g} m",
        )
    return BBox3D.from_corners(thor_to_world(arr))
