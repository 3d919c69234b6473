"""Perception front end: camera model, back-projection, and renderer -> perception round trips."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_render import ROOM_HI, ROOM_LO, thor_box_object, thor_camera_axes

from embodmem.errors import EmbodmemError
from embodmem.frames import thor_box, thor_camera_pose
from embodmem.perception import (
    CameraIntrinsics,
    depth_to_points,
    objects_from_instance_masks,
    observation_from_frame,
)
from embodmem.types import Pose, quat_to_matrix
from sim.offline.render import render_frames

VOXEL = 0.05


def world_forward(yaw_deg: float, horizon_deg: float) -> np.ndarray:
    """World direction of THOR's camera axis, via the documented (x, y, z) -> (z, -x, y) map."""
    fx, fy, fz = thor_camera_axes(yaw_deg, horizon_deg)[0]
    return np.array([fz, -fx, fy])


def test_intrinsics_follow_ai2thor():
    k = CameraIntrinsics.from_fov(300, 200, 90.0)
    assert k.fx == k.fy == pytest.approx(100.0)
    assert (k.cx, k.cy) == (149.5, 99.5) and k.shape == (200, 300)
    k60 = CameraIntrinsics.from_fov(64, 64, 60.0)
    assert k60.fy == pytest.approx(32 / math.tan(math.radians(30)))


@pytest.mark.parametrize(
    ("args", "field"),
    [
        ((300, 300, 0.0), "fov"),
        ((300, 300, 180.0), "fov"),
        ((0, 300, 90.0), "width"),
        ((300, 2.5, 90.0), "height"),
        ((300, 300, float("nan")), "fov"),
    ],
)
def test_intrinsics_reject_bad_input(args, field):
    with pytest.raises(EmbodmemError) as info:
        CameraIntrinsics.from_fov(*args)
    assert info.value.field == field
    with pytest.raises(EmbodmemError, match="intrinsics.fx"):
        CameraIntrinsics(10, 10, -1.0, 1.0, 5.0, 5.0)


@pytest.mark.parametrize("yaw", [0.0, 90.0, 180.0, 270.0, 33.0])
@pytest.mark.parametrize("horizon", [0.0, 30.0, -20.0])
def test_centre_pixel_back_projects_along_the_thor_camera_axis(yaw, horizon):
    k = CameraIntrinsics.from_fov(31, 21, 90.0)
    cam = {"x": 0.5, "y": 1.5, "z": -1.0}
    pose = thor_camera_pose(cam, yaw, horizon)
    depth = np.full(k.shape, 2.0, dtype=np.float32)
    points, pixels = depth_to_points(depth, k, pose, return_pixels=True)
    centre = points[(pixels[:, 0] == 10) & (pixels[:, 1] == 15)][0]
    expected = np.array(pose.position) + 2.0 * world_forward(yaw, horizon)
    np.testing.assert_allclose(centre, expected, atol=1e-9)


def test_yaw_90_looks_along_world_minus_y():
    k = CameraIntrinsics.from_fov(9, 9, 60.0)
    pose = thor_camera_pose({"x": 0.0, "y": 1.0, "z": 0.0}, 90.0, 0.0)
    points = depth_to_points(np.full(k.shape, 3.0), k, pose)
    np.testing.assert_allclose(points[:, 1], -3.0)  # a plane 3 m ahead, along world -y
    # Image right is THOR -z at yaw 90 (right of +x, seen from above), i.e. world -x.
    grid = points.reshape(9, 9, 3)
    assert grid[4, 8, 0] < 0 < grid[4, 0, 0] and grid[8, 4, 2] < 1.0 < grid[0, 4, 2]


