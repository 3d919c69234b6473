"""Client code written against ai2thor 5.0.0, unchanged: the calls of ai2thor's documentation
examples and of the recorded episodes, THOR-shaped events out."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest

from sim.offline import OfflineController
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


@pytest.mark.parametrize(
    "action",
    ["RandomizeMaterials", "RandomizeLighting", "RandomizeColors", "ResetMaterials", "ResetColors"],
)
def test_visual_only_actions_succeed_and_change_nothing(ctl, action) -> None:
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
