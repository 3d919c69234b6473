"""SetObjectPoses / SetObjectToggles / SetStateOfAllObjects and starting ALFRED episodes."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from sim.offline import OfflineController
from sim.offline.restore import id_number, object_id
from sim.scenes import scene_names, scene_objects
from sim.tasks import load_alfred_default
from sim.tasks.episode import map_object_poses, restore_actions, start_episode
from tests.floorplan1 import APPLE, COUNTER, MUG, START
from tests.test_offline_interact import check_consistency, obj


@pytest.fixture
def ctl() -> OfflineController:
    c = OfflineController("FloorPlan1")
    c.reset("FloorPlan1", agent=START)
    return c


def poses_of(meta: dict, kinds=("pickupable",)) -> list[dict]:
    """SetObjectPoses entries that leave every object of `kinds` where it is."""
    return [
        {"objectName": o["name"], "position": o["position"], "rotation": o["rotation"]}
        for o in meta["objects"]
        if any(o[k] for k in kinds)
    ]


def test_object_ids_are_generated_as_thor_does() -> None:
    """The position-based ids of all 120 recorded scenes, regenerated from their positions;
    the few that differ belong to objects that physics moved after THOR named them."""
    same = total = 0
    for scene in scene_names():
        for oid, o in scene_objects(scene).items():
            if oid.count("|") == 3:
                total += 1
                p = np.array([o["position"][k] for k in "xyz"])
                same += object_id(o["objectType"], p) == oid
    assert total > 5000 and same / total > 0.97
    assert [id_number(v) for v in (0.4949999749660492, -0.001, -2.2, 10.005)] == [
        "+00.50",
        "00.00",
        "-02.20",
        "+10.01",
    ]


def test_set_object_poses_places_copies_and_removes(ctl) -> None:
    meta = ctl.last_event.metadata
    statics = {o["objectId"] for o in meta["objects"] if not o["pickupable"] and not o["moveable"]}
    apple = obj(meta, APPLE)
    poses = [p for p in poses_of(meta) if p["objectName"] != obj(meta, MUG)["name"]]
    copy_pose = {
        "objectName": apple["name"],
        "position": {"x": 0.3, "y": 1.2, "z": 0.0},  # over the counter, above it: it drops
        "rotation": {"x": 0.0, "y": 90.0, "z": 0.0},
    }
    event = ctl.step(action="SetObjectPoses", objectPoses=[*poses, copy_pose])
    assert event.metadata["lastActionSuccess"], event.metadata["errorMessage"]
    after = {o["objectId"]: o for o in event.metadata["objects"]}
    names = [o["name"] for o in after.values()]
    assert obj(meta, MUG)["name"] not in names  # left out: removed
    assert not any(o["moveable"] for o in after.values())  # furniture not listed: removed
    assert statics <= set(after)  # static objects stay, their ids unchanged
    clone = next(o for o in after.values() if o["name"].startswith(apple["name"] + "(Clone)"))
    assert clone["name"] == f"{apple['name']}(Clone)_copy_{len(poses)}"
    # THOR names placed objects where they were put, before anything settles
    assert clone["objectId"] == object_id("Apple", np.array([0.3, 1.2, 0.0]))
    assert clone["parentReceptacles"][0] == COUNTER
    counter_top = max(c[1] for c in after[COUNTER]["axisAlignedBoundingBox"]["cornerPoints"])
    bottom = min(c[1] for c in clone["axisAlignedBoundingBox"]["cornerPoints"])
    assert abs(bottom - counter_top) < 0.01  # resting on the counter, not floating
    assert clone["rotation"]["y"] == 90.0
    check_consistency(event.metadata)


@pytest.mark.parametrize(
    ("pose", "error"),
    [
        ({"objectName": "NoSuchThing_1234"}, "No Pickupable or Moveable object of name"),
        ({"objectName": "CounterTop_d7cc8dfe"}, None),  # a static object (name varies)
        ({"position": {"x": 1e6, "y": 0, "z": 0}}, "outside the scene bounds"),
    ],
)
def test_bad_poses_fail_and_change_nothing(ctl, pose, error) -> None:
    meta = ctl.last_event.metadata
    poses = poses_of(meta)
    if pose.get("objectName") == "CounterTop_d7cc8dfe":
        pose = {"objectName": obj(meta, COUNTER)["name"]}
        error = "is not a Moveable or Pickupable object"
    poses[3] = {**poses[3], **pose}
    before = copy.deepcopy(ctl.state.objects)
    event = ctl.step(action="SetObjectPoses", objectPoses=poses)
    assert not event.metadata["lastActionSuccess"] and error in event.metadata["errorMessage"]
    assert ctl.state.objects == before


@pytest.mark.parametrize(
    "poses",
    [
        [{"objectName": "Apple_3fef4551", "position": {"x": float("nan"), "y": 1, "z": 0}}],
        [{"objectName": "Apple_3fef4551", "position": [0, 1, 0]}],
        [{"objectName": 7}],
        [{"objectName": "Apple_3fef4551", "scale": 2}],
    ],
)
def test_malformed_poses_raise_value_error(ctl, poses) -> None:
    before = copy.deepcopy(ctl.state.objects)
    with pytest.raises(ValueError, match="objectPoses"):
        ctl.step(action="SetObjectPoses", objectPoses=poses)
    assert ctl.state.objects == before


@pytest.mark.parametrize("poses", [[], None, [None]])
def test_uninitialised_poses_fail_as_in_thor(ctl, poses) -> None:
    kw = {} if poses is None else {"objectPoses": poses}
    event = ctl.step(action="SetObjectPoses", **kw)
    assert event.metadata["errorMessage"].startswith("objectPoses was not initialized correctly")


def test_toggles_by_type_and_all_object_states(ctl) -> None:
    e = ctl.step(
        dict(action="SetObjectToggles", objectToggles=[{"objectType": "Faucet", "isOn": True}])
    )
    assert e and all(o["isToggled"] for o in e.metadata["objects"] if o["objectType"] == "Faucet")
    before = copy.deepcopy(ctl.state.objects)
    for bad, message in (("Apple", "object is not toggleable."), ("Unicorn", "Requested value")):
        e = ctl.step(
            dict(action="SetObjectToggles", objectToggles=[{"objectType": bad, "isOn": True}])
        )
        assert not e and message in e.metadata["errorMessage"]
        assert ctl.state.objects == before
    e = ctl.step(dict(action="SetStateOfAllObjects", StateChange="CanBeDirty", forceAction=True))
    dirtyable = [o for o in e.metadata["objects"] if o["dirtyable"]]
    assert dirtyable and all(o["isDirty"] for o in dirtyable)
    ctl.step(action="FillObjectWithLiquid", objectId=MUG, fillLiquid="water", forceAction=True)
    e = ctl.step(dict(action="SetStateOfAllObjects", StateChange="CanBeFilled", forceAction=False))
    assert not any(o["isFilledWithLiquid"] for o in e.metadata["objects"])
    assert ctl.step(action="SetStateOfAllObjects").metadata["errorMessage"].startswith("Missing")
    e = ctl.step(action="SetStateOfAllObjects", StateChange="CanFly")
    assert e.metadata["errorMessage"].startswith("State is not defined")


# --- ALFRED ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tasks():
    return load_alfred_default()


def test_pose_mapping_is_deterministic_copies_and_reports_absent_types(tasks) -> None:
    task = next(t for t in tasks if t.task_type == "pick_two_obj_and_place")
    objects = list(scene_objects(task.scene).values())
    hostile = [*task.object_poses, {"objectName": "Unicorn_1234", "position": {}, "rotation": {}}]
    first, again = map_object_poses(hostile, objects), map_object_poses(hostile, objects)
    assert first == again and first.absent == ("Unicorn_1234",)
    names = {o["name"]: o for o in objects}
    mapped = [p["objectName"] for p in first.object_poses]
    assert all(n in names for n in mapped)
    assert len(mapped) > len(set(mapped))  # ALFRED has more of some types: copies
    furniture = {o["name"] for o in objects if o["moveable"]}
    assert furniture <= set(mapped)  # never listed by ALFRED, so kept where they are


def test_alfred_restore_sequence_runs_as_action_dicts(tasks) -> None:
    dirty = next(t for t in tasks if t.dirty_and_empty)
    toggled = next(t for t in tasks if t.object_toggles)
    for task, middle in (
        (dirty, ["SetStateOfAllObjects", "SetStateOfAllObjects"]),
        (toggled, ["SetObjectToggles"]),
    ):
        env = OfflineController(task.scene)
        actions = restore_actions(task, env.last_event.metadata["objects"])
        assert [a["action"] for a in actions] == ["Initialize", *middle, "SetObjectPoses"]
        assert actions[0]["cameraY"] == 0.75 and actions[0]["visibility_distance"] == 1.5
        for action in actions:
            assert env.step(action), env.last_event.metadata["errorMessage"]


def check_start(task, event) -> bool:
    """The episode starts where ALFRED's did, with its goal unmet; returns whether the goal
    can be met, which fails only for a receptacle type the 5.0.0 scene lacks."""
    meta = event.metadata
    result = task.goal.check(meta)
    assert not result.success, f"{task.task_id} is met at the start"
    types = {o["objectType"] for o in scene_objects(task.scene).values()}
    for reason in result.unsatisfiable:
        recep = reason.removeprefix("no receptacle ").removesuffix(" in the scene")
        assert recep != reason and recep not in types, (task.task_id, reason)
    p = task.init_action
    agent = meta["agent"]
    assert (agent["position"]["x"], agent["position"]["z"]) == (p["x"], p["z"])
    assert agent["rotation"]["y"] == p["rotation"] and agent["cameraHorizon"] == p["horizon"]
    check_consistency(meta)
    return not result.unsatisfiable


def test_start_episode_one_task_per_type(tasks) -> None:
    seen = {}
    for t in tasks:
        seen.setdefault(t.task_type, t)
    for task in seen.values():
        check_start(task, start_episode(OfflineController(task.scene), task))


@pytest.mark.slow
def test_valid_seen_goals_are_satisfiable_after_start(tasks) -> None:
    envs: dict[str, OfflineController] = {}
    unsatisfiable = []
    for task in tasks:
        env = envs.setdefault(task.scene, OfflineController(task.scene))
        if not check_start(task, start_episode(env, task)):
            unsatisfiable.append(task.task_id)
    assert len(unsatisfiable) <= 0.02 * len(tasks)
