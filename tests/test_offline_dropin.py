"""Client code written against ai2thor 5.0.0, unchanged: the calls of ai2thor's documentation
examples and of the recorded episodes, THOR-shaped events out."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest

from sim.offline import OfflineController
from sim.offline.controller import ACTIONS
from sim.offline.errors import InvalidActionError
from sim.offline.restore import unmodelled
from tests.floorplan1 import APPLE, COUNTER, FRIDGE, START
from tests.test_offline_interact import check_consistency, obj

EPISODES = Path(__file__).resolve().parents[2] / "shared/data/ithor/episodes"


@pytest.fixture
def ctl() -> OfflineController:
    c = OfflineController("FloorPlan1")
    c.reset("FloorPlan1", agent=START)
    return c


def test_interactable_poses_as_in_the_docs(ctl) -> None:
    """ai2thor's documentation example (numpy horizons, a range of rotations); each returned
    pose, passed to TeleportFull, shows the object."""
    event = ctl.step(
        action="GetInteractablePoses",
        objectId=APPLE,
        horizons=np.linspace(-30, 60, 30),
        rotations=range(0, 360, 10),
        standings=[True, False],
    )
    poses = event.metadata["actionReturn"]
    assert poses and set(poses[0]) == {"x", "y", "z", "rotation", "standing", "horizon"}
    for pose in poses[:: max(1, len(poses) // 40)]:
        e = ctl.step("TeleportFull", **pose, forceAction=True)
        assert obj(e.metadata, APPLE)["visible"], pose
    few = ctl.step(action="GetInteractablePoses", objectId=APPLE, maxPoses=3)
    assert len(few.metadata["actionReturn"]) == 3


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"objectId": "Nope|1|2|3"}, "objectId: Nope|1|2|3 is not the objectId on any object"),
        ({"objectId": APPLE, "maxPoses": 0}, "maxPoses must be > 0."),
        ({"objectId": APPLE, "horizons": [90]}, "Each horizon must be in [-30:60]. You gave 90."),
        ({"objectId": APPLE, "rotations": []}, "Every degree of freedom must have at least 1"),
    ],
)
def test_interactable_poses_failures(ctl, kw, message) -> None:
    event = ctl.step(action="GetInteractablePoses", **kw)
    assert not event and message in event.metadata["errorMessage"]


def test_shortest_paths_follow_the_free_space(ctl) -> None:
    target = {"x": 1.0, "y": 0.9, "z": -1.5}
    e = ctl.step(action="GetShortestPathToPoint", target=target)
    corners = e.metadata["actionReturn"]["corners"]
    assert e.metadata["actionReturn"]["status"] == 0
    assert (corners[0]["x"], corners[0]["z"]) == (START["position"]["x"], START["position"]["z"])
    assert (corners[-1]["x"], corners[-1]["z"]) == (1.0, -1.5)
    grid = ctl.state.grid
    xz = [np.array((c["x"], c["z"])) for c in corners]
    assert all(grid.path_clear(a, b) for a, b in itertools.pairwise(xz))
    xyz_form = ctl.step(action="GetShortestPathToPoint", position=START["position"], **target)
    assert xyz_form.metadata["actionReturn"] == e.metadata["actionReturn"]  # metrics.py's form
    far = ctl.step(action="GetShortestPathToPoint", target={"x": 30.0, "y": 0.9, "z": 0.0})
    assert (
        "No point on NavMesh near targetPosition (30.0, 0.9, 0.0)." in far.metadata["errorMessage"]
    )


def test_shortest_path_to_an_object_ends_where_it_is_in_reach(ctl) -> None:
    e = ctl.step(action="GetShortestPath", objectId=FRIDGE)
    end = e.metadata["actionReturn"]["corners"][-1]
    ctl.step("Teleport", position={"x": end["x"], "y": 0.901, "z": end["z"]})
    lo, hi = ctl.state.lo[ctl.state.row[FRIDGE]], ctl.state.hi[ctl.state.row[FRIDGE]]
    cam = ctl.state.agent.camera()
    assert np.linalg.norm(cam - np.clip(cam, lo, hi)) <= 1.5
    assert (
        "Multiple objects of type Cabinet"
        in ctl.step(action="GetShortestPath", objectType="Cabinet").metadata["errorMessage"]
    )
    assert (
        "Object type Unicorn was not found"
        in ctl.step(action="GetShortestPath", objectType="Unicorn").metadata["errorMessage"]
    )


def test_place_object_at_point_as_in_the_docs(ctl) -> None:
    e = ctl.step(
        action="PlaceObjectAtPoint", objectId=APPLE, position={"x": 0.3, "y": 1.5, "z": 0.0}
    )
    assert e, e.metadata["errorMessage"]
    apple = obj(e.metadata, APPLE)
    assert apple["parentReceptacles"] == [COUNTER]
    top = max(c[1] for c in obj(e.metadata, COUNTER)["axisAlignedBoundingBox"]["cornerPoints"])
    bottom = min(c[1] for c in apple["axisAlignedBoundingBox"]["cornerPoints"])
    assert 0 < bottom - top < 0.01
    assert e.metadata["actionReturn"] == apple["position"]
    check_consistency(e.metadata)
    blocked = ctl.step(
        action="PlaceObjectAtPoint", objectId=APPLE, position={"x": -2.0, "y": 1.5, "z": 1.1}
    )
    assert "Spawn area not clear (Fridge" in blocked.metadata["errorMessage"]
    assert obj(blocked.metadata, APPLE)["position"] == apple["position"]
    gone = ctl.step(action="PlaceObjectAtPoint", objectId="Nope", position={"x": 0, "y": 1, "z": 0})
    assert gone.metadata["errorMessage"] == "Cannot find object with id Nope."


UNMODELLED = sorted(k for k, (handler, _) in ACTIONS.items() if handler is unmodelled)


def test_the_rigid_body_actions_are_accepted_like_the_visual_ones() -> None:
    rigid = {"MakeAllObjectsMoveable", "MakeObjectsStaticKinematicMassThreshold"}
    assert rigid | {"RandomizeMaterials", "ResetColors"} <= set(UNMODELLED)


@pytest.mark.parametrize("action", UNMODELLED)
def test_unmodelled_actions_succeed_and_change_nothing(ctl, action) -> None:
    """Visual-only and rigid-body-only actions: nothing the metadata reports changes."""
    before = ctl.last_event.metadata["objects"]
    e = ctl.step(action=action)
    assert e and e.metadata["objects"] == before


def _recorded_actions() -> list[dict]:
    out = []
    for path in sorted(EPISODES.glob("*.jsonl")):
        for line in path.read_text().splitlines():
            rec = json.loads(line)
            action = rec.get("action")
            if isinstance(action, dict) and isinstance(action.get("action"), str):
                out.append(action)  # (the first record of each holds the start state only)
    return out


@pytest.mark.skipif(not EPISODES.is_dir(), reason="recorded episodes not present")
def test_every_recorded_action_dict_is_understood() -> None:
    """The action dicts of the real recorded episodes go in unchanged: none is refused as an
    unknown action or argument."""
    actions = _recorded_actions()
    assert actions
    ctl = OfflineController("FloorPlan1")
    for action in actions:
        try:
            ctl.step(dict(action))
        except ValueError as exc:
            assert "Invalid action" not in str(exc) and "invalid argument" not in str(exc), action


def test_controller_attributes_clients_read() -> None:
    with OfflineController("FloorPlan1", width=200, height=100) as ctl:
        assert (ctl.width, ctl.height) == (200, 100)
        assert ctl.initialization_parameters["gridSize"] == 0.25
        ctl.step(action="RotateRight", degrees=30)
        assert ctl.last_action == {"action": "RotateRight", "degrees": 30}
    with pytest.raises(RuntimeError, match="stopped"):
        ctl.step(action="Pass")


def test_scene_lists_clients_read() -> None:
    """ai2thor's scene lists: the 120 iTHOR scenes by room type, as "FloorPlanN_physics"."""
    with OfflineController("FloorPlan1") as ctl:
        scenes = ctl.ithor_scenes()
        assert len(scenes) == 120 and scenes[0] == "FloorPlan1_physics"
        assert scenes[30] == "FloorPlan201_physics" and scenes[-1] == "FloorPlan430_physics"
        bathrooms = ctl.ithor_scenes(False, False, False, True)
        assert bathrooms == [f"FloorPlan{i}_physics" for i in range(401, 431)]
        assert ctl.scene_names() == scenes
        assert ctl.scenes_in_build == set(scenes)
        ret = ctl.step(action="GetScenesInBuild").metadata["actionReturn"]
        assert set(ret) == set(scenes)


