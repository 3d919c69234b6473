"""Start an ALFRED task in a THOR-compatible controller: the scene as ALFRED recorded it, then
ALFRED's start pose.

ALFRED recorded with ai2thor 2.1.0, whose object names do not exist in the 5.0.0 scenes, so each
recorded pose goes to a 5.0.0 object of the same type (`map_object_poses`): poses and objects
are paired nearest first, a type ALFRED has more of than the scene gets copies (a repeated name
is a copy in SetObjectPoses), a type the scene lacks is reported and left out. Movable furniture
that ALFRED never listed (2.1.0's SetObjectPoses left it alone) keeps its place. The restore
sequence is ALFRED's own `restore_scene`, run as action dicts.
"""

from __future__ import annotations

import logging
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from sim.tasks.alfred import Task
from sim.tasks.goals import TYPE_ALIASES

log = logging.getLogger(__name__)

# ALFRED's Initialize (its env/thor_env.py reset): 5.0.0 ignores cameraY and the snake_case
# visibility_distance (its default is the same 1.5 m).
ALFRED_INITIALIZE = {
    "action": "Initialize",
    "gridSize": 0.25,
    "cameraY": 0.75,
    "renderImage": True,
    "renderDepthImage": True,
    "renderClassImage": True,
    "renderObjectImage": True,
    "visibility_distance": 1.5,
    "makeAgentsVisible": False,
}


class Controller(Protocol):
    """What `start_episode` needs: ai2thor's `reset` and `step`."""

    def reset(self, scene: str | None = None, **kw: Any) -> Any: ...

    def step(self, action: Any = None, **kw: Any) -> Any: ...


@dataclass(frozen=True)
class PoseMapping:
    """ALFRED's poses on a 5.0.0 scene: the SetObjectPoses list, and the ALFRED object names
    whose type the scene lacks (left out, not invented)."""

    object_poses: list[dict[str, Any]]
    absent: tuple[str, ...]


def _type_of(name: str, types: Mapping[str, str]) -> str | None:
    """The scene's object type of an ALFRED object name ("Glassbottle_1a2b" -> "Bottle"),
    matched without regard to case."""
    prefix = name.rsplit("_", 1)[0]
    return types.get(TYPE_ALIASES.get(prefix, prefix).lower())


def map_object_poses(
    alfred_poses: Iterable[Mapping[str, Any]], objects: Iterable[Mapping[str, Any]]
) -> PoseMapping:
    """SetObjectPoses entries that put the 5.0.0 scene's objects where ALFRED's were.

    Per type, the (pose, object) pairs closest together are matched first (ties by pose order
    and object name), so the mapping is deterministic and keeps objects near where they were;
    poses left over reuse the objects in name order, which makes copies.
    """
    movable = [o for o in objects if o.get("pickupable") or o.get("moveable")]
    types = {o["objectType"].lower(): o["objectType"] for o in movable}
    by_type: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for o in sorted(movable, key=lambda o: o["name"]):
        by_type[o["objectType"]].append(o)
    wanted: dict[str, list[tuple[int, Mapping[str, Any]]]] = defaultdict(list)
    absent = []
    poses = list(alfred_poses)
    for i, pose in enumerate(poses):
        t = _type_of(str(pose.get("objectName", "")), types)
        if t is None:
            absent.append(str(pose.get("objectName")))
        else:
            wanted[t].append((i, pose))
    names: dict[int, str] = {}
    for t, entries in wanted.items():
        names.update(_pair(entries, by_type[t]))
    out = [
        {"objectName": names[i], "position": dict(p["position"]), "rotation": dict(p["rotation"])}
        for i, p in enumerate(poses)
        if i in names
    ]
    listed = set(wanted)
    for o in movable:  # furniture ALFRED never listed stays where the scene has it
        if o["objectType"] not in listed and not o.get("pickupable"):
            out.append(
                {"objectName": o["name"], "position": o["position"], "rotation": o["rotation"]}
            )
    return PoseMapping(out, tuple(absent))


