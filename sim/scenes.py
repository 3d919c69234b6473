"""Vendored iTHOR scene data: initial object metadata and reachable grids of the 120 FloorPlans."""

from __future__ import annotations

import gzip
import json
import re
from functools import cache
from importlib import resources
from typing import Any

import numpy as np

from embodmem.errors import ValidationError

SCENE_RE = re.compile(r"^FloorPlan(\d+)(?:_physics)?$")


def scene_number(scene: str) -> int:
    """Number of an iTHOR scene name ("FloorPlan12" or "FloorPlan12_physics" -> 12)."""
    m = SCENE_RE.match(scene) if isinstance(scene, str) else None
    if not m:
        raise ValidationError("scene", scene, "expected an iTHOR scene name like 'FloorPlan1'")
    return int(m.group(1))


@cache
def scene_names() -> tuple[str, ...]:
    """The 120 vendored iTHOR scenes, in numeric order."""
    folder = resources.files("sim").joinpath("data/ithor")
    names = [p.name.split("_physics")[0] for p in folder.iterdir() if p.name.endswith(".json.gz")]
    return tuple(sorted(names, key=scene_number))


def scene_objects(scene: str) -> dict[str, dict[str, Any]]:
    """Initial object metadata of a scene, keyed by objectId (a fresh copy on every call)."""
    n = scene_number(scene)
    path = resources.files("sim").joinpath(f"data/ithor/FloorPlan{n}_physics.json.gz")
    if not path.is_file():
        raise ValidationError(
            "scene", scene, f"unknown iTHOR scene; {len(scene_names())} available"
        )
    with path.open("rb") as fh:
        return json.loads(gzip.decompress(fh.read()))


def reachable_positions(scene: str) -> np.ndarray:
    """(N, 2) reachable agent positions (THOR x, z) on the 0.25 m grid of a scene."""
    n = scene_number(scene)
    path = resources.files("sim").joinpath(f"data/layouts/FloorPlan{n}-layout.npy")
    if not path.is_file():
        raise ValidationError("scene", scene, "no reachable-position layout for this scene")
    with path.open("rb") as fh:
        return np.load(fh)


@cache
def _start_poses() -> dict[str, dict[str, Any]]:
    with resources.files("sim").joinpath("data/start_poses.json").open("rb") as fh:
        return json.load(fh)


def recorded_start(scene: str) -> dict[str, Any] | None:
    """The agent pose real ai2thor 5.0.0 gives after reset in `scene` (position dict, rotation,
    horizon, standing), where a recording shows it; None for the other scenes."""
    pose = _start_poses().get(f"FloorPlan{scene_number(scene)}")
    return None if pose is None else {k: v for k, v in pose.items() if k != "recordings"}