def test_event_helpers_clients_read(ctl) -> None:
    """ai2thor's Event helpers: get_object, objects_by_type, pose, pose_discrete, the
    deprecated metadata keys and frame names, and a repr naming the action."""
    event = ctl.step(action="Pass")
    assert event.get_object(APPLE)["objectType"] == "Apple"
    assert event.get_object("Nothing|0|0|0") is None
    assert {o["objectId"] for o in event.objects_by_type("Apple")} == {APPLE}
    agent = event.metadata["agent"]
    x, z = agent["position"]["x"], agent["position"]["z"]
    assert event.pose == (
        round(x * 1000),
        round(z * 1000),
        round(agent["rotation"]["y"] * 1000),
        round(agent["cameraHorizon"] * 1000),
    )
    assert event.pose_discrete[:2] == (int(x / 0.25), int(z / 0.25))
    with pytest.raises(IndexError, match="GetReachablePositions"):
        event.metadata["reachablePositions"]
    reach = ctl.step(action="GetReachablePositions")
    with pytest.warns(UserWarning, match="deprecated"):
        assert reach.metadata["reachablePositions"] == reach.metadata["actionReturn"]
    with pytest.warns(UserWarning, match="heldObjectPose"):
        assert reach.metadata["hand"] == reach.metadata["heldObjectPose"]
    with pytest.warns(DeprecationWarning):
        assert reach.class_segmentation_frame is None
    assert reach.third_party_depth_frames == [] and reach.events == [reach]
    assert 'metadata["lastAction"] = GetReachablePositions' in repr(reach)
    assert json.loads(json.dumps(reach.metadata))["lastAction"] == "GetReachablePositions"


