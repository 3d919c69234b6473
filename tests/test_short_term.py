"""Short-term memory: state changes from real simulator episodes, evidence timeline, absence
evidence (view coverage, occlusion by depth and octree, real episodes and the demo), replacement
policies and hit rates, consolidation into long-term memory, forgetting, snapshots."""

from __future__ import annotations

import dataclasses
import json
import math
from itertools import product
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from embodmem import BBox3D, EmbodiedMemory, MemoryConfig, ObjectObservation, Observation, Pose
from embodmem.errors import SnapshotError, UnknownNodeError, ValidationError
from embodmem.frames import thor_box, thor_camera_pose
from embodmem.octree import Octree
from embodmem.policies import POLICIES, make_policy, retention
from embodmem.scene_graph import SceneGraph
from embodmem.short_term import ShortTermMemory
from embodmem.types import quat_to_matrix
from embodmem.visibility import box_samples, in_view, octree_sight, ray_box_entry, seen_through
from sim.offline import OfflineController
from sim.offline.geometry import camera_axes
from sim.offline.visibility import visible_mask
from sim.thor import observation_from_metadata
from sim.thor_env import observation_from_event
from tests.floorplan1 import APPLE, FRIDGE, START
from tests.helpers import box_object, canonical

SECOND = 10**9


def hashing_memory(**cfg) -> EmbodiedMemory:
    return EmbodiedMemory(MemoryConfig(embedder="hashing", **cfg))


class Episode:
    """Drives the offline THOR simulator and feeds what the agent sees into a memory."""

    def __init__(self, mem: EmbodiedMemory) -> None:
        self.mem = mem
        self.ctl = OfflineController("FloorPlan1")
        self.t = 0
        self._feed(self.ctl.reset("FloorPlan1", agent=START).metadata)

    def _feed(self, metadata: dict) -> None:
        self.t += 1
        obs = observation_from_metadata(metadata, time_ns=self.t * SECOND, visible_only=True)
        self.mem.integrate(obs)

    def do(self, action: str, **kw) -> dict:
        meta = self.ctl.step(action=action, forceAction=True, **kw).metadata
        assert meta["lastActionSuccess"], meta["errorMessage"]
        self._feed(meta)
        return meta


@pytest.fixture(scope="module")
def fridge_episode() -> Episode:
    """Open the fridge, pick up the apple, put it in the fridge, close it (real FloorPlan1)."""
    ep = Episode(hashing_memory())
    ep.do("OpenObject", objectId=FRIDGE)
    ep.do("PickupObject", objectId=APPLE)
    ep.do("PutObject", objectId=FRIDGE)
    ep.do("CloseObject", objectId=FRIDGE)
    return ep


def test_changes_of_a_real_fridge_episode(fridge_episode: Episode) -> None:
    mem = fridge_episode.mem
    changes = mem.short_term.changes()
    by = {(c.source_id, c.field, c.cause): c for c in changes}
    opened = by[(FRIDGE, "isOpen", "OpenObject")]
    assert (opened.before, opened.after, opened.time_ns) == (False, True, 2 * SECOND)
    closed = by[(FRIDGE, "isOpen", "CloseObject")]
    assert (closed.before, closed.after, closed.time_ns) == (True, False, 5 * SECOND)
    put = by[(APPLE, "parentReceptacles", "PutObject")]
    assert FRIDGE in put.after and FRIDGE not in (put.before or [])
    assert by[(APPLE, "isPickedUp", "PutObject")].after is False
    moved = by[(APPLE, "position", "PutObject")]
    fridge = mem.scene_graph.object_by_source(FRIDGE)
    assert math.dist(moved.after, fridge.position) < math.dist(moved.before, fridge.position)
    apple = mem.scene_graph.object_by_source(APPLE)
    assert moved.node_id == apple.node_id and moved.label == "Apple"
    # Every change is about a real field transition, in time order.
    assert all(c.before != c.after for c in changes)
    assert [c.time_ns for c in changes] == sorted(c.time_ns for c in changes)
    assert mem.short_term.changes(since_ns=5 * SECOND) == [c for c in changes if c.time_ns >= 5e9]


def test_timeline_of_a_real_episode(fridge_episode: Episode) -> None:
    mem = fridge_episode.mem
    apple = mem.scene_graph.object_by_source(APPLE).node_id
    fridge = mem.scene_graph.object_by_source(FRIDGE).node_id
    ev = mem.short_term.evidence(fridge)
    assert ev.first_seen_ns == 1 * SECOND and ev.last_changed_ns == 5 * SECOND
    ev_apple = mem.short_term.evidence(apple)
    assert ev_apple.first_seen_ns == 3 * SECOND  # first visible when picked up
    assert ev_apple.last_changed_ns == 4 * SECOND
    with pytest.raises(UnknownNodeError):
        mem.short_term.evidence("O999")