@settings(max_examples=40, deadline=None)
@given(
    yaw=st.floats(-180, 360),
    horizon=st.floats(-60, 60),
    fov=st.floats(30, 120),
    size=st.tuples(st.integers(2, 24), st.integers(2, 24)),
    seed=st.integers(0, 2**31),
)
def test_back_projection_inverts_the_thor_pinhole(yaw, horizon, fov, size, seed):
    rng = np.random.default_rng(seed)
    w, h = size
    k = CameraIntrinsics.from_fov(w, h, fov)
    cam = {"x": float(rng.uniform(-2, 2)), "y": float(rng.uniform(0, 2)), "z": 0.3}
    depth = rng.uniform(0.1, 6.0, size=(h, w))
    points, pixels = depth_to_points(
        depth, k, thor_camera_pose(cam, yaw, horizon), return_pixels=True
    )
    assert len(points) == w * h
    # Re-project with THOR's camera written in the THOR frame (no embodmem code involved).
    forward, right, up = thor_camera_axes(yaw, horizon)
    thor = points @ np.array([[0, 0, 1], [-1, 0, 0], [0, 1, 0]])  # world -> THOR
    rel = thor - [cam["x"], cam["y"], cam["z"]]
    z = rel @ forward
    f = (h / 2) / math.tan(math.radians(fov) / 2)
    np.testing.assert_allclose(z, depth[pixels[:, 0], pixels[:, 1]], rtol=1e-9)
    np.testing.assert_allclose((w - 1) / 2 + f * (rel @ right) / z, pixels[:, 1], atol=1e-6)
    np.testing.assert_allclose((h - 1) / 2 - f * (rel @ up) / z, pixels[:, 0], atol=1e-6)


def test_invalid_depth_masks_and_stride_drop_pixels():
    k = CameraIntrinsics.from_fov(6, 4, 90.0)
    pose = Pose((0.0, 0.0, 1.0))
    depth = np.full(k.shape, 2.0)
    depth[0, 0], depth[0, 1], depth[0, 2], depth[0, 3] = np.nan, 0.0, -1.0, np.inf
    depth[1, 0] = 9.0
    assert len(depth_to_points(depth, k, pose)) == 24 - 4
    assert len(depth_to_points(depth, k, pose, max_depth=5.0)) == 24 - 5
    mask = np.zeros(k.shape, dtype=bool)
    mask[2:, 3:] = True
    pts, px = depth_to_points(depth, k, pose, mask=mask, return_pixels=True)
    assert len(pts) == 6 and (px[:, 0] >= 2).all() and (px[:, 1] >= 3).all()
    pts, px = depth_to_points(depth, k, pose, stride=2, return_pixels=True)
    assert ((px % 2) == 0).all() and len(pts) == 6 - 2  # (0,0) NaN and (0,2) negative dropped


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"depth": np.ones((4, 6), dtype=np.uint16)}, "depth"),
        ({"depth": np.ones((6, 4))}, "depth"),
        ({"intrinsics": (6, 4)}, "intrinsics"),
        ({"camera_pose": (0, 0, 0)}, "camera_pose"),
        ({"mask": np.ones((4, 6))}, "mask"),
        ({"mask": np.ones((4, 5), dtype=bool)}, "mask"),
        ({"stride": 0}, "stride"),
        ({"max_depth": -1.0}, "max_depth"),
    ],
)
def test_depth_to_points_rejects_bad_input(kwargs, field):
    args = {
        "depth": np.ones((4, 6)),
        "intrinsics": CameraIntrinsics.from_fov(6, 4, 90.0),
        "camera_pose": Pose((0.0, 0.0, 0.0)),
    }
    with pytest.raises(EmbodmemError) as info:
        depth_to_points(**{**args, **kwargs})
    assert info.value.field == field


# A table-top scene seen from above: every box shows its top and two sides, so the visible
# surface spans the whole box and the recovered bounds must match the drawn ones.
EYE = {"x": 0.0, "y": 2.2, "z": -1.2}
YAW, HORIZON, FOV, W, H = 0.0, 50.0, 70.0, 240, 200
SCENE = [
    thor_box_object("Box|a|1", (-0.4, 0.2, 0.3), (0.15, 0.2, 0.1)),
    thor_box_object("Book|b|2", (0.35, 0.015, 0.1), (0.12, 0.015, 0.09), yaw_deg=30.0),
    thor_box_object("Crate|c|3", (0.1, 0.3, 0.9), (0.25, 0.3, 0.2), yaw_deg=-20.0),
]


def true_world_box(obj: dict):
    box = obj["objectOrientedBoundingBox"] or obj["axisAlignedBoundingBox"]
    return thor_box(box["cornerPoints"]).min_max()


@pytest.fixture(scope="module")
def frame():
    res = render_frames(SCENE, ROOM_LO, ROOM_HI, EYE, YAW, HORIZON, FOV, W, H)
    k = CameraIntrinsics.from_fov(W, H, FOV)
    return res, k, thor_camera_pose(EYE, YAW, HORIZON)