def test_cv2image_is_the_deprecated_cv2img() -> None:
    with OfflineController("FloorPlan1", render_depth_image=True, width=64, height=48) as ctl:
        event = ctl.step(action="Pass")
        with pytest.warns(UserWarning, match="cv2img"):
            assert np.array_equal(event.cv2image(), event.cv2img)
        assert event.cv2img.shape == (48, 64, 3)


def test_the_controllers_process_arguments_are_accepted() -> None:
    """What real scripts pass to ai2thor's Controller for its Unity process (headless,
    platform, x_display, commit_id...) is accepted; depth_format scales the depth frame."""
    from ai2thor.server import DepthFormat

    common = {"scene": "FloorPlan1", "render_depth_image": True, "width": 32, "height": 24}
    metres = OfflineController(**common).step(action="Pass").depth_frame
    ctl = OfflineController(
        headless=True,
        platform=None,
        x_display=":0",
        commit_id="f0825767",
        server_timeout=100.0,
        depth_format=DepthFormat.Millimeters,
        agentMode="default",
        **common,
    )
    assert ctl.process_parameters["x_display"] == ":0"
    assert "headless" not in ctl.initialization_parameters
    assert np.allclose(ctl.step(action="Pass").depth_frame, metres * 1000, rtol=1e-6)
    normalized = OfflineController(depth_format="Normalized", **common)
    assert np.allclose(normalized.step(action="Pass").depth_frame, metres / 19.9, rtol=1e-6)
    with pytest.raises(ValueError, match="depth_format"):
        OfflineController(depth_format="Feet", **common)
    with pytest.raises(ValueError, match="add_depth_noise"):
        OfflineController(add_depth_noise=True, **common)


