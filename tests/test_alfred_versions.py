"""ALFRED's 2.1.0 receptacle types posed in the 5.0.0 scenes (sim.tasks.versions)."""

from __future__ import annotations

import pytest

from sim.offline import OfflineController
from sim.scenes import scene_objects
from sim.tasks import load_alfred_default, replay_expert, start_episode
from sim.tasks.goals import goal_from_pddl
from sim.tasks.versions import IdError, counterpart, parse_id, repose_goal


def test_parse_id_reads_types_positions_and_parts() -> None:
    assert parse_id("Glassbottle|+01.00|+00.90|-02.00") == ("Bottle", (1.0, 0.9, -2.0), None)
    kind, _, part = parse_id("Sink|-03.12|-00.01|+01.53|SinkBasin")
    assert (kind, part) == ("SinkBasin", "SinkBasin")
    for bad in ("Apple", "Apple|x|1|2", "A|1|2|3|4|5"):
        with pytest.raises(IdError):
            parse_id(bad)


def test_counterpart_is_the_fixed_receptacle_holding_the_position() -> None:
    objs = scene_objects("FloorPlan401").values()
    assert counterpart((-3.21, 0.0, 0.15), objs)["objectType"] == "SideTable"  # 2.1.0's Cart
    assert counterpart((0.0, 5.0, 0.0), objs) is None  # nothing there


def test_repose_goal_renames_only_what_the_scene_lacks() -> None:
    pddl = {"object_target": "Candle", "parent_target": "Cart", "object_sliced": False}
    goal = goal_from_pddl("pick_and_place_simple", pddl)
    put = [{"action": "PutObject", "receptacleObjectId": "Cart|-03.21|+00.00|+00.15"}]
    posed, retyped = repose_goal(goal, "pick_and_place_simple", pddl, "FloorPlan401", put)
    assert retyped == {"Cart": "SideTable"} and posed.targets["parent"] == "SideTable"
    kept, none = repose_goal(goal, "pick_and_place_simple", pddl, "FloorPlan401", [])
    assert kept is goal and none == {}  # no expert put to find it by: reported unsatisfiable
    sink = {**pddl, "parent_target": "SinkBasin"}
    same = goal_from_pddl("pick_and_place_simple", sink)
    assert repose_goal(same, "pick_and_place_simple", sink, "FloorPlan401", put) == (same, {})


def test_retyped_tasks_start_satisfiable_and_replay() -> None:
    """The valid-seen tasks whose receptacle 5.0.0 renamed (a Cart and a Dresser become side
    tables): satisfiable after start_episode, not met at the start, and the expert's replay
    meets them."""
    tasks = [t for t in load_alfred_default() if t.retyped]
    assert {tuple(t.retyped.items()) for t in tasks} == {
        (("Cart", "SideTable"),),
        (("Dresser", "SideTable"),),
    }
    replayed = 0
    for task in tasks:
        env = OfflineController(task.scene)
        result = task.goal.check(start_episode(env, task).metadata)
        assert not result.unsatisfiable and not result.success
        replayed += replay_expert(env, task).success
    assert replayed >= len(tasks) - 1


def test_only_a_put_receptacle_falls_back_to_its_counterpart() -> None:
    from sim.tasks import EpisodeError
    from sim.tasks.replay import resolve_id

    objs = list(scene_objects("FloorPlan401").values())
    cart = "Cart|-03.21|+00.00|+00.15"
    assert resolve_id(cart, objs, receptacle=True).startswith("SideTable|")
    with pytest.raises(EpisodeError, match="no Cart"):
        resolve_id(cart, objs)  # a pickup or open of a type the scene lacks is reported
