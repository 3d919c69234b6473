"""Navigation actions: grid moves, rotation, looking, teleports, reachable positions.

Each handler takes the scene state, the settings and the parsed arguments and returns an
`Outcome`; failures carry THOR's error message (see `messages`) and leave the state unchanged.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sim.offline import messages as msg
from sim.offline.errors import InvalidActionError
from sim.offline.freespace import free_space
from sim.offline.geometry import as_dict, planar_direction, xyz
from sim.offline.state import Outcome, SceneState, Settings, fail
from sim.scenes import scene_names

MAX_UP, MAX_DOWN = 30.0, 60.0  # THOR's default horizon limits (negative horizon looks up)
BLOCKER_REACH = 0.5  # metres from the blocked spot to the object named as blocking it
# THOR names the collider it hit; structure (wall) names are not in the vendored scene data.
STRUCTURE = "Wall"
MAX_GROUND_CHANGE = 0.05  # metres: BaseFPSAgentController.assertTeleportedNearGround
GRID_TOLERANCE = 1e-5


def _obstacle(state: SceneState, xz: np.ndarray) -> dict[str, Any] | None:
    """The object blocking the agent at `xz`: the nearest tall box within reach (None: a wall)."""
    top = state.agent.position[1] + 1.0
    gap = np.maximum(np.maximum(state.lo[:, [0, 2]] - xz, xz - state.hi[:, [0, 2]]), 0.0)
    dist = np.linalg.norm(gap, axis=1)
    tall = (state.hi[:, 1] > state.floor_top + 0.05) & (state.lo[:, 1] < top)
    dist = np.where(
        tall & (np.arange(len(dist)) != state.row.get(state.floor_id, -1)), dist, np.inf
    )
    i = int(np.argmin(dist))
    return state.objects[state.ids[i]] if dist[i] <= BLOCKER_REACH else None


def _move(
    state: SceneState, cfg: Settings, args: dict[str, Any], right: float, ahead: float
) -> Outcome:
    magnitude = args.get("moveMagnitude")
    if magnitude is None:
        magnitude = cfg.grid_size
    elif magnitude <= 0:
        return fail(msg.MOVE_MAGNITUDE.format())
    d = planar_direction(state.agent.yaw, right * magnitude, ahead * magnitude)
    start = state.agent.position[[0, 2]]
    end = start + d
    row = free_space(state).blocker(start, end)
    if row is not False:
        blocker = state.objects[state.ids[row]] if row is not None else _obstacle(state, end)
        return fail(
            msg.BLOCKED.format(
                name=STRUCTURE if blocker is None else blocker["name"],
                agent=0,
                offset=msg.cs_vector((d[0], 0.0, d[1]), 4),
            )
        )
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


def _rotate(state: SceneState, cfg: Settings, args: dict[str, Any], sign: float) -> Outcome:
    degrees = args.get("degrees")
    if degrees == 0:
        return fail(msg.ROTATE_ZERO.format())
    step = cfg.rotate_step_degrees if degrees is None else degrees
    state.agent.yaw = float((state.agent.yaw + sign * step) % 360.0)
    state.place_held_in_hand()
    return Outcome()


def rotate_left(state: SceneState, cfg: Settings, args: dict[str, Any]) -> Outcome:
    """RotateLeft by `degrees` (default the rotate step, 90)."""
    return _rotate(state, cfg, args, -1.0)


def rotate_right(state: SceneState, cfg: Settings, args: dict[str, Any]) -> Outcome:
    """RotateRight by `degrees`."""
    return _rotate(state, cfg, args, 1.0)


def _look(state: SceneState, action: str, args: dict[str, Any], sign: float) -> Outcome:
    """LookUp / LookDown: whole tenths of a degree (0 means 30), within the horizon limits."""
    degrees = args.get("degrees", 30.0)
    if degrees < 0:
        return fail(msg.LOOK_NEGATIVE.format(action=action, degrees=msg.cs_float(degrees)))
    if abs(degrees * 10 - round(degrees * 10)) > 1e-4:
        return fail(msg.LOOK_NOT_TENTHS.format(action=action))
    horizon = state.agent.horizon + sign * (round(degrees * 10) / 10 or 30.0)
    if horizon < -MAX_UP - 1e-6:
        return fail(msg.LOOK_UP_LIMIT.format(limit=msg.cs_float(MAX_UP)), msg.LOOK_ERROR_CODE)
    if horizon > MAX_DOWN + 1e-6:
        return fail(msg.LOOK_DOWN_LIMIT.format(limit=msg.cs_float(MAX_DOWN)), msg.LOOK_ERROR_CODE)
    state.agent.horizon = float(horizon)
    state.place_held_in_hand()
    return Outcome()


def look_up(state: SceneState, cfg: Settings, args: dict[str, Any]) -> Outcome:
    """LookUp by `degrees` (default 30)."""
    return _look(state, "LookUp", args, -1.0)


def look_down(state: SceneState, cfg: Settings, args: dict[str, Any]) -> Outcome:
    """LookDown by `degrees` (default 30)."""
    return _look(state, "LookDown", args, 1.0)


def _set_standing(state: SceneState, standing: bool) -> Outcome:
    if state.agent.standing == standing:
        return fail(msg.ALREADY_STANDING if standing else msg.ALREADY_CROUCHING)
    state.agent.standing = standing
    state.place_held_in_hand()
    return Outcome()


def crouch(state: SceneState, cfg: Settings, args: dict[str, Any]) -> Outcome:
    """Crouch: lower the camera."""
    return _set_standing(state, False)


def stand(state: SceneState, cfg: Settings, args: dict[str, Any]) -> Outcome:
    """Stand: raise the camera back."""
    return _set_standing(state, True)


def _teleport_error(
    state: SceneState,
    cfg: Settings,
    pos: np.ndarray,
    rot: dict[str, float],
    horizon: float,
    moved: bool,
) -> str | None:
    """BaseFPSAgentController.teleportFull's checks, in its order (all skipped by forceAction)."""
    if abs(rot.get("x", 0.0)) >= 1e-2 or abs(rot.get("z", 0.0)) >= 1e-2:
        angles = (rot.get("x", 0.0), rot["y"], rot.get("z", 0.0))
        return msg.PITCH_OR_ROLL.format(rotation=msg.cs_vector(angles, 6))
    if not -MAX_UP <= horizon <= MAX_DOWN:
        return msg.HORIZON_RANGE.format(
            low=msg.cs_float(-MAX_UP), high=msg.cs_float(MAX_DOWN), horizon=msg.cs_float(horizon)
        )
    where = msg.cs_vector(pos, 6)
    if np.any(pos < state.bounds_lo) or np.any(pos > state.bounds_hi):
        return msg.TELEPORT_OUT_OF_BOUNDS.format(position=where)
    cells = pos[[0, 2]] / cfg.grid_size
    if cfg.snap_to_grid and np.any(np.abs(cells - np.round(cells)) > GRID_TOLERANCE):
        return msg.TELEPORT_OFF_GRID.format(position=where, grid=msg.cs_float(cfg.grid_size))
    if not free_space(state).contains(pos[[0, 2]]):
        blocker = _obstacle(state, pos[[0, 2]])
        return msg.COLLIDED_WITH.format(name=STRUCTURE if blocker is None else blocker["objectId"])
    change = abs(pos[1] - state.agent_height())
    if moved and change > MAX_GROUND_CHANGE:
        return msg.NOT_NEAR_GROUND.format(change=msg.cs_float(change))
    return None