def test_semantic_segmentation_and_class_masks() -> None:
    """renderSemanticSegmentation (or its old name renderClassImage) colours every pixel by its
    object's class; class_masks and class_detections2D are the union of the instances'."""
    with OfflineController("FloorPlan1", width=80, height=60) as ctl:
        ctl.reset(renderObjectImage=True, renderClassImage=True)
        event = ctl.step(action="Pass")
        colors = {c["name"]: tuple(c["color"]) for c in event.metadata["colors"]}
        semantic = event.semantic_segmentation_frame
        assert semantic.shape == (60, 80, 3)
        for cls, mask in event.class_masks.items():
            union = np.zeros_like(mask)
            for oid, inst in event.instance_masks.items():
                if oid.split("|")[0] == cls:
                    union |= inst
            assert np.array_equal(mask, union)
            assert (semantic[mask] == colors[cls]).all()
            assert event.color_to_object_id[colors[cls]] == cls
        assert len(event.class_detections2D["Cabinet"]) >= 2  # one box per cabinet in view
        assert len(set(colors.values())) == len(colors)  # class and instance colours differ
    plain = OfflineController("FloorPlan1", render_depth_image=True, width=8, height=6)
    assert plain.step(action="Pass").semantic_segmentation_frame is None


def test_a_bare_rotation_is_a_yaw(ctl) -> None:
    pose = ctl.last_event.metadata["agent"]["position"]
    event = ctl.step(action="TeleportFull", position=pose, rotation=180, horizon=0, standing=True)
    assert event and event.metadata["agent"]["rotation"]["y"] == 180


def test_an_object_filter_limits_the_metadata_until_reset(ctl) -> None:
    """SetObjectFilter / SetObjectFilterForType / ResetObjectFilter, as rearrangement code calls
    them for speed: unknown ids are dropped, the filter lasts over steps and ends with reset."""
    every = {o["objectId"] for o in ctl.last_event.metadata["objects"]}
    e = ctl.step(action="SetObjectFilter", objectIds=[APPLE, FRIDGE, "Nope|1|2|3"])
    assert e and {o["objectId"] for o in e.metadata["objects"]} == {APPLE, FRIDGE}
    moved = ctl.step(action="RotateRight")
    assert {o["objectId"] for o in moved.metadata["objects"]} == {APPLE, FRIDGE}
    assert moved.get_object(COUNTER) is None
    e = ctl.step(action="SetObjectFilterForType", objectTypes=["Fridge", "CounterTop"])
    assert {o["objectType"] for o in e.metadata["objects"]} == {"Fridge", "CounterTop"}
    e = ctl.step(action="ResetObjectFilter")
    assert {o["objectId"] for o in e.metadata["objects"]} == every
    ctl.step(action="SetObjectFilter", objectIds=[])
    assert ctl.last_event.metadata["objects"] == []
    ctl.reset("FloorPlan1")
    assert {o["objectId"] for o in ctl.last_event.metadata["objects"]} == every


def test_remove_from_scene_drops_what_the_object_held(ctl) -> None:
    """RemoveFromScene: the counter is gone, what stood on it lands on a support below, the
    receptacle lists stay consistent; a held object removed empties the hand; an unknown id is
    THOR's error and changes nothing."""
    before = ctl.last_event.metadata
    on = [o["objectId"] for o in before["objects"] if COUNTER in (o["parentReceptacles"] or ())]
    assert APPLE in on
    e = ctl.step(action="RemoveFromScene", objectId=COUNTER)
    assert e and e.get_object(COUNTER) is None
    assert len(e.metadata["objects"]) == len(before["objects"]) - 1
    for k in on:
        o = e.get_object(k)
        assert o["parentReceptacles"] and COUNTER not in o["parentReceptacles"]
        assert o["position"]["y"] < obj(before, k)["position"]["y"]
    check_consistency(e.metadata)
    unchanged = e.metadata["objects"]
    bad = ctl.step(action="RemoveFromScene", objectId=COUNTER)
    assert not bad and bad.metadata["errorMessage"].startswith(
        f"ArgumentException: objectId: {COUNTER} is not the objectId on any object in the scene!"
    )
    assert bad.metadata["objects"] == unchanged
    assert ctl.step(action="PickupObject", objectId=APPLE, forceAction=True)
    e = ctl.step(action="RemoveFromScene", objectId=APPLE)
    assert e and e.get_object(APPLE) is None and e.metadata["inventoryObjects"] == []
    check_consistency(e.metadata)


