"""ALFRED's ai2thor 2.1.0 scenes against the 5.0.0 ones: ids and receptacle types.

A 2.1.0 objectId is `Type|x|y|z` (`Parent|x|y|z|Part` for basins and slices). Where a 5.0.0
scene has no object of a goal's receptacle type, the 5.0.0 counterpart is the fixed receptacle
whose box holds the position of the 2.1.0 receptacle the expert put the object in: FloorPlan305's
2.1.0 Dresser is its 5.0.0 SideTable. A receptacle with no counterpart (FloorPlan401's Cart: only
floor stands there in 5.0.0) stays as it is, and the goal stays unsatisfiable there.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from functools import cache
from typing import Any

import numpy as np

from sim.offline.geometry import aabb
from sim.scenes import scene_objects
from sim.tasks.goals import TYPE_ALIASES, Goal, InReceptacle, goal_from_pddl

COUNTERPART_REACH = 0.1  # m: a counterpart's box holds the 2.1.0 position (within this)
RETYPED = ("parent", "mrecep")  # goal targets that name a receptacle


class IdError(ValueError):
    """A 2.1.0 objectId that does not parse."""


def parse_id(oid: str) -> tuple[str, tuple[float, float, float], str | None]:
    """(object type, position, part name) named by a 2.1.0 objectId."""
    parts = oid.split("|")
    if len(parts) not in (4, 5):
        raise IdError(f"objectId {oid!r}: expected Type|x|y|z")
    try:
        x, y, z = (float(p) for p in parts[1:4])
    except ValueError:
        raise IdError(f"objectId {oid!r}: expected numbers after the type") from None
    part = parts[4] if len(parts) == 5 else None
    kind = part.rsplit("_", 1)[0] if part is not None else parts[0]
    return TYPE_ALIASES.get(kind, kind), (x, y, z), part


def counterpart(
    where: tuple[float, float, float],
    objects: Iterable[Mapping[str, Any]],
    kind: str | None = None,
) -> Mapping[str, Any] | None:
    """The fixed receptacle (not pickupable, not the floor; of type `kind` when given) whose
    box holds `where` within COUNTERPART_REACH, the nearest one if several; None when there is
    none."""
    best, best_d = None, COUNTERPART_REACH
    p = np.asarray(where, dtype=np.float64)
    for o in objects:
        if not o.get("receptacle") or o.get("pickupable") or o["objectType"] == "Floor":
            continue
        if kind is not None and o["objectType"] != kind:
            continue
        lo, hi = aabb(o)
        d = float(np.linalg.norm(np.maximum(np.maximum(lo - p, p - hi), 0.0)))
        if d <= best_d:
            best, best_d = o, d
    return best


@cache
def _default_objects(scene: str) -> tuple[Mapping[str, Any], ...]:
    """The scene's default 5.0.0 objects, read once (its fixed receptacles are the restored
    scene's too: SetObjectPoses moves only movable objects)."""
    return tuple(scene_objects(scene).values())


def repose_goal(
    goal: Goal,
    task_type: str,
    pddl: Mapping[str, Any],
    scene: str,
    low_actions: Iterable[Mapping[str, Any]],
) -> tuple[Goal, dict[str, str]]:
    """`goal` posed in the 5.0.0 scene: each receptacle type the scene lacks replaced by its
    counterpart's type (found through the expert's PutObject into it). Returns the goal and
    the replacements made (2.1.0 type -> 5.0.0 type)."""
    objects = _default_objects(scene)
    types = {o["objectType"] for o in objects}
    missing = {goal.targets[k] for k in RETYPED if goal.targets.get(k) not in (None, *types)}
    if not missing:
        return goal, {}
    found: dict[str, str] = {}
    for action in low_actions:
        rid = action.get("receptacleObjectId") if action.get("action") == "PutObject" else None
        if not isinstance(rid, str):
            continue
        try:
            kind, where, _ = parse_id(rid)
        except IdError:
            continue
        if kind in missing and kind not in found:
            match = counterpart(where, objects)
            if match is not None:
                found[kind] = match["objectType"]
    if not found:
        return goal, {}
    params = dict(pddl)
    for key in RETYPED:
        if goal.targets.get(key) in found:
            params[f"{key}_target"] = found[goal.targets[key]]
    return goal_from_pddl(task_type, params), found


def _expert_ids(low_actions: Iterable[Mapping[str, Any]], action: str, key: str) -> list[str]:
    """The 2.1.0 objectIds the expert's `action`s name under `key`, in order."""
    return [
        a[key] for a in low_actions if a.get("action") == action and isinstance(a.get(key), str)
    ]


def _where(oid: str, kind: str) -> tuple[float, float, float] | None:
    """Position a 2.1.0 objectId names when it is of type `kind` (not a part), else None."""
    try:
        parsed, where, part = parse_id(oid)
    except IdError:
        return None
    return where if parsed == kind and part is None else None


def pin_goal(goal: Goal, scene: str, low_actions: Iterable[Mapping[str, Any]]) -> Goal:
    """A pick-and-place `goal` with its receptacle pinned to one instance where the 5.0.0
    scene could meet it at the start: the object the expert picks up stands in/on a
    receptacle of the goal's type in 5.0.0 (FloorPlan307's 2.1.0 side table is a 5.0.0 desk),
    and the expert puts it into another one. The goal's in/on condition then names the 5.0.0
    counterpart of the expert's receptacle. Goals with a state or a count (they are not met
    by where the object starts) are returned as they are."""
    if goal.task_type != "pick_and_place_simple":
        return goal
    obj, recep = goal.targets["object"], goal.targets["parent"]
    actions = list(low_actions)
    objects = _default_objects(scene)
    picked = [w for i in _expert_ids(actions, "PickupObject", "objectId") if (w := _where(i, obj))]
    put = [
        w
        for i in _expert_ids(actions, "PutObject", "receptacleObjectId")
        if (w := _where(i, recep))
    ]
    source = counterpart(picked[0], objects, recep) if picked else None
    target = counterpart(put[-1], objects, recep) if put else None
    if source is None or target is None or source["objectId"] == target["objectId"]:
        return goal
    conds = tuple(
        replace(c, recep_id=target["objectId"]) if isinstance(c, InReceptacle) else c
        for c in goal.conditions
    )
    return replace(goal, conditions=conds)