def teleport_full(state: SceneState, cfg: Settings, args: dict[str, Any]) -> Outcome:
    """TeleportFull: Teleport with every degree of freedom given (position or x, y, z)."""
    if "position" not in args and not any(k in args for k in "xyz"):
        raise InvalidActionError(
            "position",
            None,
            msg.MISSING_ARGUMENTS.format(action="TeleportFull", names="position"),
            code="MissingArguments",
        )
    return teleport(state, cfg, args)


def teleport(state: SceneState, cfg: Settings, args: dict[str, Any]) -> Outcome:
    """Teleport / TeleportFull: position, rotation (yaw), horizon, standing.

    Without forceAction the pose must be upright, the horizon in [-30, 60], the position in the
    scene bounds, on the grid (snapToGrid), free (on the reachable grid) and at floor height.
    """
    agent = state.agent
    if "position" not in args and any(k in args for k in "xyz"):
        if not all(k in args for k in "xyz"):
            missing = ",".join(k for k in "xyz" if k not in args)
            raise InvalidActionError(
                missing,
                None,
                msg.MISSING_ARGUMENTS.format(action="Teleport", names=missing),
                code="MissingArguments",
            )
        args = {**args, "position": {k: args[k] for k in "xyz"}}
    pos = xyz(args["position"]) if "position" in args else agent.position.copy()
    rot = args.get("rotation", {"x": 0.0, "y": agent.yaw, "z": 0.0})
    horizon = float(args.get("horizon", agent.horizon))
    if not args.get("forceAction"):
        message = _teleport_error(state, cfg, pos, rot, horizon, "position" in args)
        if message:
            return fail(message)
    agent.position = np.array((pos[0], state.agent_height(), pos[2]))
    agent.yaw, agent.horizon = float(rot["y"]) % 360.0, horizon
    agent.standing = bool(args.get("standing", agent.standing))
    state.place_held_in_hand()
    return Outcome()


def get_reachable_positions(state: SceneState, cfg: Settings, args: dict[str, Any]) -> Outcome:
    """GetReachablePositions: actionReturn is a list of {"x","y","z"} dicts."""
    y = state.agent_height()
    return Outcome(ret=[as_dict((x, y, z)) for x, z in state.grid.points])


def get_scenes_in_build(state: SceneState, cfg: Settings, args: dict[str, Any]) -> Outcome:
    """GetScenesInBuild: actionReturn lists the scenes (ai2thor's "FloorPlanN_physics")."""
    return Outcome(ret=[f"{name}_physics" for name in scene_names()])


def no_op(state: SceneState, cfg: Settings, args: dict[str, Any]) -> Outcome:
    """Pass / Done / Initialize: nothing changes."""
    return Outcome()
