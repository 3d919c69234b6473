"""Big benchmark worlds from the real iTHOR scenes: translated copies of scene objects.

Shared by the benchmark scripts (run them from the repository root; this folder is then on
`sys.path`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

from embodmem import ObjectObservation
from sim.scenes import scene_names, scene_objects
from sim.thor import observation_from_metadata


def translated(
    obj: ObjectObservation, offset: tuple[float, float, float], tag: str | None = None
) -> ObjectObservation:
    """The object moved by `offset` (world metres): position, box and the source's own
    axis-aligned box ("aabb" attribute) move together; `tag` prefixes its source id."""
    dx, dy, dz = offset
    bbox = obj.bbox
    if bbox is not None:
        c = bbox.center
        bbox = dataclasses.replace(bbox, center=(c[0] + dx, c[1] + dy, c[2] + dz))
    attributes = dict(obj.attributes)
    if "aabb" in attributes:
        attributes["aabb"] = [[p[0] + dx, p[1] + dy, p[2] + dz] for p in attributes["aabb"]]
    p = obj.position
    id_hint = obj.id_hint if tag is None or obj.id_hint is None else f"{tag}/{obj.id_hint}"
    return dataclasses.replace(
        obj,
        position=(p[0] + dx, p[1] + dy, p[2] + dz),  # type: ignore[index]
        bbox=bbox,
        attributes=attributes,
        id_hint=id_hint,
    )


def scene_copies(spacing: float = 20.0) -> Iterator[tuple[ObjectObservation, ...]]:
    """Endless copies of the 120 scenes' objects, each scene `spacing` m further along x."""
    scenes = [observation_from_metadata(scene_objects(s)).objects for s in scene_names()]
    i = 0
    while True:
        objects = scenes[i % len(scenes)]
        yield tuple(translated(o, (i * spacing, 0.0, 0.0), str(i)) for o in objects)
        i += 1


def tiled_objects(n: int, spacing: float = 20.0) -> list[ObjectObservation]:
    """`n` real THOR objects, scenes laid side by side, unique source ids."""
    out: list[ObjectObservation] = []
    for objects in scene_copies(spacing):
        out += objects
        if len(out) >= n:
            return out[:n]
    return out