def test_round_trip_points_lie_on_their_box_surfaces(frame):
    res, k, pose = frame
    obs = observation_from_frame(
        res.depth_frame,
        res.instance_segmentation_frame,
        res.color_to_object_id,
        k,
        pose,
        exclude=("Wall", "Ceiling"),
    )
    by_id = {o["objectId"]: o for o in SCENE}
    assert {o.id_hint for o in obs.objects} == set(by_id) | {"Floor"}
    for i, o in enumerate(obs.objects):
        pts = obs.points[obs.point_object_index == i]
        if o.id_hint == "Floor":
            np.testing.assert_allclose(pts[:, 2], 0.0, atol=1e-4)
            continue
        obj = by_id[o.id_hint]
        box = thor_box(
            (obj["objectOrientedBoundingBox"] or obj["axisAlignedBoundingBox"])["cornerPoints"]
        )
        local = (pts - box.center) @ quat_to_matrix(box.rotation)
        outside = np.abs(local) - np.array(box.size) / 2
        assert (outside <= 1e-3).all(), "every point is inside or on the box"
        assert (outside.max(axis=1) >= -1e-3).all(), "and on its surface"


def test_round_trip_boxes_match_within_a_voxel(frame):
    res, k, pose = frame
    objs = objects_from_instance_masks(
        res.depth_frame, res.instance_segmentation_frame, res.color_to_object_id, k, pose
    )
    found = {o.id_hint: o for o in objs}
    for obj in SCENE:
        lo, hi = true_world_box(obj)
        got_lo, got_hi = found[obj["objectId"]].bbox.min_max()
        np.testing.assert_allclose(got_lo, lo, atol=VOXEL)
        np.testing.assert_allclose(got_hi, hi, atol=VOXEL)
        assert found[obj["objectId"]].attributes["truncated"] is False
    assert found["Book|b|2"].label == "Book" and found["Book|b|2"].bbox.size[2] >= 0.02


def test_integer_mask_and_colour_frame_agree(frame):
    res, k, pose = frame
    seg = res.instance_segmentation_frame
    keys = (seg[..., 0].astype(np.int64) << 16) | (seg[..., 1].astype(np.int64) << 8) | seg[..., 2]
    id_of_key = {(r << 16) | (g << 8) | b: oid for (r, g, b), oid in res.color_to_object_id.items()}
    from_colour = objects_from_instance_masks(res.depth_frame, seg, res.color_to_object_id, k, pose)
    from_int = objects_from_instance_masks(res.depth_frame, keys, id_of_key, k, pose)
    assert [(o.id_hint, o.bbox) for o in from_colour] == [(o.id_hint, o.bbox) for o in from_int]


