"""Navigation on the agent's own floor map: optimistic routes, learned blocks, real THOR steps."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from embodmem.errors import ValidationError
from embodmem.planning.navigation import FloorMap, heading, look_at, route
from sim.offline import OfflineController


def test_route_is_shortest_and_avoids_what_is_known_blocked() -> None:
    floor = FloorMap()
    assert route(floor, (0.0, 0.0), 0.0, (0.0, 1.0), reach=0.3) == ["MoveAhead"] * 3
    floor.blocked |= {(0, 1), (0, 2)}
    detour = route(floor, (0.0, 0.0), 0.0, (0.0, 1.0), reach=0.3)
    assert detour is not None and ({"RotateLeft", "RotateRight"} & set(detour))
    assert len(detour) > 3  # around the blocked cells
    assert route(floor, (0.0, 0.0), 180.0, (0.0, 2.0), reach=0.3) is not None
    walled = FloorMap(blocked={(1, 0), (-1, 0), (0, 1), (0, -1)})
    assert route(walled, (0.0, 0.0), 0.0, (0.0, 2.0), reach=0.3) is None


@settings(max_examples=80, deadline=None)
@given(
    st.integers(-6, 6),
    st.integers(-6, 6),
    st.sampled_from((0.0, 90.0, 180.0, 270.0)),
    st.sets(st.tuples(st.integers(-6, 6), st.integers(-6, 6)), max_size=25),
)
def test_following_a_route_ends_near_and_facing_the_target(tx, tz, yaw, blocked) -> None:
    floor = FloorMap(blocked=blocked - {(0, 0)}, bounds=(-2.0, -2.0, 2.0, 2.0))
    target = (tx * 0.25, tz * 0.25)
    plan = route(floor, (0.0, 0.0), yaw, target, reach=0.6)
    if plan is None:
        return
    i, j, h = 0, 0, heading(yaw)
    for a in plan:
        if a == "MoveAhead":
            di, dj = {0: (0, 1), 90: (1, 0), 180: (0, -1), 270: (-1, 0)}[h]
            i, j = i + di, j + dj
            assert floor.passable((i, j))
        else:
            h = (h + (90 if a == "RotateRight" else 270)) % 360
    assert math.hypot(target[0] - i * 0.25, target[1] - j * 0.25) <= 0.6
    assert route(floor, (i * 0.25, j * 0.25), h, target, reach=0.6) == []


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValidationError):
        route(FloorMap(), (math.nan, 0.0), 0.0, (1.0, 1.0))
    with pytest.raises(ValidationError):
        route(FloorMap(), (0.0, 0.0), 0.0, (1.0, 1.0), reach=0.0)


def test_look_at_centres_the_target_within_thor_limits() -> None:
    assert (
        look_at((0.0, 1.5, 0.0), (0.0, 0.5, 1.0), 0.0)
        == [{"action": "LookDown", "degrees": 15.0}] * 3
    )
    assert (
        look_at((0.0, 1.5, 0.0), (0.0, 1.5, 2.0), 30.0)
        == [{"action": "LookUp", "degrees": 15.0}] * 2
    )
    assert len(look_at((0.0, 1.5, 0.0), (0.0, 0.0, 0.01), 0.0)) == 4  # clamped at 60 down


@pytest.mark.parametrize(
    ("scene", "kind"),
    [("FloorPlan1", "Apple"), ("FloorPlan201", "RemoteControl"), ("FloorPlan301", "CellPhone")],
)
def test_the_agent_walks_to_an_object_and_picks_it_up(scene, kind) -> None:
    """In the offline simulator, from the reset pose, with only the agent's pose, the object's
    position, the scene bounds and each action's success: route, learn blocked cells from
    failed moves, replan, look, pick up."""
    ctl = OfflineController(scene)
    meta = ctl.last_event.metadata
    obj = next(o for o in meta["objects"] if o["objectType"] == kind)
    goal = (obj["position"]["x"], obj["position"]["z"])
    b = meta["sceneBounds"]["cornerPoints"]
    xs, zs = [p[0] for p in b], [p[2] for p in b]
    floor = FloorMap(bounds=(min(xs), min(zs), max(xs), max(zs)))
    tried: set = set()
    for _ in range(300):
        agent = meta["agent"]
        x, z, yaw = agent["position"]["x"], agent["position"]["z"], agent["rotation"]["y"]
        floor.stood(x, z)
        plan = route(floor, (x, z), yaw, goal, reach=1.0, avoid=tried)
        assert plan is not None, "no route"
        if not plan:
            cam = meta["cameraPosition"]
            where = (obj["position"]["x"], obj["position"]["y"], obj["position"]["z"])
            for look in look_at((cam["x"], cam["y"], cam["z"]), where, agent["cameraHorizon"]):
                meta = ctl.step(look).metadata
            meta = ctl.step(action="PickupObject", objectId=obj["objectId"]).metadata
            if meta["lastActionSuccess"]:
                assert meta["inventoryObjects"][0]["objectId"] == obj["objectId"]
                return
            tried.add(floor.cell(x, z))  # not from here: try another spot
            continue
        meta = ctl.step(action=plan[0]).metadata
        if plan[0] == "MoveAhead" and not meta["lastActionSuccess"]:
            floor.move_failed(x, z, yaw)
    pytest.fail(f"did not pick up the {kind}")