def test_carrying_an_object_logs_only_pickup_and_putdown() -> None:
    ep = Episode(hashing_memory())
    ep.do("PickupObject", objectId=APPLE)
    start = ep.t
    for action in ("RotateLeft", "MoveAhead", "RotateRight", "MoveBack"):
        ep.ctl.step(action=action)
        ep._feed(ep.ctl.last_event.metadata)
    carried = [c for c in ep.mem.short_term.changes() if c.time_ns > start * SECOND]
    assert not [c for c in carried if c.source_id == APPLE]
    node = ep.mem.scene_graph.object_by_source(APPLE).node_id
    assert ep.mem.short_term.entry(node).states["isPickedUp"] is True


def cup(x: float, sid: str = "cup", label: str = "Cup", **states) -> ObjectObservation:
    return ObjectObservation(label, position=(x, 0.0, 1.0), id_hint=sid, states=states)


LOOK_X = Pose((0.0, 0.0, 1.0))  # camera at the origin looking along +x


def test_in_view_frustum() -> None:
    pts = np.array([[1.0, 0, 1.0], [-1.0, 0, 1.0], [1.0, 1.5, 1.0], [3.0, 0, 1.0]])
    assert in_view(LOOK_X, pts, 90, 1.5).tolist() == [True, False, False, False]


def test_absence_and_reappearance_evidence() -> None:
    mem = hashing_memory()
    mem.integrate(Observation(1, (cup(1.0),), agent_pose=LOOK_X))
    node = mem.scene_graph.object_by_source("cup").node_id
    mem.integrate(Observation(2, (), agent_pose=LOOK_X))  # looked there: the cup is gone
    mem.integrate(Observation(3, (), agent_pose=LOOK_X))  # still gone: no second event
    ev = mem.short_term.evidence(node)
    assert (ev.last_seen_ns, ev.last_absent_ns, ev.last_changed_ns) == (1, 3, 2)
    gone = [c for c in mem.short_term.changes() if c.field == "presence"]
    assert [(c.before, c.after, c.time_ns) for c in gone] == [(True, False, 2)]
    mem.integrate(Observation(4, (cup(1.0),), agent_pose=LOOK_X))
    back = mem.short_term.changes(since_ns=4)
    assert [(c.field, c.before, c.after) for c in back] == [("presence", False, True)]


def test_no_absence_outside_view_or_without_pose() -> None:
    mem = hashing_memory()
    mem.integrate(Observation(1, (cup(1.0),)))
    node = mem.scene_graph.object_by_source("cup").node_id
    mem.integrate(Observation(2, ()))  # no pose: nothing is expected
    mem.integrate(Observation(3, (), agent_pose=Pose((0, 0, 1.0), (0, 0, 1, 0))))  # looking back
    mem.integrate(Observation(4, (), agent_pose=Pose((-5.0, 0, 1.0))))  # too far
    assert mem.short_term.evidence(node).last_absent_ns is None
    assert mem.short_term.changes() == []


def test_objects_in_closed_containers_are_not_expected() -> None:
    mem = hashing_memory()
    fridge = box_object("Fridge", (0.5, -0.5, 0.0), (1.2, 0.5, 2.0), "fridge", receptacle=True)
    fridge = ObjectObservation(
        "Fridge",
        bbox=fridge.bbox,
        id_hint="fridge",
        states={"isOpen": True},
        attributes={"receptacle": True, "openable": True, "receptacle_mode": "in"},
    )
    egg = box_object("Egg", (0.8, -0.05, 0.95), (0.86, 0.05, 1.02), "egg", pickupable=True)
    mem.integrate(Observation(1, (fridge, egg), agent_pose=LOOK_X))
    egg_node = mem.scene_graph.object_by_source("egg").node_id
    assert mem.scene_graph.parent(egg_node)[0] == "in"
    shut = ObjectObservation(
        "Fridge",
        bbox=fridge.bbox,
        id_hint="fridge",
        states={"isOpen": False},
        attributes=dict(fridge.attributes),
    )
    mem.integrate(Observation(2, (shut,), agent_pose=LOOK_X))
    assert mem.short_term.evidence(egg_node).last_absent_ns is None
    mem.integrate(Observation(3, (fridge,), agent_pose=LOOK_X))  # open, egg not there
    assert mem.short_term.evidence(egg_node).last_absent_ns == 3


# ------------------------------------------------- absence evidence: coverage, occlusion
def legacy(mem: EmbodiedMemory) -> EmbodiedMemory:
    """The rule before box coverage and occlusion: an undetected object whose remembered
    position is in view is absent (feed such a memory observations without points)."""
    mem.short_term.view_coverage = 0.0
    mem.short_term.line_of_sight = None
    return mem


def patch(x: float, half: float = 0.6, step: float = 0.01, centre=(0.0, 1.0)) -> np.ndarray:
    """Depth points of a surface facing the camera at `x` (a square of side 2 * `half`)."""
    u = np.arange(-half, half + step / 2, step)
    y, z = np.meshgrid(u + centre[0], u + centre[1])
    return np.column_stack([np.full(y.size, x), y.ravel(), z.ravel()])


