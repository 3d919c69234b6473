"""Replay ALFRED's expert trajectories: its ai2thor 2.1.0 `api_action`s as 5.0.0 calls.

`translate` turns one recorded action into a 5.0.0 action dict:
- MoveAhead keeps its moveMagnitude; RotateLeft / RotateRight turn 90 degrees and LookUp /
  LookDown 15 (ALFRED's steps); forceAction and placeStationary are kept.
- A 2.1.0 objectId (`Type|x|y|z`, or `Parent|x|y|z|Part` for basins and slices) names the
  object with that id when the restore made it, else the object of that type (2.1.0's
  `Glassbottle` is `Bottle`) nearest to that position, where the object is now (ids made after
  ALFRED's restore) or where it stood in the default scene (ids made before); a receptacle type
  the 5.0.0 scene lacks names its counterpart there (`versions.counterpart`).
- PutObject(objectId=held, receptacleObjectId=R) becomes 5.0.0's PutObject(objectId=R).

`replay_expert(env, task)` starts the episode and runs every action; the result says whether
all succeeded and the goal holds at the end, where the first failure was and why.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sim.tasks.alfred import Task
from sim.tasks.episode import Controller, EpisodeError, start_episode
from sim.tasks.goals import GoalResult, StateHistory
from sim.tasks.versions import IdError, counterpart, parse_id

TURN_DEGREES = {"RotateLeft": 90.0, "RotateRight": 90.0, "LookUp": 15.0, "LookDown": 15.0}
KEPT = ("forceAction", "placeStationary", "moveMagnitude")


@dataclass(frozen=True)
class ReplayResult:
    """Outcome of one expert replay: `success` (every action succeeded and the goal holds),
    `failed_at` (index into `task.low_actions` of the first failed action, or None), `reason`
    (THOR's message, a translation problem, or the unmet goal), and the final goal check."""

    success: bool
    failed_at: int | None
    reason: str | None
    goal: GoalResult | None
    steps: int


def _xyz(p: Mapping[str, float]) -> tuple[float, float, float]:
    return (p["x"], p["y"], p["z"])


def resolve_id(
    oid: str,
    objects: list[Mapping[str, Any]],
    defaults: Mapping[str, Mapping[str, float]] | None = None,
    receptacle: bool = False,
) -> str:
    """The 5.0.0 objectId of the object a 2.1.0 objectId names: the same id when the restore
    made it, else the object of the same type (the same
    part, "AppleSliced_1", for parts), nearest to the id's position where it is now or, for
    an id 2.1.0 made before ALFRED moved the object, where it stood in the default scene
    (`defaults`: name -> position). With `receptacle` (the receptacle of a PutObject), a type
    the 5.0.0 scene lacks names its counterpart there (`versions.counterpart`)."""
    try:
        kind, where, part = parse_id(oid)
    except IdError as exc:
        raise EpisodeError(str(exc)) from None
    for o in objects:
        if o["objectId"] == oid:
            return oid  # the restore reproduces most of 2.1.0's ids exactly
    best, best_d = None, math.inf
    for o in objects:
        if o["objectType"].lower() != kind.lower():
            continue
        d = math.dist(where, _xyz(o["position"]))
        if defaults is not None:
            base = str(o.get("name", "")).split("(Clone)")[0]
            if base in defaults:
                d = min(d, math.dist(where, _xyz(defaults[base])))
        if part is not None and not o["objectId"].endswith("|" + part):
            d += 1e3  # another slice of it: only when the named one is not there
        if d < best_d:
            best, best_d = o["objectId"], d
    if best is None:
        # a receptacle put into whose type 5.0.0 renamed: the one standing there (the rule
        # `versions.repose_goal` poses the goal with)
        match = counterpart(where, objects) if receptacle else None
        if match is None:
            raise EpisodeError(f"objectId {oid!r}: no {kind} in the scene")
        return match["objectId"]
    return best


def translate(
    api_action: Mapping[str, Any],
    metadata: Mapping[str, Any],
    defaults: Mapping[str, Mapping[str, float]] | None = None,
) -> dict[str, Any]:
    """One recorded 2.1.0 action as a 5.0.0 action dict on the scene of `metadata`
    (`defaults`: see `resolve_id`)."""
    name = api_action["action"]
    out: dict[str, Any] = {"action": name}
    out.update({k: api_action[k] for k in KEPT if k in api_action})
    if name in TURN_DEGREES:
        out["degrees"] = TURN_DEGREES[name]
    objects = metadata["objects"]
    if name == "PutObject":
        out["objectId"] = resolve_id(
            api_action["receptacleObjectId"], objects, defaults, receptacle=True
        )
    elif "objectId" in api_action:
        out["objectId"] = resolve_id(api_action["objectId"], objects, defaults)
    return out


def replay_expert(env: Controller, task: Task) -> ReplayResult:
    """Start `task` in `env` and run its expert's actions, translated; see `ReplayResult`."""
    defaults = {o["name"]: o["position"] for o in env.reset(task.scene).metadata["objects"]}
    event = start_episode(env, task)
    history = StateHistory()
    history.update(event.metadata)
    for i, api in enumerate(task.low_actions):
        try:
            action = translate(api, event.metadata, defaults)
            event = env.step(action)
        except (EpisodeError, ValueError) as exc:
            return ReplayResult(False, i, f"{api['action']}: {exc}", None, i)
        history.update(event.metadata)
        if not event.metadata["lastActionSuccess"]:
            reason = f"{action['action']}: {event.metadata['errorMessage']}"
            return ReplayResult(False, i, reason, task.goal.check(event.metadata, history), i)
    goal = task.goal.check(event.metadata, history)
    reason = None if goal.success else "goal not met: " + "; ".join(goal.unmet + goal.unsatisfiable)
    return ReplayResult(goal.success, None, reason, goal, len(task.low_actions))
