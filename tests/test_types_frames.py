"""Typed records and the THOR <-> world frame conversion."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from embodmem import BBox3D, ObjectObservation, Observation, Pose
from embodmem.errors import EmbodmemError, ValidationError
from embodmem.frames import (
    THOR_TO_WORLD,
    thor_camera_pose,
    thor_rotation_to_world,
    thor_to_world,
    thor_xyz,
    unity_euler_matrix,
    world_rotation_to_thor_matrix,
    world_to_thor,
    world_to_thor_xyz,
)
from embodmem.types import quat_to_matrix

finite = st.floats(-50, 50, allow_nan=False, allow_infinity=False)
angles = st.floats(-180, 180, allow_nan=False)


def test_thor_to_world_axes() -> None:
    # THOR forward (+z) is world +x, THOR right (+x) is world -y, up stays up.
    assert thor_xyz("p", {"x": 0, "y": 0, "z": 1}) == (1.0, 0.0, 0.0)
    assert thor_xyz("p", {"x": 1, "y": 0, "z": 0}) == (0.0, -1.0, 0.0)
    assert thor_xyz("p", {"x": 0, "y": 1, "z": 0}) == (0.0, 0.0, 1.0)
    assert np.linalg.det(THOR_TO_WORLD) == pytest.approx(-1.0)  # a reflection


@given(st.lists(st.tuples(finite, finite, finite), min_size=1, max_size=20))
def test_points_round_trip(points: list) -> None:
    arr = np.array(points)
    assert np.allclose(world_to_thor(thor_to_world(arr)), arr)
    for p in points:
        d = {"x": p[0], "y": p[1], "z": p[2]}
        back = world_to_thor_xyz(thor_xyz("p", d))
        assert (back["x"], back["y"], back["z"]) == pytest.approx(p)


@given(angles, angles, angles)
def test_rotation_round_trip_is_proper(rx: float, ry: float, rz: float) -> None:
    q = thor_rotation_to_world({"x": rx, "y": ry, "z": rz})
    m = quat_to_matrix(q)
    assert np.linalg.det(m) == pytest.approx(1.0)
    assert np.allclose(world_rotation_to_thor_matrix(q), unity_euler_matrix(rx, ry, rz), atol=1e-9)


@given(angles)
def test_thor_yaw_is_negated_world_yaw(yaw: float) -> None:
    pose = thor_camera_pose({"x": 0, "y": 1.5, "z": 0}, yaw, 0.0)
    forward_thor = {"x": math.sin(math.radians(yaw)), "y": 0.0, "z": math.cos(math.radians(yaw))}
    forward_world = np.array(thor_xyz("f", forward_thor))
    assert np.allclose(quat_to_matrix(pose.orientation)[:, 0], forward_world, atol=1e-9)
    assert math.cos(pose.yaw - math.radians(-yaw)) == pytest.approx(1.0)


def test_camera_horizon_looks_down() -> None:
    pose = thor_camera_pose({"x": 0, "y": 1.5, "z": 0}, 0.0, 30.0)
    forward = quat_to_matrix(pose.orientation)[:, 0]
    assert forward[2] == pytest.approx(-0.5)  # positive horizon tilts the view down


@given(
    finite,
    finite,
    finite,
    st.floats(0.01, 3),
    st.floats(0.01, 3),
    st.floats(0.01, 3),
    st.floats(-math.pi, math.pi),
)
def test_box_from_reflected_corners(cx, cy, cz, sx, sy, sz, yaw) -> None:
    box = BBox3D((cx, cy, cz), (sx, sy, sz), (0.0, 0.0, math.sin(yaw / 2), math.cos(yaw / 2)))
    thor_corners = world_to_thor(box.corners())
    back = BBox3D.from_corners(thor_to_world(thor_corners[::-1]))
    lo, hi = box.min_max()
    lo2, hi2 = back.min_max()
    assert np.allclose(lo, lo2, atol=1e-6) and np.allclose(hi, hi2, atol=1e-6)
    assert sorted(back.size) == pytest.approx(sorted(box.size))


def test_axis_aligned_corners_give_identity() -> None:
    box = BBox3D.from_corners(BBox3D((1, 2, 3), (1, 2, 3)).corners()[[5, 2, 7, 0, 1, 3, 4, 6]])
    assert box.is_axis_aligned and box.size == pytest.approx((1, 2, 3))


@pytest.mark.parametrize(
    ("make", "field"),
    [
        (lambda: Pose((math.nan, 0, 0)), "pose.position[0]"),
        (lambda: Pose((0, 0, 0), (0, 0, 0, 0)), "pose.orientation"),
        (lambda: BBox3D((0, 0, 0), (1, -1, 1)), "bbox.size"),
        (lambda: BBox3D((0, 0, math.inf), (1, 1, 1)), "bbox.center[2]"),
        (lambda: ObjectObservation(label=""), "object.label"),
        (lambda: ObjectObservation(label="Cup"), "object.position"),
        (lambda: ObjectObservation(label="Cup", position=(0, 0)), "object.position"),
        (lambda: ObjectObservation(label="Cup", position=(0, 0, 0), confidence=2), "confidence"),
        (
            lambda: ObjectObservation(label="Cup", position=(0, 0, 0), states={"t": math.nan}),
            "object.states.t",
        ),
        (lambda: ObjectObservation(label="Cup", position=("a", 0, 0)), "object.position[0]"),
        (lambda: Observation(time_ns=-1), "observation.time_ns"),
        (lambda: Observation(time_ns=1.5), "observation.time_ns"),
        (lambda: Observation(time_ns=0, objects=[1]), "observation.objects[0]"),
        (lambda: Observation(time_ns=0, points=np.zeros((3, 2))), "observation.points"),
        (
            lambda: Observation(
                time_ns=0, points=np.zeros((2, 3)), point_object_index=np.array([0, 0])
            ),
            "point_object_index",
        ),
    ],
)
def test_bad_records_name_the_field(make, field: str) -> None:
    with pytest.raises(ValidationError) as info:
        make()
    assert field in str(info.value)
    assert isinstance(info.value, EmbodmemError)


def test_object_position_defaults_to_box_centre() -> None:
    obj = ObjectObservation(label="Cup", bbox=BBox3D((1, 2, 3), (0.1, 0.1, 0.1)))
    assert obj.position == (1.0, 2.0, 3.0)
