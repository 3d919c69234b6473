"""The numpy box renderer against an independent THOR-frame camera model and a dense reference."""

from __future__ import annotations

import math
from itertools import product

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from embodmem.errors import DuplicateIdError, EmbodmemError
from sim.offline.render import NEAR_CLIP, assign_colors, render_frames, room_bounds
from sim.scenes import reachable_positions, scene_objects

ROOM_LO, ROOM_HI = (-3.0, 0.0, -3.0), (3.0, 3.0, 3.0)
EYE = {"x": 0.0, "y": 1.5, "z": 0.0}
STRUCTURE = ("Floor", "Wall", "Ceiling")


def thor_box_object(
    oid: str, center: tuple, half: tuple, yaw_deg: float | None = None, otype: str | None = None
) -> dict:
    """A THOR object dict (THOR frame); with `yaw_deg` an oriented box turned about THOR y."""
    phi = math.radians(yaw_deg or 0.0)
    rot = np.array(
        [[math.cos(phi), 0, math.sin(phi)], [0, 1, 0], [-math.sin(phi), 0, math.cos(phi)]]
    )
    corners = np.array(center) + (np.array(list(product((-1, 1), repeat=3))) * half) @ rot.T
    aabb = [
        [x, y, z]
        for x in (corners[:, 0].max(), corners[:, 0].min())
        for y in (corners[:, 1].max(), corners[:, 1].min())
        for z in (corners[:, 2].max(), corners[:, 2].min())
    ]
    obj = {
        "objectId": oid,
        "objectType": otype or oid.split("|")[0],
        "axisAlignedBoundingBox": {"cornerPoints": aabb},
        "objectOrientedBoundingBox": None,
    }
    if yaw_deg is not None:
        obj["objectOrientedBoundingBox"] = {"cornerPoints": corners.tolist()}
    return obj


def thor_camera_axes(yaw_deg: float, horizon_deg: float) -> tuple[np.ndarray, ...]:
    """THOR-frame forward, right and up of AI2-THOR's camera (left-handed, y up)."""
    t, h = math.radians(yaw_deg), math.radians(horizon_deg)
    forward = np.array([math.sin(t) * math.cos(h), -math.sin(h), math.cos(t) * math.cos(h)])
    right = np.array([math.cos(t), 0.0, -math.sin(t)])
    up = np.array([math.sin(t) * math.sin(h), math.cos(h), math.cos(t) * math.sin(h)])
    return forward, right, up


def project(point, eye, yaw_deg, horizon_deg, fov, width, height) -> tuple[float, float, float]:
    """(col, row, planar depth) of a THOR point: the pinhole model written in the THOR frame."""
    forward, right, up = thor_camera_axes(yaw_deg, horizon_deg)
    rel = np.asarray(point, dtype=float) - [eye["x"], eye["y"], eye["z"]]
    f = (height / 2) / math.tan(math.radians(fov) / 2)
    z = rel @ forward
    return (width - 1) / 2 + f * (rel @ right) / z, (height - 1) / 2 - f * (rel @ up) / z, z


def reference_render(objects, eye, yaw_deg, horizon_deg, fov, width, height):
    """Dense per-pixel slab test in the THOR frame: (planar depth, id per pixel)."""
    forward, right, up = thor_camera_axes(yaw_deg, horizon_deg)
    f = (height / 2) / math.tan(math.radians(fov) / 2)
    cols, rows = np.meshgrid(np.arange(width), np.arange(height))
    x, y = (cols - (width - 1) / 2) / f, (rows - (height - 1) / 2) / f
    dirs = forward + x[..., None] * right - y[..., None] * up  # planar depth == ray t
    origin = np.array([eye["x"], eye["y"], eye["z"]])
    with np.errstate(divide="ignore", invalid="ignore"):
        exits = [
            np.fmax((lo - origin[k]) / dirs[..., k], (hi - origin[k]) / dirs[..., k])
            for k, (lo, hi) in enumerate(zip(ROOM_LO, ROOM_HI, strict=True))
        ]
        depth = np.min(exits, axis=0)
        axis = np.argmin(exits, axis=0)
        ids = np.where(axis != 1, "Wall", np.where(dirs[..., 1] < 0, "Floor", "Ceiling"))
        ids = ids.astype(object)
        for obj in objects:
            pts = np.array(
                (obj["objectOrientedBoundingBox"] or obj["axisAlignedBoundingBox"])["cornerPoints"]
            )
            center = pts.mean(axis=0)
            axes = [pts[j] - pts[0] for j in (1, 2, 4)]  # edges in `thor_box_object`'s order
            enter, leave = np.full(depth.shape, -np.inf), np.full(depth.shape, np.inf)
            for a in axes:
                n = a / np.linalg.norm(a)
                half = np.linalg.norm(a) / 2
                o, d = (origin - center) @ n, dirs @ n
                t1, t2 = (-half - o) / d, (half - o) / d
                enter, leave = np.fmax(enter, np.fmin(t1, t2)), np.fmin(leave, np.fmax(t1, t2))
            hit = (enter <= leave) & (enter >= NEAR_CLIP) & (enter < depth)
            depth = np.where(hit, enter, depth)
            ids[hit] = obj["objectId"]
    return depth, ids