def depth_frame(*boxes: BBox3D, far: float = 2.5, n: int = 91) -> np.ndarray:
    """The points a depth camera at LOOK_X sees: per ray the nearest box, else a wall at x=far."""
    u = np.linspace(-1.0, 1.0, n)  # tan(45 deg) = 1: the 90 degree field of view
    y, z = np.meshgrid(u, u)
    rays = np.column_stack([np.ones(y.size), y.ravel(), z.ravel()])
    rays /= np.linalg.norm(rays, axis=1, keepdims=True)
    origin = np.array(LOOK_X.position)
    dist = far / rays[:, 0]
    for box in boxes:
        dist = np.minimum(dist, ray_box_entry(LOOK_X.position, origin + rays, box))
    return origin + rays * dist[:, None]


def cube(x: float, sid: str = "cube", half: float = 0.05) -> ObjectObservation:
    return box_object("Cup", (x - half, -half, 1 - half), (x + half, half, 1 + half), sid)


def gone(mem: EmbodiedMemory, sid: str) -> list[int]:
    """Times at which the object was logged as disappeared."""
    return [
        c.time_ns
        for c in mem.short_term.changes()
        if c.field == "presence" and c.after is False and c.source_id == sid
    ]


def test_ray_box_entry() -> None:
    box = BBox3D((2.0, 0.0, 0.0), (1.0, 1.0, 1.0))
    targets = np.array([[2.0, 0.0, 0.0], [2.25, 0.25, 0.0], [0.0, 5.0, 0.0]])
    entry = ray_box_entry((0.0, 0.0, 0.0), targets, box)
    # The second ray enters the x = 1.5 face: at 1.5 / 2.25 of the way to its target.
    assert entry[:2] == pytest.approx([1.5, 1.5 / 2.25 * math.hypot(2.25, 0.25)])
    assert entry[2] == math.inf
    assert ray_box_entry((2.1, 0.0, 0.0), targets[:1], box)[0] == 0.0  # origin inside
    turned = BBox3D(
        (2.0, 0.0, 0.0), (1.0, 1.0, 1.0), (0.0, 0.0, math.sin(math.pi / 8), math.cos(math.pi / 8))
    )
    assert ray_box_entry((0.0, 0.0, 0.0), targets[:1], turned)[0] == pytest.approx(
        2 - math.sqrt(0.5)
    )


@settings(max_examples=200, deadline=None)
@given(
    st.tuples(*[st.floats(1.5, 4)] * 3),
    st.tuples(*[st.floats(0.05, 1)] * 3),
    st.tuples(*[st.floats(-0.45, 0.45)] * 3),
    st.floats(0, 2 * math.pi),
)
def test_ray_box_entry_lands_on_the_box(centre, size, frac, angle) -> None:
    """The ray towards a point inside a (turned) box enters it on its surface, before the point."""
    rotation = (0.0, 0.0, math.sin(angle / 2), math.cos(angle / 2))
    box = BBox3D(centre, size, rotation)  # the origin lies outside
    turn = quat_to_matrix(rotation)
    target = np.asarray(centre) + turn @ (np.asarray(frac) * size)
    entry = ray_box_entry((0.0, 0.0, 0.0), target[None], box)[0]
    dist = float(np.linalg.norm(target))
    assert 0 < entry <= dist + 1e-9
    local = (target * entry / dist - np.asarray(centre)) @ turn
    assert np.max(np.abs(local) / (np.asarray(size) / 2)) == pytest.approx(1.0, abs=1e-6)
    assert box_samples(box).shape == (9, 3)


def test_seen_through() -> None:
    origin = (0.0, 0.0, 1.0)
    targets = np.array([[1.0, 0.0, 1.0], [1.0, 0.3, 1.2]])
    assert seen_through(origin, patch(2.0), targets).tolist() == [True, True]
    # An obstacle on the first ray; the second ray meets the wall (x = 2) at y = 0.6, z = 1.4.
    frame = np.vstack([patch(0.5, half=0.1), patch(2.0, half=0.1, centre=(0.6, 1.4))])
    assert seen_through(origin, frame, targets).tolist() == [False, True]
    assert seen_through(origin, patch(0.98), targets).all()  # within the depth slack
    assert not seen_through(origin, patch(0.9), targets).any()
    far_off = patch(2.0, half=0.1, centre=(-1.5, 1.0))  # points, but none near these rays
    assert not seen_through(origin, far_off, targets).any()
    assert not seen_through(origin, np.empty((0, 3)), targets).any()


def test_octree_line_of_sight() -> None:
    tree = Octree(resolution=0.05)
    clear = octree_sight(tree)
    assert clear((0.0, 0.0, 1.0), (3.0, 0.0, 1.0))  # nothing remembered: nothing blocks
    tree.insert_points(patch(1.0, half=0.2))
    assert clear((0.0, 0.0, 1.0), (0.8, 0.0, 1.0))
    assert clear((0.0, 0.0, 1.0), (1.0, 0.0, 1.0))  # the surface at the target itself
    assert not clear((0.0, 0.0, 1.0), (1.5, 0.0, 1.0))
    assert clear((0.0, 0.0, 1.0), (1.5, 0.0, 2.0))  # passes above the patch