def test_use_up_object_runs_an_object_out_once() -> None:
    """UseUpObject: THOR's refusals (by the object's name) and the one-way isUsedUp. No 5.0.0
    iTHOR object can be used up, so the test makes one that can."""
    start = OfflineController("FloorPlan1").last_event.metadata
    objects = [dict(o, canBeUsedUp=True) if o["objectId"] == APPLE else o for o in start["objects"]]
    ctl = OfflineController.from_metadata({**start, "objects": objects})
    e = ctl.step(action="UseUpObject", objectId=COUNTER, forceAction=True)
    name = obj(e.metadata, COUNTER)["name"]
    assert not e and e.metadata["errorMessage"] == f"{name} does not have CanBeUsedUp property!"
    e = ctl.step(action="UseUpObject", objectId=APPLE, forceAction=True)
    assert e and obj(e.metadata, APPLE)["isUsedUp"]
    again = ctl.step(action="UseUpObject", objectId=APPLE, forceAction=True)
    assert not again and again.metadata["errorMessage"] == "object already used up!"


def test_set_object_states_by_type(ctl) -> None:
    """SetObjectStates: a state for every object of a type (all types without objectType), the
    one-way ones only set, "sliceable" slices; THOR's refusals change nothing."""

    def step(**spec):
        return ctl.step(action="SetObjectStates", SetObjectStates=spec)

    def states(event, otype, field):
        return [o[field] for o in event.metadata["objects"] if o["objectType"] == otype]

    e = step(objectType="Cabinet", stateChange="openable", isOpen=True)
    assert e and all(states(e, "Cabinet", "isOpen")) and not any(states(e, "Fridge", "isOpen"))
    e = step(stateChange="openable", isOpen=False)
    assert not any(o["isOpen"] for o in e.metadata["objects"])
    drawer = next(o for o in e.metadata["objects"] if o["objectType"] == "Drawer")
    step(objectType="Drawer", stateChange="openable", isOpen=True)
    # a drawer opened by state did not slide out, so closing it does not push it in
    e = ctl.step(action="CloseObject", objectId=drawer["objectId"], forceAction=True)
    assert e and obj(e.metadata, drawer["objectId"])["position"] == drawer["position"]
    e = step(objectType="Apple", stateChange="sliceable", isSliced=True)
    assert e and states(e, "Apple", "isSliced") == [True] and states(e, "AppleSliced", "isSliced")
    e = step(objectType="Apple", stateChange="cookable", isCooked=False)
    assert e and not any(states(e, "Apple", "isCooked"))
    e = step(objectType="Mug", stateChange="noSuchState")
    assert e
    before = ctl.last_event.metadata["objects"]
    for spec, message in [
        ({"objectType": "Bogus", "stateChange": "openable"}, "Requested value 'Bogus'"),
        ({"objectType": "Mug"}, "is missing stateChange string"),
        ({}, "has objectType and stateChange strings null"),
    ]:
        bad = step(**spec)
        assert not bad and message in bad.metadata["errorMessage"]
        assert bad.metadata["objects"] == before
    assert not ctl.step(action="SetObjectStates")
    with pytest.raises(InvalidActionError, match="SetObjectStates.isDirty"):
        step(objectType="Mug", stateChange="dirtyable", isDirty="yes")
    assert ctl.last_event.metadata["objects"] == before
