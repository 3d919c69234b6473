"""The EmbodiedMemory facade: integrate into every room, save/load, bad input."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from embodmem import EmbodiedMemory, MemoryConfig, Observation, Pose
from embodmem.errors import EmbodmemError, SnapshotError, ValidationError
from embodmem.memory import object_number
from tests.helpers import box_object, canonical, scene_observation


def test_public_interface_names() -> None:
    from embodmem import EmbodiedMemory as A  # noqa: F401
    from embodmem import ObjectObservation, Observation, Pose  # noqa: F401
    from embodmem.errors import EmbodmemError  # noqa: F401

    mem = EmbodiedMemory()
    mem.integrate(scene_observation())
    node = mem.scene_graph.objects()[0]
    assert {"node_id", "label", "source_id", "position", "states"} <= set(dir(node))
    assert all(
        k in ("on", "in", "near", "contains", "connected_to")
        for _, k, _ in mem.scene_graph.relations()
    )


@pytest.mark.parametrize("suffix", [".json", ".sqlite"])
def test_save_load_round_trip(tmp_path: Path, suffix: str) -> None:
    mem = EmbodiedMemory()
    mem.integrate(scene_observation())
    pts = np.random.default_rng(0).uniform(0, 2, (500, 3))
    mem.integrate(Observation(1, points=pts, agent_pose=Pose((1, 1, 1.5))))
    path = mem.save(tmp_path / f"m{suffix}")
    back = EmbodiedMemory.load(path)
    assert canonical(back.to_dict()) == canonical(mem.to_dict())
    assert len(back.octree) == len(mem.octree) > 0


def test_points_are_tagged_with_object_nodes() -> None:
    mem = EmbodiedMemory()
    cup = box_object("Cup", (1, 1, 1), (1.1, 1.1, 1.1), "cup")
    pts = np.array([[1.02, 1.02, 1.02], [1.08, 1.08, 1.08], [3.0, 3.0, 3.0]])
    mem.integrate(Observation(0, (cup,), points=pts, point_object_index=np.array([0, 0, -1])))
    cup_node = mem.scene_graph.object_by_source("cup").node_id
    near = mem.octree.objects_near((1.05, 1.05, 1.05), 0.5)
    assert [oid for oid, _ in near] == [object_number(cup_node)]


def test_moved_object_voxels_are_cleared() -> None:
    mem = EmbodiedMemory()
    cup = box_object("Cup", (1, 1, 1), (1.1, 1.1, 1.1), "cup")
    mem.integrate(
        Observation(
            0, (cup,), points=np.array([[1.05, 1.05, 1.05]]), point_object_index=np.array([0])
        )
    )
    moved = box_object("Cup", (2, 2, 1), (2.1, 2.1, 1.1), "cup")
    mem.integrate(
        Observation(
            1, (moved,), points=np.array([[2.05, 2.05, 1.05]]), point_object_index=np.array([0])
        )
    )
    assert mem.octree.objects_near((1.05, 1.05, 1.05), 0.2) == []
    assert len(mem.octree.objects_near((2.05, 2.05, 1.05), 0.2)) == 1


def test_agent_poses_build_places() -> None:
    mem = EmbodiedMemory(MemoryConfig(place_distance=1.0))
    for t, x in enumerate([0.0, 0.5, 1.2, 2.4, 3.6, 2.3]):
        mem.integrate(Observation(t, agent_pose=Pose((x, 0.0, 1.5)), region="kitchen"))
    places = mem.scene_graph.places()
    assert len(places) == 4
    first, last = places[0].node_id, places[-1].node_id
    path = mem.topology.shortest_path(first, last)
    assert path[0] == first and path[-1] == last
    assert mem.topology.path_length(path) == pytest.approx(3.6)
    assert mem.topology.nearest_place(Pose((2.0, 0, 1.5))) == places[2].node_id
    room = mem.scene_graph.rooms()[0].node_id
    assert all(mem.scene_graph.container(p.node_id) == room for p in places)


def test_landmarks_attach_to_places_and_remember_viewpoints() -> None:
    mem = EmbodiedMemory()
    cup = box_object("Cup", (0.1, 0.1, 0.8), (0.2, 0.2, 0.9), "cup")
    mem.integrate(Observation(0, (cup,), agent_pose=Pose((0, 0, 1.5))))
    mem.integrate(Observation(1, (cup,), agent_pose=Pose((3, 0, 1.5))))
    node = mem.scene_graph.object_by_source("cup").node_id
    assert len(mem.topology.places_seeing(node)) == 2
    assert mem.scene_graph.container(node) == mem.topology.nearest_place((0.15, 0.15, 0.85))


def test_out_of_range_points_leave_memory_unchanged() -> None:
    mem = EmbodiedMemory()
    mem.integrate(scene_observation())
    before = canonical(mem.to_dict())
    bad = Observation(
        1, (box_object("Cup", (0, 0, 0), (1, 1, 1), "new-cup"),), points=np.array([[1e9, 0.0, 0.0]])
    )
    with pytest.raises(EmbodmemError, match="observation.points"):
        mem.integrate(bad)
    assert canonical(mem.to_dict()) == before


def test_agent_far_outside_the_octree_grid_is_fine() -> None:
    """Poses within the coordinate domain but beyond the voxel grid (±52 km at 5 cm) still
    integrate: line of sight from there is a ray that enters the grid, not an error."""
    mem = EmbodiedMemory(MemoryConfig(embedder="hashing", view_range=1e6))
    far = (9e4, 0.0, 0.0)
    cup = box_object("Cup", far, (far[0] + 0.1, 0.1, 0.1), "cup")
    mem.integrate(Observation(1, (cup,), points=np.array([[0.0, 0.0, 0.0], [0.1, 0.0, 0.0]])))
    pose = Pose((far[0] - 0.5, 0.05, 0.05))  # facing +x, the cup in view, no depth frame
    mem.integrate(Observation(2, (), agent_pose=pose))  # so a ray from 90 km tests the view
    assert mem.short_term.changes()[-1].field == "presence"
    assert mem.query(near=far, radius=1.0)
    EmbodiedMemory.from_dict(mem.to_dict())


def test_not_an_observation() -> None:
    with pytest.raises(ValidationError, match="observation"):
        EmbodiedMemory().integrate({"time_ns": 0})


def test_bad_config() -> None:
    with pytest.raises(ValidationError, match="config.place_distance"):
        MemoryConfig(place_distance=-1)
    with pytest.raises(ValidationError, match="config.place_distanse"):
        MemoryConfig.from_dict({"place_distanse": 1.0})
    with pytest.raises(ValidationError, match="config.octree_resolution"):
        MemoryConfig(octree_resolution=math.nan)
    with pytest.raises(ValidationError, match="config.query_radius"):
        MemoryConfig(query_radius=math.inf)
    with pytest.raises(ValidationError, match="config.short_term_capacity"):
        MemoryConfig(short_term_capacity=2**70)
    with pytest.raises(ValidationError, match="config.token_encoding"):
        MemoryConfig(token_encoding="no_such_tokenizer")
    numpy_setting = MemoryConfig(place_distance=np.int64(2), view_range=np.float32(1.5))
    assert type(numpy_setting.place_distance) is float  # so snapshots can hold it
    assert type(numpy_setting.view_range) is float
    for resolution in (1e-12, 1e6):  # a grid of a micrometre, or voxels of kilometres
        with pytest.raises(ValidationError, match="config.octree_resolution"):
            MemoryConfig(octree_resolution=resolution)


def test_bad_config_files(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("memory: [unclosed")
    for path in (bad, tmp_path / "missing.yaml"):
        with pytest.raises(ValidationError, match="config file"):
            MemoryConfig.from_yaml(path)


def test_tokenizer_names_match_the_installed_tokenizer() -> None:
    from embodmem.tokens import ENCODINGS, encoding_names

    assert set(ENCODINGS) <= set(encoding_names())


def test_yaml_config_lists_every_setting_at_its_default() -> None:
    import yaml

    path = Path(__file__).parents[1] / "configs" / "memory.yaml"
    assert set(yaml.safe_load(path.read_text())["memory"]) == set(MemoryConfig().to_dict())
    assert MemoryConfig.from_yaml(path) == MemoryConfig()


def test_wrong_version_snapshot(tmp_path: Path) -> None:
    mem = EmbodiedMemory()
    d = mem.to_dict()
    d["version"] = 7
    with pytest.raises(SnapshotError, match="version=7"):
        EmbodiedMemory.from_dict(d)
    d = mem.to_dict()
    del d["octree"]
    with pytest.raises(SnapshotError, match="octree"):
        EmbodiedMemory.from_dict(d)


@pytest.mark.parametrize(
    ("edit", "field"),
    [
        (lambda o: o.update(position={"x": 1e300, "y": 0, "z": 0}), "position.x"),
        (lambda o: o.update(mass=2**64), "attributes.mass"),
        (lambda o: o.update(assetId="Apple_\ud800"), "attributes.assetId"),
        (lambda o: o.update(salientMaterials=[[[[[[[[[[0]]]]]]]]]] * 1), None),
        (lambda o: o.update(pickupable="yes"), "pickupable"),
        (lambda o: o["axisAlignedBoundingBox"].update(cornerPoints=[[0, 0]] * 8), "cornerPoints"),
        (lambda o: o.update(objectOrientedBoundingBox=[1, 2, 3]), "objectOrientedBoundingBox"),
        (lambda o: o.update(visible="no"), "visible"),
    ],
)
def test_hostile_metadata_is_refused_naming_the_field(edit, field) -> None:
    from sim.thor import observation_from_metadata
    from tests.hostile import event_metadata, scene, state_of

    mem = EmbodiedMemory(MemoryConfig(embedder="hashing"))
    mem.integrate(observation_from_metadata(event_metadata(scene()[:5]), time_ns=1))
    before = state_of(mem)
    meta = event_metadata(scene()[:5])
    edit(meta["objects"][0])
    try:
        mem.integrate(observation_from_metadata(meta, time_ns=2, visible_only=True))
    except EmbodmemError as exc:
        assert field is None or field in str(exc)
        assert state_of(mem) == before
    else:
        assert field is None  # nesting within the limit is accepted, and saves
        EmbodiedMemory.from_dict(mem.to_dict())  # and loads


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"time_ns": 2**63}, "time_ns"),
        ({"time_ns": -1}, "time_ns"),
        ({"region": "kit\ud800chen"}, "region"),
        ({"action": b"Pickup"}, "action"),
        ({"agent_pose": ((1e6, 0.0, 0.0),)}, "pose.position"),
        ({"agent_pose": ((0.0, 0.0, 0.0), (1e300, 1e300, 1e300, 1e300))}, "orientation"),
    ],
)
def test_hostile_observation_fields_are_refused(kwargs, field) -> None:
    with pytest.raises(ValidationError, match=field):
        if "agent_pose" in kwargs:
            kwargs = {"agent_pose": Pose(*kwargs["agent_pose"])}
        Observation(**{"time_ns": 1, **kwargs})


def test_snapshot_fields_are_validated_on_load() -> None:
    from tests.hostile import base_snapshot

    cases = [
        (lambda d: d["scene_graph"]["nodes"][3].update(label=7), "label"),
        (lambda d: d["scene_graph"]["counters"].update(O=1), "counters.O"),
        (lambda d: d["scene_graph"]["links"].append(dict(d["scene_graph"]["links"][0])), "two"),
        (lambda d: d["topology"].update(current="O1"), "topology.current"),
        (lambda d: d["short_term"].update(now_ns=2**64), "now_ns"),
        (lambda d: d.update(observations=-3), "observations"),
        (lambda d: d.update(extra=1), "unknown sections"),
        (lambda d: d["config"].update(change_log_length=10**30), "change_log_length"),
        (lambda d: d.update(version=True), "version"),
    ]
    for edit, field in cases:
        d = base_snapshot()
        edit(d)
        with pytest.raises(SnapshotError, match=field):
            EmbodiedMemory.from_dict(d)


def test_saving_with_force_and_retention(tmp_path: Path) -> None:
    mem = EmbodiedMemory(MemoryConfig(embedder="hashing"))
    mem.integrate(scene_observation())
    store = tmp_path / "run.sqlite"
    for _ in range(5):
        mem.save(store, keep_last=2)
    from embodmem.store import SnapshotStore

    with SnapshotStore(store, readonly=True) as s:
        assert len(s.list()) == 2
    other = tmp_path / "notes.json"
    other.write_text("my notes")
    with pytest.raises(EmbodmemError, match="refusing"):
        mem.save(other)
    assert other.read_text() == "my notes"
    mem.save(other, force=True)
    assert EmbodiedMemory.load(other).stats() == mem.stats()
