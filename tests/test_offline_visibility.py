"""THOR's visible flag offline: capsule, viewport and occlusion raycasts against object boxes."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.offline import OfflineController
from sim.offline.visibility import unoccluded, visible_mask

CAMERA = np.array((0.0, 1.5, 0.0))  # looking along +z (yaw 0), horizon 0


def _boxes(*boxes: tuple[tuple, tuple]) -> tuple[np.ndarray, np.ndarray]:
    lo = np.array([b[0] for b in boxes], dtype=float)
    hi = np.array([b[1] for b in boxes], dtype=float)
    return lo, hi


def _visible(lo, hi, occluders=True, parents=None) -> np.ndarray:
    occ = None if occluders is None else np.full(len(lo), occluders, dtype=bool)
    return visible_mask(CAMERA, 0.0, 0.0, 90.0, 1.0, 1.5, lo, hi, occluders=occ, parents=parents)


def test_a_box_in_front_hides_what_is_behind_it() -> None:
    lo, hi = _boxes(
        ((-0.05, 1.45, 1.2), (0.05, 1.55, 1.3)),  # a small box ahead
        ((-0.5, 1.0, 0.6), (0.5, 2.0, 0.7)),  # a wall-sized board between
    )
    assert _visible(lo, hi, occluders=None).tolist() == [True, True]  # viewport rule only
    assert _visible(lo, hi).tolist() == [False, True]
    occ = np.array([True, False])  # the board does not block sight (hidden, held, ...)
    mask = visible_mask(CAMERA, 0.0, 0.0, 90.0, 1.0, 1.5, lo, hi, occluders=occ)
    assert mask.tolist() == [True, True]


def test_a_box_that_holds_the_object_or_touches_its_parent_does_not_hide_it() -> None:
    """A sponge in a sink basin inside the counter's box: boxes bound non-convex shapes."""
    lo, hi = _boxes(
        ((-0.05, 0.8, 0.9), (0.05, 0.85, 1.0)),  # sponge
        ((-0.2, 0.75, 0.8), (0.2, 0.89, 1.1)),  # basin, the sponge's parent
        ((-0.6, 0.9, 0.5), (0.6, 0.95, 1.4)),  # counter slab over the basin (no hole in a box)
    )
    assert not _visible(lo, hi)[0]  # the slab is in the way
    parents = np.array([1, -1, -1])
    assert _visible(lo, hi, parents=parents)[0]  # the slab meets the parent: not an occluder
    inside = _boxes(((-0.05, 1.45, 1.2), (0.05, 1.55, 1.3)), ((-0.3, 1.0, 1.0), (0.3, 1.8, 1.4)))
    assert _visible(*inside)[0]  # the box around it (a fridge's shelf space) does not hide it


def test_a_slab_that_meets_the_sink_of_the_basin_does_not_hide_what_is_in_it() -> None:
    """FloorPlan16: a knife deep in a sink basin, the counter slab 8 cm above the basin's box
    but on the sink's rim; the sink is the basin's whole, so the slab meets the knife's
    support and does not hide it (an unrelated slab still does)."""
    lo, hi = _boxes(
        ((-0.05, 0.80, 0.9), (0.05, 0.82, 1.0)),  # knife
        ((-0.2, 0.78, 0.8), (0.2, 0.84, 1.1)),  # basin, the knife's parent
        ((-0.3, 0.78, 0.7), (0.3, 0.92, 1.2)),  # sink, the basin's whole
        ((-0.6, 0.92, 0.5), (0.6, 0.95, 1.4)),  # counter slab on the sink's rim
    )
    only_basin = np.array([1, -1, -1, -1])
    assert not _visible(lo, hi, parents=only_basin)[0]  # 8 cm from the basin: in the way
    with_sink = np.array([[1, 2], [2, -1], [-1, -1], [-1, -1]])
    assert _visible(lo, hi, parents=with_sink)[0]


