"""Small builders shared by the tests."""

from __future__ import annotations

import copy
import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np

from embodmem import BBox3D, EmbodiedMemory, MemoryConfig, ObjectObservation, Observation
from embodmem.experience import Episode
from sim.scenes import reachable_positions, scene_objects
from sim.thor import observation_from_metadata, region_of_scene
from tests.floorplan1 import START


def box_object(
    label: str, lo: tuple, hi: tuple, id_hint: str | None = None, **attributes: Any
) -> ObjectObservation:
    """An axis-aligned object observation between two corners."""
    bbox = BBox3D.from_min_max(lo, hi)
    return ObjectObservation(label=label, bbox=bbox, id_hint=id_hint, attributes=attributes)


def scene_observation(scene: str = "FloorPlan1", time_ns: int = 0) -> Observation:
    """Full-state observation of a vendored iTHOR scene."""
    return observation_from_metadata(
        scene_objects(scene), time_ns=time_ns, region=region_of_scene(scene)
    )


def moved_copy(
    objects: dict[str, dict], object_id: str, dx: float, dy: float, dz: float
) -> dict[str, dict]:
    """A copy of THOR scene objects with one object translated (THOR frame)."""
    out = copy.deepcopy(objects)
    obj = out[object_id]
    for key, d in zip("xyz", (dx, dy, dz), strict=True):
        obj["position"][key] += d
    for box in ("axisAlignedBoundingBox", "objectOrientedBoundingBox"):
        if obj.get(box):
            obj[box]["cornerPoints"] = [
                [p[0] + dx, p[1] + dy, p[2] + dz] for p in obj[box]["cornerPoints"]
            ]
            if "center" in obj[box]:
                for key, d in zip("xyz", (dx, dy, dz), strict=True):
                    obj[box]["center"][key] += d
    return out


def canonical(d: Any) -> str:
    """Order-independent JSON text of a snapshot dict (for equality checks)."""
    return json.dumps(d, sort_keys=True)


def box_surface_points(obs: Observation, per_object: int, rng: np.random.Generator) -> Observation:
    """The observation with `per_object` points on the surface of each object's box, labelled
    with the object they belong to (what a depth camera would give the octree)."""
    boxed = [i for i, o in enumerate(obs.objects) if o.bbox is not None]
    corners = np.array([obs.objects[i].bbox.corners() for i in boxed])  # (M, 8, 3)
    u = rng.random((len(boxed), per_object, 3))
    face = rng.integers(0, 3, (len(boxed), per_object))
    np.put_along_axis(u, face[..., None], rng.integers(0, 2, face.shape)[..., None], axis=2)
    # Corner index 4 x + 2 y + z: corner 0 plus the three box edges leaving it, scaled by u.
    edges = corners[:, [4, 2, 1]] - corners[:, :1]
    points = corners[:, :1] + np.einsum("mpk,mkd->mpd", u, edges)
    index = np.repeat(np.array(boxed), per_object)
    return dataclasses.replace(obs, points=points.reshape(-1, 3), point_object_index=index)


def kitchen_memory(shared_data: Path, per_object: int = 200) -> EmbodiedMemory:
    """A memory of the real FloorPlan1 kitchen with every room filled: the scene dump with box
    surface points in the octree, the agent walking the reachable grid (places), the recorded
    apple-cooling episode (short-term state changes) and two past episodes (experience)."""
    ithor = shared_data / "ithor"
    scene = json.loads((ithor / "objects" / "FloorPlan1_physics.json").read_text())
    lines = (ithor / "episodes" / "place_cooled_in_apple_counter_top.jsonl").read_text()
    episode = [json.loads(line)["metadata"] for line in lines.splitlines() if line]
    mem = EmbodiedMemory(MemoryConfig(embedder="hashing"))
    obs = observation_from_metadata(scene, time_ns=0, region="kitchen")
    mem.integrate(box_surface_points(obs, per_object, np.random.default_rng(0)))
    walk = [
        {
            "objects": list(scene.values()),
            "agent": {**START, "position": {"x": x, "y": 0.9, "z": z}},
        }
        for x, z in reachable_positions("FloorPlan1")[::8]
    ]
    for t, meta in enumerate(walk + episode, 1):
        mem.integrate(observation_from_metadata(meta, time_ns=t * 10**9, region="kitchen"))
    mem.experience.add(
        Episode(
            "Put a chilled apple on the counter.",
            "pick_cool_then_place_in_recep",
            ("Apple", "CounterTop"),
            ("pickup(Apple)", "cool(Apple, Fridge)", "put(CounterTop)"),
            success=True,
            steps=42,
            found=(("Apple", "CounterTop", "kitchen"), ("Apple", "Fridge", "kitchen")),
        )
    )
    mem.experience.add(
        Episode(
            "Rinse a mug.",
            "pick_clean_then_place_in_recep",
            ("Mug",),
            success=False,
            steps=80,
            failures=("PickupObject: Mug is not visible",),
            found=(("Mug", "Cabinet", "kitchen"),),
        )
    )
    return mem