def test_occluded_objects_are_not_absent_with_depth() -> None:
    """A box between camera and cube hides it: no absence; once the camera sees through the
    place where the cube was, it is absent."""
    mem = hashing_memory()
    seen = cube(1.0)
    mem.integrate(Observation(1, (seen,), agent_pose=LOOK_X, points=depth_frame(seen.bbox)))
    occluder = BBox3D.from_min_max((0.45, -0.2, 0.8), (0.55, 0.2, 1.2))
    for t, hidden in ((2, True), (3, False)):  # the cube is there, or already gone
        boxes = (occluder, seen.bbox) if hidden else (occluder,)
        mem.integrate(Observation(t, (), agent_pose=LOOK_X, points=depth_frame(*boxes)))
    assert gone(mem, "cube") == [] and mem.short_term.changes() == []
    aside = patch(2.5, half=0.2, centre=(1.5, 1.0))  # depth, but not where the cube was
    mem.integrate(Observation(4, (), agent_pose=LOOK_X, points=aside))
    assert gone(mem, "cube") == []
    mem.integrate(Observation(5, (), agent_pose=LOOK_X, points=depth_frame()))  # occluder gone
    assert gone(mem, "cube") == [5]
    node = mem.scene_graph.object_by_source("cube").node_id
    assert mem.short_term.evidence(node).last_absent_ns == 5
    # Without depth the old rule holds: remembered in view, not detected -> absent.
    old = legacy(hashing_memory())
    old.integrate(Observation(1, (cube(1.0),), agent_pose=LOOK_X))
    old.integrate(Observation(2, (), agent_pose=LOOK_X))
    assert gone(old, "cube") == [2]


@pytest.mark.parametrize("occluded", [True, False])
def test_occluded_objects_are_not_absent_through_the_octree(occluded: bool) -> None:
    """Points seen earlier (an obstacle between camera and cube) answer for a frame without."""
    mem = hashing_memory()
    points = patch(0.5, half=0.2) if occluded else None
    mem.integrate(Observation(1, (cube(1.0),), points=points))
    mem.integrate(Observation(2, (), agent_pose=LOOK_X))
    assert gone(mem, "cube") == ([] if occluded else [2])


def test_big_objects_are_expected_only_when_wholly_in_view() -> None:
    """A counter top whose centre is 1 m ahead but which reaches far out of the view (the demo's
    CounterTop case) is not expected; a small box wholly in view is."""
    counter = box_object("CounterTop", (0.6, -1.5, 0.48), (1.2, 1.5, 0.52), "counter")
    mems = {"new": hashing_memory(), "old": legacy(hashing_memory())}
    for mem in mems.values():
        mem.integrate(Observation(1, (counter, cube(1.0)), agent_pose=LOOK_X))
        mem.integrate(Observation(2, (), agent_pose=LOOK_X))
    assert gone(mems["old"], "counter") == [2]
    assert gone(mems["new"], "counter") == []
    assert gone(mems["new"], "cube") == gone(mems["old"], "cube") == [2]
    # `view_coverage` is the fraction of the box's corners that must be in view.
    bench = box_object("Shelf", (0.6, -0.4, 0.48), (1.0, 1.2, 0.52), "bench")
    share = in_view(LOOK_X, bench.bbox.corners(), 90, 1.25).mean()
    assert 0 < share < 1
    for coverage, expected in ((share, [2]), (share + 0.1, [])):
        mem = hashing_memory()
        mem.short_term.view_coverage = coverage
        mem.integrate(Observation(1, (bench,), agent_pose=LOOK_X))
        mem.integrate(Observation(2, (), agent_pose=LOOK_X))
        assert gone(mem, "bench") == expected


@settings(max_examples=300, deadline=None)
@given(
    st.floats(0.3, 1.2),
    st.tuples(st.floats(-60, 60), st.floats(-60, 60)),
    st.tuples(*[st.floats(0.01, 0.6)] * 3),
    st.floats(0, 360),
    st.sampled_from([-30.0, 0.0, 30.0, 60.0]),
)
def test_expected_objects_are_visible_to_the_simulator(ahead, aim, size, yaw, horizon) -> None:
    """A box wholly in view within `view_range` (an expected object) is one the simulator
    reports visible: it checks the box's corners, centre and nearest point against the frustum
    and visibilityDistance 1.5 m."""
    camera = np.array([0.0, 1.576, 0.0])  # THOR frame
    right, up, forward = camera_axes(yaw, horizon)
    offset = np.tan(np.radians(aim))
    centre = camera + ahead * (forward + offset[0] * right + offset[1] * up)
    lo, hi = centre - np.divide(size, 2), centre + np.divide(size, 2)
    corners = [[(lo, hi)[b][i] for i, b in enumerate(bits)] for bits in product((0, 1), repeat=3)]
    pose = thor_camera_pose(dict(zip("xyz", camera.tolist(), strict=True)), yaw, horizon)
    cfg = MemoryConfig()
    assume(in_view(pose, thor_box(corners).corners(), cfg.view_fov_deg, cfg.view_range).all())
    assert visible_mask(camera, yaw, horizon, 90, 1.0, 1.5, lo[None], hi[None])[0]