def pixel_ids(result) -> np.ndarray:
    """Per-pixel object id of a render (None on the background)."""
    seg = result.instance_segmentation_frame
    out = np.empty(seg.shape[:2], dtype=object)
    for idx in np.ndindex(*seg.shape[:2]):
        out[idx] = result.color_to_object_id.get(tuple(int(c) for c in seg[idx]))
    return out


@pytest.mark.parametrize("size", [(101, 101), (100, 80)])
@pytest.mark.parametrize("d", [0.5, 1.7, 2.8])
def test_point_straight_ahead_is_at_the_centre_with_its_depth(size, d):
    w, h = size
    box = thor_box_object("Box|1", (0.0, 1.5, d + 0.1), (0.1, 0.1, 0.1))
    res = render_frames([box], ROOM_LO, ROOM_HI, EYE, 0.0, 0.0, 90.0, w, h)
    rows = [h // 2] if h % 2 else [h // 2 - 1, h // 2]
    cols = [w // 2] if w % 2 else [w // 2 - 1, w // 2]
    centre = res.depth_frame[np.ix_(rows, cols)]
    np.testing.assert_allclose(centre, d, rtol=1e-6)
    assert {
        res.color_to_object_id[tuple(res.instance_segmentation_frame[r, c])]
        for r in rows
        for c in cols
    } == {"Box|1"}


def test_yaw_90_looks_along_thor_plus_x():
    ahead_x = thor_box_object("Box|x", (2.1, 1.5, 0.0), (0.1, 0.3, 0.3))
    ahead_z = thor_box_object("Box|z", (0.0, 1.5, 2.1), (0.3, 0.3, 0.1))
    for yaw, seen, depth in ((90.0, "Box|x", 2.0), (0.0, "Box|z", 2.0)):
        res = render_frames([ahead_x, ahead_z], ROOM_LO, ROOM_HI, EYE, yaw, 0.0, 60.0, 51, 51)
        assert res.color_to_object_id[tuple(res.instance_segmentation_frame[25, 25])] == seen
        assert res.depth_frame[25, 25] == pytest.approx(depth, rel=1e-6)


@pytest.mark.parametrize("yaw", [0.0, 90.0, 200.0])
def test_right_is_right_and_up_is_up(yaw):
    forward, right, up = thor_camera_axes(yaw, 0.0)
    eye = np.array([EYE["x"], EYE["y"], EYE["z"]])
    box = thor_box_object("Box|r", tuple(eye + 2 * forward + 0.6 * right + 0.4 * up), (0.1,) * 3)
    res = render_frames([box], ROOM_LO, ROOM_HI, EYE, yaw, 0.0, 90.0, 64, 64)
    rows, cols = np.nonzero(pixel_ids(res) == "Box|r")
    assert len(rows) > 0
    assert cols.min() > 32 and rows.max() < 32


def test_positive_horizon_looks_down_and_depth_is_planar():
    # Looking 30 deg down at an infinite-looking floor: planar depth along a row is constant.
    res = render_frames([], ROOM_LO, ROOM_HI, EYE, 0.0, 30.0, 60.0, 61, 61)
    ids = pixel_ids(res)
    assert ids[30, 30] == "Floor"
    assert res.depth_frame[30, 30] == pytest.approx(1.5 / math.sin(math.radians(30)), rel=1e-5)
    row = res.depth_frame[45, 20:41]
    np.testing.assert_allclose(row, row[0], rtol=1e-5)
    up = render_frames([], ROOM_LO, ROOM_HI, EYE, 0.0, -30.0, 60.0, 61, 61)
    assert pixel_ids(up)[30, 30] == "Ceiling"  # 1.5 m up is reached 2.6 m out, before the wall
    level = render_frames([], ROOM_LO, ROOM_HI, EYE, 0.0, -10.0, 60.0, 61, 61)
    assert pixel_ids(level)[30, 30] == "Wall"


@settings(max_examples=25, deadline=None)
@given(
    yaw=st.floats(0, 360),
    horizon=st.floats(-30, 60),
    fov=st.floats(40, 100),
    pixel=st.tuples(st.integers(2, 45), st.integers(2, 33)),
    z=st.floats(0.5, 1.2),
)
def test_small_box_lands_on_its_pinhole_projection(yaw, horizon, fov, pixel, z):
    w, h = 48, 36
    forward, right, up = thor_camera_axes(yaw, horizon)
    f = (h / 2) / math.tan(math.radians(fov) / 2)
    x, y = (pixel[0] - (w - 1) / 2) / f, (pixel[1] - (h - 1) / 2) / f
    point = np.array([EYE["x"], EYE["y"], EYE["z"]]) + z * (forward + x * right - y * up)
    col, row, planar = project(point, EYE, yaw, horizon, fov, w, h)
    assert (round(col), round(row)) == pixel and planar == pytest.approx(z)
    half = 2.0 * z / f  # about 2 pixels
    res = render_frames(
        [thor_box_object("Box|p", tuple(point), (half,) * 3)],
        ROOM_LO,
        ROOM_HI,
        EYE,
        yaw,
        horizon,
        fov,
        w,
        h,
    )
    c, r = pixel
    assert res.color_to_object_id[tuple(res.instance_segmentation_frame[r, c])] == "Box|p"
    assert abs(res.depth_frame[r, c] - z) <= math.sqrt(3) * half + 1e-6


box_strategy = st.tuples(
    st.tuples(st.floats(-2.8, 2.8), st.floats(0.05, 2.9), st.floats(-2.8, 2.8)),
    st.tuples(st.floats(0.02, 0.8), st.floats(0.02, 0.8), st.floats(0.02, 0.8)),
    st.one_of(st.none(), st.floats(0, 90)),
)


@settings(max_examples=30, deadline=None)
@given(
    boxes=st.lists(box_strategy, min_size=1, max_size=6),
    eye=st.tuples(st.floats(-2, 2), st.floats(0.3, 2.5), st.floats(-2, 2)),
    yaw=st.floats(0, 360),
    horizon=st.floats(-30, 60),
)
def test_matches_dense_thor_frame_reference(boxes, eye, yaw, horizon):
    objs = [thor_box_object(f"Box|{i}", c, hs, a) for i, (c, hs, a) in enumerate(boxes)]
    cam = dict(zip("xyz", eye, strict=True))
    res = render_frames(objs, ROOM_LO, ROOM_HI, cam, yaw, horizon, 70.0, 40, 30)
    ref_depth, ref_ids = reference_render(objs, cam, yaw, horizon, 70.0, 40, 30)
    ids = pixel_ids(res)
    same = ids == ref_ids
    assert same.mean() >= 0.97  # only silhouette pixels may flip on rounding
    np.testing.assert_allclose(res.depth_frame[same], ref_depth[same], rtol=1e-4, atol=1e-5)


def test_oriented_box_is_drawn_not_its_axis_aligned_hull():
    turned = thor_box_object("Box|t", (0.0, 1.5, 2.0), (0.5, 0.2, 0.05), yaw_deg=45.0)
    res = render_frames([turned], ROOM_LO, ROOM_HI, EYE, 0.0, 0.0, 90.0, 81, 81)
    hull = dict(turned, objectOrientedBoundingBox=None)
    res_hull = render_frames([hull], ROOM_LO, ROOM_HI, EYE, 0.0, 0.0, 90.0, 81, 81)
    col, row, _ = project((-0.3, 1.5, 1.7), EYE, 0.0, 0.0, 90.0, 81, 81)  # in hull, off the box
    assert pixel_ids(res_hull)[round(row), round(col)] == "Box|t"
    assert pixel_ids(res)[round(row), round(col)] == "Wall"
    assert pixel_ids(res)[40, 40] == "Box|t"


def test_near_box_occludes_far_box_and_culled_boxes_change_nothing():
    near = thor_box_object("Box|near", (0.0, 1.5, 1.0), (0.2, 0.2, 0.05))
    far = thor_box_object("Box|far", (0.0, 1.5, 2.0), (0.6, 0.6, 0.05))
    behind = thor_box_object("Box|behind", (0.0, 1.5, -2.0), (0.5, 0.5, 0.5))
    base = render_frames([near, far], ROOM_LO, ROOM_HI, EYE, 0.0, 0.0, 90.0, 41, 41)
    ids = pixel_ids(base)
    assert ids[20, 20] == "Box|near" and ids[20, 14] == "Box|far"
    more = render_frames([near, far, behind], ROOM_LO, ROOM_HI, EYE, 0.0, 0.0, 90.0, 41, 41)
    np.testing.assert_array_equal(more.depth_frame, base.depth_frame)
    assert (pixel_ids(more) == ids).all()
    short = render_frames([near, far], ROOM_LO, ROOM_HI, EYE, 0.0, 0.0, 90.0, 41, 41, max_range=1.5)
    assert "Box|far" not in set(pixel_ids(short).ravel())


def test_camera_inside_a_box_sees_past_it():
    around = thor_box_object("Box|around", (0.0, 1.5, 0.0), (0.5, 0.5, 0.5))
    res = render_frames([around], ROOM_LO, ROOM_HI, EYE, 0.0, 0.0, 90.0, 21, 21)
    assert "Box|around" not in set(pixel_ids(res).ravel())
    assert res.depth_frame[10, 10] == pytest.approx(3.0, rel=1e-6)


def test_structure_fills_an_empty_room_and_floor_object_replaces_the_floor():
    res = render_frames([], ROOM_LO, ROOM_HI, EYE, 45.0, -10.0, 90.0, 60, 40)
    assert set(pixel_ids(res).ravel()) == set(STRUCTURE)
    assert (res.depth_frame > 0).all()
    floor = thor_box_object("Floor|+00.00|+00.00|+00.00", (0.0, -0.05, 0.0), (3.0, 0.05, 3.0))
    with_floor = render_frames([floor], ROOM_LO, ROOM_HI, EYE, 45.0, -10.0, 90.0, 60, 40)
    assert "Floor" not in with_floor.object_id_to_color
    assert set(pixel_ids(with_floor).ravel()) == {"Wall", "Ceiling", floor["objectId"]}
    np.testing.assert_allclose(with_floor.depth_frame, res.depth_frame, rtol=1e-5)


def test_flags_turn_frames_off():
    res = render_frames([], ROOM_LO, ROOM_HI, EYE, 0.0, 0.0, 90.0, 8, 6, depth=False)
    assert res.depth_frame is None and res.instance_segmentation_frame.shape == (6, 8, 3)
    res = render_frames([], ROOM_LO, ROOM_HI, EYE, 0.0, 0.0, 90.0, 8, 6, segmentation=False)
    assert res.instance_segmentation_frame is None
    assert res.depth_frame.shape == (6, 8) and res.depth_frame.dtype == np.float32


@settings(max_examples=20, deadline=None)
@given(
    ids=st.lists(st.text(min_size=1, max_size=12), min_size=1, max_size=50, unique=True),
    seed=st.integers(0, 2**32 - 1),
)
def test_colours_are_deterministic_and_order_free(ids, seed):
    colours = assign_colors(ids)
    shuffled = list(ids)
    np.random.default_rng(seed).shuffle(shuffled)
    assert assign_colors(shuffled) == colours
    assert len(set(colours.values())) == len(ids) and (0, 0, 0) not in colours.values()


def test_colours_stay_unique_when_hashes_collide():
    ids = [f"Obj|{i}" for i in range(12000)]  # ~99% likely to hold a 24-bit hash collision
    colours = assign_colors(ids)
    assert len(set(colours.values())) == len(ids)
    alone = assign_colors(["Obj|7"])
    assert alone["Obj|7"] == assign_colors(["Obj|7", "Other"])["Obj|7"]


def test_real_kitchen_frames_are_complete():
    objs = list(scene_objects("FloorPlan1").values())
    lo, hi = room_bounds(objs)
    x, z = reachable_positions("FloorPlan1")[60]
    cam = {"x": float(x), "y": 1.576, "z": float(z)}
    diag = float(np.linalg.norm(hi - lo))
    seen: set[str] = set()
    for yaw in (0.0, 90.0, 180.0, 270.0):
        res = render_frames(objs, lo, hi, cam, yaw, 30.0, 90.0, 120, 120)
        assert (res.depth_frame > 0).all() and (res.depth_frame < diag).all()
        seen |= set(pixel_ids(res).ravel())
    assert None not in seen
    assert len(seen) > 20 and "Floor" not in seen  # the scene's Floor object is the floor


def test_room_bounds_is_the_union_of_boxes():
    a = thor_box_object("A|1", (0.0, 0.5, 0.0), (1.0, 0.5, 1.0))
    b = thor_box_object("B|1", (2.0, 1.0, -1.0), (0.5, 1.0, 0.5))
    lo, hi = room_bounds([a, b])
    np.testing.assert_allclose(lo, [-1.0, 0.0, -1.5])
    np.testing.assert_allclose(hi, [2.5, 2.0, 1.0])
    with pytest.raises(EmbodmemError, match="objects"):
        room_bounds([])


GOOD = {
    "objects": [],
    "room_lo": ROOM_LO,
    "room_hi": ROOM_HI,
    "camera_position": EYE,
    "yaw_deg": 0.0,
    "horizon_deg": 0.0,
    "fov": 90.0,
    "width": 8,
    "height": 6,
}
BAD_BOX = thor_box_object("Box|1", (0, 1, 1), (0.1, 0.1, 0.1))


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"fov": 0.0}, "fov"),
        ({"fov": 180.0}, "fov"),
        ({"fov": float("nan")}, "fov"),
        ({"fov": "90"}, "fov"),
        ({"width": 0}, "width"),
        ({"width": 1.5}, "width"),
        ({"height": True}, "height"),
        ({"room_hi": (3.0, 0.0, 3.0)}, "room_hi"),
        ({"room_lo": (0.0, 0.0)}, "room_lo"),
        ({"camera_position": {"x": 0.0, "y": 1.0}}, "camera_position"),
        ({"camera_position": [0, 1, 0]}, "camera_position"),
        ({"yaw_deg": float("inf")}, "yaw_deg"),
        ({"horizon_deg": None}, "horizon_deg"),
        ({"max_range": 0.01}, "max_range"),
        ({"objects": {"Box|1": BAD_BOX}}, "objects"),
        ({"objects": [1]}, "objects[0]"),
        ({"objects": [dict(BAD_BOX, objectId="")]}, "objects[0].objectId"),
        (
            {"objects": [dict(BAD_BOX, axisAlignedBoundingBox={"cornerPoints": [[0, 0, 0]] * 7})]},
            "objects[0].axisAlignedBoundingBox",
        ),
        (
            {"objects": [dict(BAD_BOX, axisAlignedBoundingBox=None)]},
            "objects[0].axisAlignedBoundingBox",
        ),
        (
            {"objects": [dict(BAD_BOX, objectOrientedBoundingBox={"cornerPoints": [[0, 0]] * 8})]},
            "objects[0].objectOrientedBoundingBox",
        ),
    ],
)
def test_bad_input_names_the_argument(change, field):
    with pytest.raises(EmbodmemError) as info:
        render_frames(**{**GOOD, **change})
    assert info.value.field.startswith(field)


def test_duplicate_object_ids_are_rejected():
    with pytest.raises(DuplicateIdError, match=r"objects\[1\]\.objectId"):
        render_frames(**{**GOOD, "objects": [BAD_BOX, BAD_BOX]})
