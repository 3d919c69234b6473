"""Small builders shared by the tests."""

from __future__ import annotations

import copy
import json
from typing import Any

from embodmem import BBox3D, ObjectObservation, Observation
from sim.scenes import scene_objects
from sim.thor import observation_from_metadata, region_of_scene


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