def test_held_back_updates_move_the_expected_box() -> None:
    """In consolidate mode the scene graph still has the old box; the expectation uses the box
    moved to the remembered (newer) position."""
    mem = hashing_memory(write_policy="consolidate", stable_observations=5)
    mem.integrate(Observation(1, (cube(1.0),)))
    mem.integrate(Observation(2, (cube(3.0),)))
    node = mem.scene_graph.object_by_source("cube")
    assert node.bbox.center[0] == pytest.approx(1.0)  # long-term memory not yet updated
    mem.integrate(Observation(3, (), agent_pose=Pose((2.0, 0.0, 1.0))))
    assert gone(mem, "cube") == [3]


def test_bad_absence_arguments() -> None:
    graph, _ = graph_with(1)
    for bad in (-0.1, 1.5, math.nan):
        with pytest.raises(ValidationError, match="view_coverage"):
            ShortTermMemory(graph, view_coverage=bad)
    with pytest.raises(ValidationError, match="line_of_sight"):
        ShortTermMemory(graph, line_of_sight="octree")


# Real recorded episodes: objects as ai2thor 5.0.0 reported them (visible_only), depth rendered
# by the offline simulator from the recorded state of each step.
def recorded_frames(meta: dict, ctl: OfflineController) -> SimpleNamespace:
    """An event with the recorded metadata and offline depth + segmentation of that state."""
    ev = ctl.reset(meta["sceneName"], objects=meta["objects"], agent=meta["agent"])
    return SimpleNamespace(
        metadata=meta,
        depth_frame=ev.depth_frame,
        instance_segmentation_frame=ev.instance_segmentation_frame,
        color_to_object_id=ev.color_to_object_id,
    )


def replay(episode: list[dict], mem: EmbodiedMemory, depth: bool) -> EmbodiedMemory:
    """Feed a recorded episode into `mem`, with the offline depth frames or without points."""
    first = episode[0]["metadata"]
    ctl = OfflineController.from_metadata(
        first, width=150, height=150, render_depth_image=True, render_instance_segmentation=True
    )
    for step, record in enumerate(episode):
        meta, t = record["metadata"], (step + 1) * SECOND
        if depth:
            obs = observation_from_event(recorded_frames(meta, ctl), time_ns=t)
            assert obs.points is not None and len(obs.points)
        else:
            obs = observation_from_metadata(meta, time_ns=t, visible_only=True)
        mem.integrate(obs)
    return mem


def presence_counts(mem: EmbodiedMemory, episode: list[dict]) -> tuple[int, int]:
    """(presence changes of objects that had not moved, of objects that had), from the recorded
    truth: an object moved when its position (1 cm) or held state differs between the change's
    step and the step of the evidence it revises (the object's previous presence change, else
    the last step it was visible, else the step before)."""
    states = [{o["objectId"]: o for o in r["metadata"]["objects"]} for r in episode]
    still = moved = 0
    previous: dict[str, int] = {}
    for c in mem.short_term.changes():
        if c.field != "presence":
            continue
        k = c.time_ns // SECOND - 1
        visible = [s for s in range(k) if states[s].get(c.source_id, {}).get("visible")]
        ref = previous.get(c.node_id, visible[-1] if visible else k - 1)
        previous[c.node_id] = k
        now, then = states[k].get(c.source_id), states[ref].get(c.source_id)
        same = (
            now is not None
            and then is not None
            and now["isPickedUp"] == then["isPickedUp"]
            and math.dist(*([o["position"][a] for a in "xyz"] for o in (now, then))) <= 0.01
        )
        still += same
        moved += not same
    return still, moved


def test_fewer_spurious_absences_in_real_episodes(episodes: dict[str, list[dict]]) -> None:
    assert len(episodes) == 10
    before = [
        presence_counts(replay(ep, legacy(hashing_memory()), depth=False), ep)
        for ep in episodes.values()
    ]
    after = [
        presence_counts(replay(ep, hashing_memory(), depth=True), ep) for ep in episodes.values()
    ]
    spurious_before, spurious_after = (sum(s for s, _ in counts) for counts in (before, after))
    assert spurious_after < spurious_before
    # Objects the episodes did move (put away, dropped) are still noticed as gone.
    assert [m for _, m in after] == [m for _, m in before]


def face(env: OfflineController, object_id: str):
    """Teleport to the reachable point nearest an object (at least 0.5 m off), facing it,
    looking 30 degrees down."""
    target = next(
        o["position"] for o in env.last_event.metadata["objects"] if o["objectId"] == object_id
    )
    reachable = env.step(action="GetReachablePositions").metadata["actionReturn"]

    def gap(p: dict[str, float]) -> float:
        d = math.hypot(p["x"] - target["x"], p["z"] - target["z"])
        return d if d >= 0.5 else math.inf

    pos = min(reachable, key=gap)
    yaw = math.degrees(math.atan2(target["x"] - pos["x"], target["z"] - pos["z"])) % 360
    return env.step(
        action="TeleportFull",
        position=pos,
        rotation={"x": 0, "y": yaw, "z": 0},
        horizon=30,
        standing=True,
    )