def test_mask_bleed_is_trimmed_by_depth(frame):
    res, k, pose = frame
    seg = res.instance_segmentation_frame.copy()
    colour = res.object_id_to_color["Box|a|1"]
    wall = np.argwhere((seg == res.object_id_to_color["Wall"]).all(axis=2))
    n_box = int((seg == colour).all(axis=2).sum())
    bleed = wall[:: max(1, len(wall) // (n_box // 30))][: n_box // 30]  # ~3% of the mask
    seg[bleed[:, 0], bleed[:, 1]] = colour
    clean = {
        o.id_hint: o
        for o in objects_from_instance_masks(
            res.depth_frame, res.instance_segmentation_frame, res.color_to_object_id, k, pose
        )
    }
    dirty = {
        o.id_hint: o
        for o in objects_from_instance_masks(res.depth_frame, seg, res.color_to_object_id, k, pose)
    }
    assert len(bleed) > 0
    assert dirty["Box|a|1"].bbox == clean["Box|a|1"].bbox
    untrimmed = objects_from_instance_masks(
        res.depth_frame, seg, res.color_to_object_id, k, pose, trim_percentile=0.0
    )
    assert {o.id_hint: o for o in untrimmed}["Box|a|1"].bbox != clean["Box|a|1"].bbox


def test_partial_view_is_marked_truncated_and_stays_inside_the_box():
    obj = thor_box_object("Box|edge", (2.1, 0.3, 0.6), (0.3, 0.3, 0.3))
    res = render_frames([obj], ROOM_LO, ROOM_HI, EYE, YAW, HORIZON, FOV, W, H)
    k, pose = CameraIntrinsics.from_fov(W, H, FOV), thor_camera_pose(EYE, YAW, HORIZON)
    (got,) = objects_from_instance_masks(
        res.depth_frame,
        res.instance_segmentation_frame,
        {res.object_id_to_color["Box|edge"]: "Box|edge"},
        k,
        pose,
    )
    lo, hi = true_world_box(obj)
    got_lo, got_hi = got.bbox.min_max()
    assert got.attributes["truncated"] is True
    assert (got_lo >= lo - 1e-3).all() and (got_hi <= hi + 1e-3).all()
    assert (got_hi - got_lo)[1] < (hi - lo)[1] - VOXEL  # the cut-off part is not invented


def test_labels_min_points_and_exclude(frame):
    res, k, pose = frame
    objs = objects_from_instance_masks(
        res.depth_frame,
        res.instance_segmentation_frame,
        res.color_to_object_id,
        k,
        pose,
        labels={"Crate|c|3": "Box"},
        exclude=("Wall", "Ceiling", "Floor"),
    )
    assert [(o.id_hint, o.label) for o in objs] == [
        ("Book|b|2", "Book"),
        ("Box|a|1", "Box"),
        ("Crate|c|3", "Box"),
    ]
    sizes = {o.id_hint: o.attributes["num_points"] for o in objs}
    fewer = objects_from_instance_masks(
        res.depth_frame,
        res.instance_segmentation_frame,
        res.color_to_object_id,
        k,
        pose,
        min_points=sizes["Book|b|2"] + 1,
        exclude=("Wall", "Ceiling", "Floor"),
    )
    assert "Book|b|2" not in {o.id_hint for o in fewer}


def test_observation_points_index_their_objects(frame):
    res, k, pose = frame
    obs = observation_from_frame(
        res.depth_frame,
        res.instance_segmentation_frame,
        res.color_to_object_id,
        k,
        pose,
        time_ns=7,
        stride=2,
    )
    assert obs.time_ns == 7 and obs.agent_pose == pose
    assert len(obs.points) == (W // 2) * (H // 2)  # every pixel of the room hits something
    counts = np.bincount(obs.point_object_index + 1, minlength=len(obs.objects) + 1)
    for i, o in enumerate(obs.objects):
        assert counts[i + 1] == o.attributes["num_points"]
        lo, hi = o.bbox.min_max()
        pts = obs.points[obs.point_object_index == i]
        assert ((pts >= lo - 1e-9) & (pts <= hi + 1e-9)).all()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"depth": np.ones((H, W), dtype=np.int32)}, "depth"),
        (
            {"instance_mask_or_segmentation": np.zeros((H, W, 4), np.uint8)},
            "instance_mask_or_segmentation",
        ),
        (
            {"instance_mask_or_segmentation": np.zeros((H, W), np.float32)},
            "instance_mask_or_segmentation",
        ),
        (
            {"instance_mask_or_segmentation": np.zeros((H, W + 1, 3), np.uint8)},
            "instance_mask_or_segmentation",
        ),
        ({"color_to_id": [((1, 2, 3), "A")]}, "color_to_id"),
        ({"color_to_id": {(1, 2): "A"}}, "color_to_id"),
        ({"color_to_id": {(1, 2, 300): "A"}}, "color_to_id"),
        ({"color_to_id": {(1, 2, 3): ""}}, "color_to_id[(1, 2, 3)]"),
        ({"camera_pose": "pose"}, "camera_pose"),
        ({"labels": ["A"]}, "labels"),
        ({"min_points": 0}, "min_points"),
        ({"trim_percentile": 60.0}, "trim_percentile"),
        ({"min_thickness": -0.1}, "min_thickness"),
        ({"stride": -2}, "stride"),
        ({"exclude": "Wall"}, "exclude"),
    ],
)
def test_objects_from_masks_reject_bad_input(change, field):
    args = {
        "depth": np.ones((H, W), np.float32),
        "instance_mask_or_segmentation": np.zeros((H, W, 3), np.uint8),
        "color_to_id": {(1, 2, 3): "A|1"},
        "intrinsics": CameraIntrinsics.from_fov(W, H, FOV),
        "camera_pose": Pose((0.0, 0.0, 1.0)),
    }
    with pytest.raises(EmbodmemError) as info:
        objects_from_instance_masks(**{**args, **change})
    assert info.value.field == field
    with pytest.raises(EmbodmemError, match="color_to_id"):
        objects_from_instance_masks(
            **{**args, "instance_mask_or_segmentation": np.zeros((H, W), np.int32)}
        )