def test_parent_rows_name_the_sink_of_a_basin() -> None:
    state = OfflineController("FloorPlan16").state
    rows = state.parent_rows()
    basin, sink = (
        state.row["Sink|-00.72|+01.02|+01.33|SinkBasin"],
        state.row["Sink|-00.72|+01.02|+01.33"],
    )
    assert rows[basin].tolist() == [sink, -1]  # a basin's parent is its sink
    mug = state.row["Mug|-00.82|+00.84|+01.60"]  # in the basin at the start
    assert rows[mug].tolist() == [basin, sink]
    plate = state.row[next(k for k in state.ids if k.startswith("Plate|"))]
    assert rows[plate, 1] == -1  # an object on a counter: no second row


def test_unoccluded_ignores_boxes_the_camera_is_inside() -> None:
    lo, hi = _boxes(((-1.0, 1.0, -1.0), (1.0, 2.0, 1.0)))
    points = np.array([[[0.0, 1.5, 2.0]]])
    assert unoccluded(CAMERA, points, np.ones((1, 1), bool), lo, hi, np.zeros((1, 1), bool))[0, 0]


@settings(max_examples=60, deadline=None)
@given(
    st.floats(-0.3, 0.3),
    st.floats(1.2, 1.8),
    st.floats(0.8, 1.4),
    st.floats(0.02, 0.3),
)
def test_occlusion_only_removes_flags(x: float, y: float, z: float, size: float) -> None:
    """With occluders, an object is visible only if it is visible by the viewport rule."""
    lo, hi = _boxes(
        ((x - size, y - size, z), (x + size, y + size, z + 2 * size)),
        ((-0.2, 1.3, 1.0), (0.2, 1.7, 1.05)),
        ((0.3, 1.0, 0.5), (0.6, 1.6, 0.9)),
    )
    plain, occluded = _visible(lo, hi, occluders=None), _visible(lo, hi)
    assert not (occluded & ~plain).any()


def test_controller_setting_and_speed_mode() -> None:
    """occlusion=False is THOR's rule without the raycasts (a superset of the flags)."""
    on = OfflineController("FloorPlan1")
    off = OfflineController("FloorPlan1", occlusion=False)
    start = {"position": {"x": -1.0, "y": 0.901, "z": 1.0}, "rotation": {"x": 0, "y": 270, "z": 0}}
    for ctl in (on, off):  # where the recorded FloorPlan1 episodes start: drawers under a lip
        ctl.step(action="TeleportFull", horizon=0, standing=True, **start)
    seen_on = {o["objectId"] for o in on.last_event.metadata["objects"] if o["visible"]}
    seen_off = {o["objectId"] for o in off.last_event.metadata["objects"] if o["visible"]}
    assert seen_on < seen_off


def test_a_ray_grazing_a_box_edge_is_blocked_and_neighbours_do_not_hide(monkeypatch) -> None:
    """A ray that passes within GROW of an occluder's edge hits it (a counter's lip over a
    drawer); a box within GROW of the object (what it rests against) never hides it."""
    import sim.offline.visibility as vis

    target = ((-0.01, 0.99, 1.39), (0.01, 1.01, 1.41))  # rays to it cross z = 0.7 at y ~ 1.25
    board = ((-0.5, 0.0, 0.69), (0.5, 1.25 - 0.004, 0.71))  # its top edge 4 mm below them
    lo, hi = _boxes(target, board)
    assert not _visible(lo, hi)[0]
    monkeypatch.setattr(vis, "GROW", 0.0)
    assert _visible(lo, hi)[0]  # exact boxes: the rays clear the edge
    monkeypatch.undo()
    wall = _boxes(target, ((-0.5, 0.5, 1.41 + vis.GROW / 2), (0.5, 2.0, 1.5)))  # just behind
    assert _visible(*wall)[0]
    ahead = _boxes(
        target, ((-0.5, 0.5, 1.39 - vis.GROW / 2 - 0.3), (0.5, 2.0, 1.39 - vis.GROW / 2))
    )
    assert _visible(*ahead)[0]  # the rule's price: a box touching its front does not hide it
