"""Navigation actions: grid moves, rotation, looking, teleports, reachable positions.

Each handler takes the scene state, the settings and the parsed arguments and returns an
`Outcome`; failures carry THOR's error message and leave the state unchanged.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sim.offline.geometry import as_dict, planar_direction, xyz
from sim.offline.state import Outcome, SceneState, Settings, fail

MAX_UP, MAX_DOWN = 30.0, 60.0  # THOR's default horizon limits (negative horizon looks up)
BLOCKER_REACH = 0.5  # metres from the blocked spot to the object named as blocking it


def _blocker(state: SceneState, xz: np.ndarray) -> str:
    """Name of what blocks the agent at `xz`: the nearest object box within reach, else a wall."""
    top = state.agent.position[1] + 1.0
    gap = np.maximum(np.maximum(state.lo[:, [0, 2]] - xz, xz - state.hi[:, [0, 2]]), 0.0)
    dist = np.linalg.norm(gap, axis=1)
    tall = (state.hi[:, 1] > state.floor_top + 0.05) & (state.lo[:, 1] < top)
    dist = np.where(tall & (np.arange(len(dist)) != state.row.get(state.floor_id, -1)), dist,
                    np.inf)
    i = int(np.argmin(dist))
    return state.ids[i].split("|")[0] if dist[i] <= BLOCKER_REACH else "Wall"


def _move(state: SceneState, cfg: Settings, args: dict[str, Any], right: float,
          ahead: float) -> Outcome:
    magnitude = args.get("moveMagnitude", cfg.grid_size)
    d = planar_direction(state.agent.yaw, right * magnitude, ahead * magnitude)
    start = state.agent.position[[0, 2]]
    end = start + d
    if not state.grid.path_clear(start, end):
        offset = f"({d[0]:.4f}, 0.0000, {d[1]:.4f})"
        return fail(f"{_blocker(state, end)} is blocking Agent 0 from moving by {offset}.")
    state.agent.position = np.array((end[0], state.agent.position[1], end[1]))
    state.place_held_in_hand()
    return Outcome()


def move_ahead(state: SceneState, cfg: Settings, args: dict[str, Any]) -> Outcome:
    """MoveAhead: `moveMagnitude` metres forward (default the grid size)."""
    return _move(state, cfg, args, 0.0, 1.0)


def move_back(state: SceneState, cfg: Settings, args: dict[str, Any]) -> Outcome:
    """MoveBack."""
    return _move(state, cfg, args, 0.0, -1.0)


def move_left(state: SceneState, cfg: Settings, args: dict[str, Any]) -> Outcome:
    """MoveLeft."""
    return _move(state, cfg, args, -1.0, 0.0)


def move_right(state: SceneState, cfg: Settings, args: dict[str, Any]) -> Outcome:
    """MoveRight."""
    return _move(state, cfg, args, 1.0, 0.0)


def _rotate(state: SceneState, degrees: float) -> Outcome:
    state.agent.yaw = float((state.agent.yaw + degrees) % 360.0)
    state.place_held_in_hand()
    return Outcome()


def rotate_left(state: SceneState, cfg: Settings, args: dict[str, Any]) -> Outcome:
    """RotateLeft by `degrees` (default the rotate step, 90)."""
    return _rotate(state, -args.get("degrees", cfg.rotate_step_degrees))


def rotate_right(state: SceneState, cfg: Settings, args: dict[str, Any]) -> Outcome:
    """RotateRight by `degrees`."""
    return _rotate(state, args.get("degrees", cfg.rotate_step_degrees))


def _look(state: SceneState, delta: float) -> Outcome:
    horizon = state.agent.horizon + delta
    if horizon < -MAX_UP - 1e-6:
        return fail(f"can't look up beyond {MAX_UP:g} degrees above the forward horizon")
    if horizon > MAX_DOWN + 1e-6:
        return fail(f"can't look down beyond {MAX_DOWN:g} degrees below the forward horizon")
    state.agent.horizon = float(horizon)
    state.place_held_in_hand()
    return Outcome()


def look_up(state: SceneState, cfg: Settings, args: dict[str, Any]) -> Outcome:
    """LookUp by `degrees` (default 30)."""
    return _look(state, -args.get("degrees", 30.0))


def look_down(state: SceneState, cfg: Settings, args: dict[str, Any]) -> Outcome:
    """LookDown by `degrees` (default 30)."""
    return _look(state, args.get("degrees", 30.0))


def _set_standing(state: SceneState, standing: bool) -> Outcome:
    state.agent.standing = standing
    state.place_held_in_hand()
    return Outcome()


def crouch(state: SceneState, cfg: Settings, args: dict[str, Any]) -> Outcome:
    """Crouch: lower the camera."""
    return _set_standing(state, False)


def stand(state: SceneState, cfg: Settings, args: dict[str, Any]) -> Outcome:
    """Stand: raise the camera back."""
    return _set_standing(state, True)


def _fmt(v: np.ndarray) -> str:
    return "(" + ", ".join(f"{c:.6f}" for c in v) + ")"


def teleport(state: SceneState, cfg: Settings, args: dict[str, Any]) -> Outcome:
    """Teleport / TeleportFull: position, rotation (yaw), horizon, standing.

    Out-of-bounds positions and horizons outside [-30, 60] fail; a position away from the
    reachable grid fails unless forceAction is set.
    """
    agent = state.agent
    pos = xyz(args["position"]) if "position" in args else agent.position.copy()
    yaw = float(args["rotation"].get("y", agent.yaw)) if "rotation" in args else agent.yaw
    horizon = float(args.get("horizon", agent.horizon))
    if np.any(pos[[0, 2]] < state.bounds_lo[[0, 2]]) or np.any(
            pos[[0, 2]] > state.bounds_hi[[0, 2]]):
        return fail(f"Teleport position {_fmt(pos)} out of scene bounds!")
    if not -MAX_UP <= horizon <= MAX_DOWN:
        return fail(f"Each horizon must be in [-{MAX_UP:g}:{MAX_DOWN:g}]. You gave {horizon:g}.")
    if not args.get("forceAction") and not state.grid.contains(pos[[0, 2]])[0]:
        return fail(f"Cannot teleport to {_fmt(pos)}: the agent would collide"
                    " with the scene (position is not reachable).")
    agent.position = np.array((pos[0], state.agent_height(), pos[2]))
    agent.yaw, agent.horizon = yaw % 360.0, horizon
    agent.standing = bool(args.get("standing", agent.standing))
    state.place_held_in_hand()
    return Outcome()


def get_reachable_positions(state: SceneState, cfg: Settings, args: dict[str, Any]) -> Outcome:
    """GetReachablePositions: actionReturn is a list of {"x","y","z"} dicts."""
    y = state.agent_height()
    return Outcome(ret=[as_dict((x, y, z)) for x, z in state.grid.points])


def no_op(state: SceneState, cfg: Settings, args: dict[str, Any]) -> Outcome:
    """Pass / Done / Initialize: nothing changes."""
    return Outcome()