@pytest.fixture(scope="module")
def kitchen_run() -> tuple[EmbodiedMemory, list[Observation]]:
    """A scripted FloorPlan1 episode with depth in the offline simulator: look around (4 x 90
    degrees) at six reachable points, then move the apple into the fridge; the memory and
    every observation it integrated."""
    env = OfflineController("FloorPlan1", renderDepthImage=True, renderInstanceSegmentation=True)
    mem, seen = hashing_memory(), []

    def take(event) -> None:
        assert event.metadata["lastActionSuccess"], event.metadata["errorMessage"]
        seen.append(observation_from_event(event, time_ns=len(seen) * 10**9, stride=2))
        mem.integrate(seen[-1])

    reachable = env.step(action="GetReachablePositions").metadata["actionReturn"]
    for pos in reachable[:: len(reachable) // 6][:6]:
        event = env.step(action="Teleport", position=pos)
        for _ in range(4):
            take(event)
            event = env.step(action="RotateRight")
    for action, target in (
        ("face", APPLE),
        ("PickupObject", APPLE),
        ("face", FRIDGE),
        ("OpenObject", FRIDGE),
        ("PutObject", FRIDGE),
        ("CloseObject", FRIDGE),
    ):
        take(face(env, target) if action == "face" else env.step(action=action, objectId=target))
    return mem, seen


def test_fewer_spurious_presence_changes_in_a_scripted_episode(kitchen_run) -> None:
    mem, seen = kitchen_run
    old = legacy(hashing_memory())
    for obs in seen:
        old.integrate(dataclasses.replace(obs, points=None, point_object_index=None))
    apple = next(n.source_id for n in mem.scene_graph.objects() if n.label == "Apple")

    def still(m: EmbodiedMemory) -> list[str]:  # the episode moves only the apple
        return [
            c.label
            for c in m.short_term.changes()
            if c.field == "presence" and c.source_id != apple
        ]

    assert len(still(mem)) < len(still(old))
    # The real changes (the apple moved into the fridge, the fridge opened and closed) stay.
    assert [c for c in mem.short_term.changes() if c.field != "presence"] == [
        c for c in old.short_term.changes() if c.field != "presence"
    ]


# ------------------------------------------------------------------ policies
def graph_with(n: int) -> tuple[SceneGraph, list[str]]:
    g = SceneGraph()
    labels = ["Apple", "Mug", "Knife", "Bowl", "Book"]
    objs = [cup(float(i), f"o{i}", labels[i % len(labels)]) for i in range(n)]
    report = g.integrate(Observation(0, tuple(objs)))
    return g, report.node_ids


class Reference:
    """Plain-Python model of the buffer under lookups only: on a miss the object enters; over
    capacity the entry with the smallest (policy key, insertion step) leaves."""

    def __init__(self, policy: str, capacity: int) -> None:
        self.policy, self.capacity = policy, capacity
        self.entries: dict[str, list[int]] = {}  # id -> [inserted, last_use, uses]
        self.step = self.hits = self.misses = 0

    def key(self, e: list[int]) -> tuple:
        inserted, last, uses = e
        return {
            "fifo": (inserted,),
            "lru": (last,),
            "lfu": (uses, last),
            "mem4nav": (0.5 * uses - 0.5 * (self.step - last), last),
        }[self.policy] + (inserted,)

    def access(self, node_id: str) -> None:
        self.step += 1
        if node_id in self.entries:
            self.hits += 1
            self.entries[node_id][1] = self.step
            self.entries[node_id][2] += 1
            return
        self.misses += 1
        self.entries[node_id] = [self.step, self.step, 1]
        if len(self.entries) > self.capacity:
            victim = min(self.entries, key=lambda k: self.key(self.entries[k]))
            del self.entries[victim]


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(["fifo", "lru", "lfu", "mem4nav"]),
    st.integers(1, 5),
    st.lists(st.integers(0, 7), min_size=1, max_size=60),
)
def test_policies_match_reference_model(policy: str, capacity: int, seq: list[int]) -> None:
    graph, ids = graph_with(8)
    stm = ShortTermMemory(graph, capacity=capacity, policy=policy)
    ref = Reference(policy, capacity)
    for i in seq:
        stm.access([ids[i]])
        ref.access(ids[i])
        assert {e.node_id for e in stm.entries()} == set(ref.entries)
    assert (stm.hits, stm.misses) == (ref.hits, ref.misses)
    assert stm.hit_rate() == pytest.approx(ref.hits / len(seq))


def test_lru_and_fifo_differ_on_a_classic_sequence() -> None:
    graph, ids = graph_with(3)
    a, b, c = ids
    rates = {}
    for policy in ("lru", "fifo"):
        stm = ShortTermMemory(graph, capacity=2, policy=policy)
        for n in (a, b, a, c, a, b):
            stm.access([n])
        rates[policy] = (stm.hits, stm.misses)
    # LRU keeps the hot `a` when `c` arrives (evicts b); FIFO evicts a.
    assert rates == {"lru": (2, 4), "fifo": (1, 5)}