def _pair(
    entries: list[tuple[int, Mapping[str, Any]]], objects: list[Mapping[str, Any]]
) -> dict[int, str]:
    """Pose index -> object name: closest pairs first, then the rest round-robin (copies)."""
    pos = np.array([[p["position"][k] for k in "xyz"] for _, p in entries], dtype=np.float64)
    own = np.array([[o["position"][k] for k in "xyz"] for o in objects], dtype=np.float64)
    dist = np.linalg.norm(pos[:, None, :] - own[None, :, :], axis=2)
    order = np.lexsort((np.arange(dist.size) % len(objects), dist.ravel()))
    out: dict[int, str] = {}
    used: set[int] = set()
    for flat in order.tolist():
        row, col = divmod(flat, len(objects))
        if row in out or col in used:
            continue
        out[row] = objects[col]["name"]
        used.add(col)
        if len(out) == min(len(entries), len(objects)):
            break
    extra = [r for r in range(len(entries)) if r not in out]
    for n, row in enumerate(extra):
        out[row] = objects[n % len(objects)]["name"]
    return {entries[r][0]: name for r, name in out.items()}


def restore_actions(task: Task, objects: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """ALFRED's restore_scene for `task` as action dicts, poses mapped onto `objects`."""
    actions = [dict(ALFRED_INITIALIZE)]
    if task.object_toggles:
        actions.append(
            {"action": "SetObjectToggles", "objectToggles": [dict(t) for t in task.object_toggles]}
        )
    if task.dirty_and_empty:
        actions.append(
            {"action": "SetStateOfAllObjects", "StateChange": "CanBeDirty", "forceAction": True}
        )
        actions.append(
            {"action": "SetStateOfAllObjects", "StateChange": "CanBeFilled", "forceAction": False}
        )
    mapping = map_object_poses(task.object_poses, objects)
    if mapping.absent:
        log.info("%s: no object of type in the 5.0.0 scene for %s", task.task_id, mapping.absent)
    actions.append({"action": "SetObjectPoses", "objectPoses": mapping.object_poses})
    return actions


def start_pose(task: Task) -> dict[str, Any] | None:
    """ALFRED's start TeleportFull (2.1.0: x, y, z, numeric rotation) in 5.0.0's arguments."""
    init = task.init_action
    if not init:
        return None
    return {
        "action": "TeleportFull",
        "position": {k: float(init[k]) for k in "xyz"},
        "rotation": {"x": 0.0, "y": float(init.get("rotation", 0.0)), "z": 0.0},
        "horizon": float(init.get("horizon", 0.0)),
        "standing": True,
    }


class EpisodeError(RuntimeError):
    """A restore step failed: the scene is not the one the task was recorded in."""


def start_episode(env: Controller, task: Task) -> Any:
    """Reset `env` to the task's FloorPlan, restore ALFRED's scene and teleport to the start;
    returns the event after the teleport (what the agent sees first).

    A start pose the controller refuses (2.1.0's layout had room there, 5.0.0's furniture
    overlaps it) moves to the nearest reachable position within SNAP metres, same rotation and
    horizon, else is retried with forceAction (the recording stood there); either is logged.
    A failed restore step raises `EpisodeError` with THOR's message.
    """
    event = env.reset(task.scene)
    for action in restore_actions(task, event.metadata["objects"]):
        event = env.step(action)
        if not event.metadata["lastActionSuccess"]:
            raise EpisodeError(
                f"{task.task_id}: {action['action']} failed: {event.metadata['errorMessage']}"
            )
    teleport = start_pose(task)
    if teleport is not None:
        event = env.step(teleport)
        if not event.metadata["lastActionSuccess"]:
            refused = event.metadata["errorMessage"]
            near = _nearest_reachable(env, teleport["position"])
            if near is not None:
                event = env.step({**teleport, "position": near})
            if near is None or not event.metadata["lastActionSuccess"]:
                log.info("%s: start pose refused (%s); forced", task.task_id, refused)
                event = env.step({**teleport, "forceAction": True})
            else:
                log.info("%s: start pose refused (%s); moved to %s", task.task_id, refused, near)
    return event


SNAP = 0.5  # m: how far a refused start pose may move to the nearest reachable position


def _nearest_reachable(env: Controller, at: dict[str, float]) -> dict[str, float] | None:
    """The reachable position nearest to `at` (THOR's GetReachablePositions), if within SNAP."""
    event = env.step({"action": "GetReachablePositions"})
    spots = event.metadata.get("actionReturn") or []
    if not spots:
        return None
    best = min(spots, key=lambda p: (p["x"] - at["x"]) ** 2 + (p["z"] - at["z"]) ** 2)
    if math.hypot(best["x"] - at["x"], best["z"] - at["z"]) > SNAP:
        return None
    return {"x": float(best["x"]), "y": float(at["y"]), "z": float(best["z"])}
