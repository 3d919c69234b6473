"""The agent's free space: grid evidence, obstacle boxes, non-convex boxes, the room."""

from __future__ import annotations

import numpy as np
import pytest

from sim.offline import OfflineController
from sim.offline.freespace import (
    AGENT_RADIUS,
    COLLIDER_INSET,
    ROOM_REACH,
    FreeSpace,
    free_space,
)
from sim.offline.state import ReachableGrid
from sim.tasks import load_alfred_default


def test_grid_points_are_free_and_boxes_block_off_the_grid() -> None:
    """A 5 x 5 grid with a gap where a stool stands, and a table just beyond the grid."""
    pts = np.array([(x, z) for x in np.arange(0, 1.01, 0.25) for z in np.arange(0, 1.01, 0.25)])
    pts = pts[np.linalg.norm(pts - (0.5, 0.5), axis=1) > 0.01]  # the stool's spot is not on it
    grid = ReachableGrid(pts)
    lo = np.array([[0.45, 0.0, 0.45], [0.0, 0.0, 1.5], [-9.0, -0.1, -9.0]])
    hi = np.array([[0.55, 0.5, 0.55], [1.0, 0.7, 1.8], [9.0, 0.0, 9.0]])  # stool, table, floor
    free = FreeSpace(grid, lo, hi, np.array([True, True, False]), floor_top=0.0)
    assert all(free.contains(p) for p in pts)
    assert not free.contains(np.array((0.5, 0.5)))  # on the stool
    assert free.blocker(np.array((0.25, 0.5)), np.array((0.75, 0.5))) == 0  # through it
    assert free.blocker(np.array((0.0, 0.0)), np.array((1.0, 0.0))) is False
    assert free.contains(np.array((0.5, 1.25)))  # off the grid, in the room, clear of boxes
    # the table's colliders sit COLLIDER_INSET inside its box; the agent's disc may not cut in
    assert free.contains(np.array((0.5, 1.5 + COLLIDER_INSET - AGENT_RADIUS - 0.01)))
    assert not free.contains(np.array((0.5, 1.5 + COLLIDER_INSET - AGENT_RADIUS + 0.01)))
    assert free.blocker(np.array((0.5, 1.0)), np.array((0.5, 1.45))) == 1
    # round corners: diagonally off the table's corner by less than the radius along each
    # axis, but farther than the radius in all
    corner = np.array((1.0 - COLLIDER_INSET, 1.5 + COLLIDER_INSET))
    assert free.contains(corner + np.array((0.16, -0.16)))
    assert not free.contains(corner + np.array((0.1, -0.1)))
    assert free.blocker(np.array((1.5, 1.0)), corner + np.array((0.16, -0.16))) is False
    assert not free.contains(np.array((0.5, 1.0 + ROOM_REACH + 0.01)))  # beyond the room
    assert free.blocker(np.array((0.5, 0.0)), np.array((0.5, -1.0))) is None  # a wall
    assert AGENT_RADIUS == 0.2


def test_a_non_convex_counter_does_not_block_the_floor_it_covers() -> None:
    """FloorPlan16's counter top is a thin L-shaped slab whose box covers open floor (grid
    points inside it): it is not an obstacle, so the expert's step next to it is free."""
    ctl = OfflineController("FloorPlan16")
    state = ctl.state
    counter = next(k for k, o in state.objects.items() if o["name"] == "CounterTop_c3cd3229")
    free = free_space(state)
    assert state.row[counter] not in free.rows
    assert free.blocker(np.array((2.0, -1.0)), np.array((1.75, -1.0))) is False


def test_moves_through_a_box_are_free_where_the_grid_covers_them() -> None:
    """Where the recorded grid has points the agent stood on, a box overlapping them (furniture
    placed a little differently) does not block: the grid is the stronger evidence."""
    ctl = OfflineController("FloorPlan1")
    free = free_space(ctl.state)
    pts = ctl.state.grid.points
    step = np.array((0.25, 0.0))
    inside = [
        p
        for p in pts
        if free.touches(p) and np.min(np.linalg.norm(pts - (p + step), axis=1)) < 1e-9
    ]
    assert inside
    assert all(free.blocker(p, p + step) is False for p in inside)


@pytest.fixture(scope="module")
def tasks():
    return load_alfred_default()


def test_alfred_start_poses_are_accepted(tasks) -> None:
    """ALFRED's recorded start poses (TeleportFull without force): 247 of 251 today; the rest
    stand where a 5.0.0 object's box is."""
    from sim.tasks.episode import start_pose

    envs: dict[str, OfflineController] = {}
    accepted = 0
    for task in tasks:
        env = envs.setdefault(task.scene, OfflineController(task.scene))
        env.reset(task.scene)
        accepted += bool(env.step(start_pose(task)))
    assert accepted >= 0.98 * len(tasks)


@pytest.mark.slow
def test_expert_navigation_replays(tasks) -> None:
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "experiments"))
    from alfred_navigation import replay

    envs: dict[str, OfflineController] = {}
    done = sum(
        replay(envs.setdefault(t.scene, OfflineController(t.scene)), t)[1] is None for t in tasks
    )
    assert done >= 0.84 * len(tasks)