def test_mem4nav_weighs_frequency_against_idle_steps() -> None:
    graph, ids = graph_with(3)
    a, b, c = ids
    stm = ShortTermMemory(graph, capacity=2, policy="mem4nav")
    for n in (a, a, a, a, b):  # step 5: a has 4 uses, idle 1 -> 1.5; b: 1 use, idle 0 -> 0.5
        stm.access([n])
    stm.access([c])  # step 6: a 0.5*4-0.5*2 = 1.0, b 0.5*1-0.5*1 = 0.0, c 0.5 -> evict b
    assert {e.node_id for e in stm.entries()} == {a, c}
    for _ in range(5):
        stm.access([c])  # a idles: at step 11 a = 0.5*4 - 0.5*7 = -1.5
    stm.access([b])  # b (0.5) beats the idle a (-1.5 - 0.5 = -2.0)
    assert {e.node_id for e in stm.entries()} == {b, c}


def test_relevance_policy_keeps_what_the_goal_names() -> None:
    graph, ids = graph_with(5)  # Apple, Mug, Knife, Bowl, Book
    stm = ShortTermMemory(graph, capacity=2, policy=make_policy("relevance"))
    stm.set_goal("slice the apple with a knife")
    for n in ids:
        stm.access([n])
    assert {e.label for e in stm.entries()} == {"Apple", "Knife"}
    lru = ShortTermMemory(graph, capacity=2, policy="lru")
    for n in ids:
        lru.access([n])
    assert {e.label for e in lru.entries()} == {"Bowl", "Book"}


def test_observations_fill_the_buffer_and_query_hits_count() -> None:
    mem = hashing_memory(short_term_capacity=3)
    mem.integrate(Observation(1, tuple(cup(float(i), f"c{i}") for i in range(5))))
    assert len(mem.short_term) == 3
    buffered = {e.node_id for e in mem.short_term.entries()}
    hits = mem.query(labels=["Cup"], k=5)
    assert len(hits) == 5
    st_stats = mem.stats()["short_term"]
    assert (st_stats["hits"], st_stats["misses"]) == (3, 2)
    assert {h.node_id for h in hits} >= buffered
    assert mem.short_term.hit_rate() == pytest.approx(0.6)


def test_bad_short_term_arguments() -> None:
    graph, ids = graph_with(2)
    with pytest.raises(ValidationError, match="capacity"):
        ShortTermMemory(graph, capacity=0)
    with pytest.raises(ValidationError, match="policy"):
        ShortTermMemory(graph, policy="random")
    with pytest.raises(ValidationError, match="on_flush"):
        ShortTermMemory(graph, consolidate=True)
    stm = ShortTermMemory(graph)
    with pytest.raises(UnknownNodeError, match="O77"):
        stm.lookup("O77")
    with pytest.raises(UnknownNodeError):
        stm.access([ids[0], "nope"])
    assert (stm.hits, stm.misses, len(stm)) == (0, 0, 0)  # nothing half-applied
    with pytest.raises(ValidationError, match="since_ns"):
        stm.changes(since_ns=-1)
    assert stm.hit_rate() == 0.0


def test_lookup_returns_the_freshest_record() -> None:
    mem = hashing_memory(write_policy="consolidate", stable_observations=5)
    mem.integrate(Observation(1, (cup(1.0, isDirty=False),)))
    node = mem.scene_graph.object_by_source("cup").node_id
    mem.integrate(Observation(2, (cup(1.5, isDirty=True),)))
    assert mem.scene_graph.object(node).position[0] == 1.0  # held back
    state = mem.short_term.lookup(node)
    assert state.position[0] == 1.5 and state.states["isDirty"] is True
    assert mem.short_term.hits == 1


# ------------------------------------------------------------- consolidation
def test_consolidation_waits_for_stability() -> None:
    mem = hashing_memory(write_policy="consolidate", stable_observations=2)
    mem.integrate(Observation(1, (cup(1.0),)))
    node = mem.scene_graph.object_by_source("cup").node_id
    mem.integrate(Observation(2, (cup(2.0),)))
    mem.integrate(Observation(3, (cup(2.0),)))
    assert mem.scene_graph.object(node).position[0] == 1.0  # seen unchanged once: not yet
    assert mem.stats()["short_term"]["pending"] == 1
    mem.integrate(Observation(4, (cup(2.0),)))
    long_term = mem.scene_graph.object(node)
    assert long_term.position[0] == 2.0 and long_term.last_seen_ns == 4
    assert mem.stats()["short_term"]["pending"] == 0


def test_write_through_updates_long_term_at_once() -> None:
    mem = hashing_memory()
    mem.integrate(Observation(1, (cup(1.0),)))
    mem.integrate(Observation(2, (cup(2.0),)))
    assert mem.scene_graph.object_by_source("cup").position[0] == 2.0


@settings(max_examples=25, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 9), st.floats(0, 5)), min_size=1, max_size=40),
    st.integers(1, 4),
)
def test_nothing_evicted_is_lost(moves: list[tuple[int, float]], capacity: int) -> None:
    """Under consolidation with a tiny buffer, long-term memory ends like write-through: every
    object where it was last seen, up to the move threshold (a write-through graph ignores a
    sub-threshold step that a consolidated one may skip over)."""
    mems = [
        hashing_memory(write_policy=w, short_term_capacity=capacity, stable_observations=3)
        for w in ("consolidate", "write_through")
    ]
    last: dict[str, float] = {}
    for t, (i, x) in enumerate(moves):
        last[f"c{i}"] = round(x, 2)
        for mem in mems:
            mem.integrate(Observation(t, (cup(last[f"c{i}"], f"c{i}"),)))
    mems[0].consolidate()
    for mem in mems:
        positions = {n.source_id: n.position[0] for n in mem.scene_graph.objects()}
        assert positions.keys() == last.keys()
        assert all(
            abs(positions[k] - x) <= mem.config.move_threshold + 1e-9 for k, x in last.items()
        )
    assert mems[0].stats()["short_term"]["pending"] == 0


# ---------------------------------------------------------------- forgetting
@given(st.floats(0.5, 50), st.floats(0.5, 50), st.floats(0.01, 1e4), st.floats(0.1, 1e3))
def test_stronger_memories_fade_slower(s1: float, s2: float, dt: float, tau: float) -> None:
    r = retention(np.array([min(s1, s2), max(s1, s2)]), np.array([dt, dt]), tau)
    assert r[0] <= r[1]
    assert retention(np.array([1.0]), np.array([0.0]), tau)[0] == 1.0


def test_forgetting_drops_unused_objects_and_spares_reinforced_ones() -> None:
    mem = hashing_memory(forget_tau_s=10.0, forget_threshold=0.2, short_term_capacity=1)
    mem.integrate(Observation(0, (cup(1.0, "a"), cup(2.0, "b", "Mug"))))
    a = mem.scene_graph.object_by_source("a").node_id
    b = mem.scene_graph.object_by_source("b").node_id
    for _ in range(3):
        mem.short_term.access([a])  # strength 4: time constant 40 s
    buffered = mem.short_term.entries()[0].node_id
    mem.integrate(Observation(20 * SECOND, (cup(9.0, "z", "Bowl"),)))  # 20 s later
    # exp(-20/10) = 0.14 < 0.2 forgets an unreinforced object; exp(-20/40) = 0.61 keeps `a`.
    assert a in mem.scene_graph
    assert (b in mem.scene_graph) == (b == buffered)
    assert mem.config.forget_tau_s == 10.0


def test_forgetting_is_off_by_default() -> None:
    mem = hashing_memory()
    mem.integrate(Observation(0, (cup(1.0),)))
    mem.integrate(Observation(10**18, ()))
    assert len(mem.scene_graph.objects()) == 1


# ----------------------------------------------------------------- snapshots
def test_short_term_snapshot_round_trip(fridge_episode: Episode) -> None:
    mem = fridge_episode.mem
    mem.query(text="apple", k=2)
    d = json.loads(json.dumps(mem.to_dict()))
    back = EmbodiedMemory.from_dict(d)
    assert canonical(back.to_dict()["short_term"]) == canonical(d["short_term"])
    assert back.short_term.changes() == mem.short_term.changes()
    assert back.short_term.hit_rate() == mem.short_term.hit_rate()


def test_pending_updates_survive_a_snapshot() -> None:
    mem = hashing_memory(write_policy="consolidate", stable_observations=9)
    mem.integrate(Observation(1, (cup(1.0),)))
    mem.integrate(Observation(2, (cup(3.0, isDirty=True),)))
    back = EmbodiedMemory.from_dict(json.loads(json.dumps(mem.to_dict())))
    back.consolidate()
    node = back.scene_graph.object_by_source("cup")
    assert node.position[0] == 3.0 and node.states["isDirty"] is True


def test_bad_short_term_snapshot() -> None:
    mem = hashing_memory()
    d = mem.to_dict()
    d["short_term"]["version"] = 99
    with pytest.raises(SnapshotError, match="short_term.version"):
        EmbodiedMemory.from_dict(d)
    d = mem.to_dict()
    del d["short_term"]["entries"]
    with pytest.raises(SnapshotError, match="short_term"):
        EmbodiedMemory.from_dict(d)
    d = mem.to_dict()
    d["short_term"]["policy"] = "fifo"
    with pytest.raises(SnapshotError, match="policy"):
        EmbodiedMemory.from_dict(d)


def test_old_snapshots_without_short_term_are_tracked() -> None:
    mem = hashing_memory()
    mem.integrate(Observation(5, (cup(1.0),)))
    d = mem.to_dict()
    del d["short_term"]
    back = EmbodiedMemory.from_dict(d)
    node = back.scene_graph.object_by_source("cup").node_id
    assert back.short_term.evidence(node).first_seen_ns == 5


def test_every_policy_is_configurable() -> None:
    for name in POLICIES:
        mem = hashing_memory(short_term_policy=name, short_term_capacity=2)
        mem.integrate(Observation(1, tuple(cup(float(i), f"c{i}") for i in range(4))))
        assert len(mem.short_term) == 2 and mem.stats()["short_term"]["policy"] == name
