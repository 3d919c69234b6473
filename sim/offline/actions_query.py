"""Actions that answer a question about the scene and change nothing: GetShortestPath,
GetShortestPathToPoint and GetInteractablePoses (ai2thor 5.0.0's arguments, returns and
messages).

THOR plans paths on Unity's NavMesh; here the free space is the reachable grid (see
`ReachableGrid`), so a path is Dijkstra over grid points joined to their 8 neighbours (whose
discs always cover the segment between them), string-pulled with the same exact segment test
moves use: `actionReturn` is `{"corners": [{x, y, z}, ...], "status": 0}` with corners at floor
height, as NavMeshPath serialises. Visibility is the simulator's (no occlusion).
"""

from __future__ import annotations

import math
from typing import Any

import networkx as nx
import numpy as np

from sim.offline import messages as msg
from sim.offline.freespace import occluders_of
from sim.offline.geometry import CAMERA_HEIGHT, as_dict, camera_axes, xyz
from sim.offline.state import CROUCH_DROP, Outcome, ReachableGrid, SceneState, Settings, fail
from sim.offline.visibility import box_samples, not_occluding, unoccluded

NAV_SAMPLE = 0.2  # m: NavMesh.SamplePosition radius THOR uses (max(0.2, allowedError))
MAX_UP, MAX_DOWN = 30.0, 60.0  # default horizon limits of GetInteractablePoses


def grid_graph(grid: ReachableGrid) -> nx.Graph:
    """Grid points joined to their 8 neighbours, weighted by length (built once per grid)."""
    if grid.graph is not None:
        return grid.graph
    pts = grid.points
    g = nx.Graph()
    g.add_nodes_from(range(len(pts)))
    d = pts[:, None, :] - pts[None, :, :]
    near = (np.abs(d) <= grid.step * 1.001).all(axis=2)
    i, j = np.nonzero(np.triu(near, k=1))
    lengths = np.linalg.norm(d[i, j], axis=1)
    g.add_weighted_edges_from(zip(i.tolist(), j.tolist(), lengths.tolist(), strict=True))
    grid.graph = g
    return g


def _nearest(grid: ReachableGrid, xz: np.ndarray, radius: float) -> int | None:
    dist = np.linalg.norm(grid.points - xz, axis=1)
    i = int(np.argmin(dist))
    return i if dist[i] <= radius + grid.tolerance else None


def _pull(grid: ReachableGrid, pts: list[np.ndarray]) -> list[np.ndarray]:
    """Corners of a polyline: from each corner, the farthest later point in straight reach."""
    out, i = [pts[0]], 0
    while i < len(pts) - 1:
        j = next(
            (k for k in range(len(pts) - 1, i + 1, -1) if grid.path_clear(pts[i], pts[k])), i + 1
        )
        out.append(pts[j])
        i = j
    return out


def _path(
    state: SceneState, start: np.ndarray, target: np.ndarray, radius: float
) -> Outcome | list[np.ndarray]:
    """Corners (x, z) from start to target, or THOR's failure."""
    grid = state.grid
    s = _nearest(grid, start[[0, 2]], radius)
    if s is None:
        return fail(msg.PATH_NO_START.format(p=msg.cs_vector(start, 1)))
    t = _nearest(grid, target[[0, 2]], radius)
    if t is None:
        return fail(msg.PATH_NO_TARGET.format(p=msg.cs_vector(target, 1)))
    try:
        nodes = nx.dijkstra_path(grid_graph(grid), s, t)
    except nx.NetworkXNoPath:
        return fail(msg.PATH_NONE.format(a=msg.cs_vector(start, 3), b=msg.cs_vector(target, 3)))
    pts = [start[[0, 2]], *(grid.points[n] for n in nodes), target[[0, 2]]]
    return _pull(grid, pts)


def _corners(state: SceneState, xz: list[np.ndarray]) -> dict[str, Any]:
    y = state.floor_top
    return {"corners": [as_dict((p[0], y, p[1])) for p in xz], "status": 0}


def _start(state: SceneState, args: dict[str, Any]) -> np.ndarray:
    return xyz(args["position"]) if "position" in args else state.agent.position.copy()


def shortest_path_to_point(state: SceneState, cfg: Settings, args: dict[str, Any]) -> Outcome:
    """GetShortestPathToPoint(position?, target | x, y, z, allowedError)."""
    if "target" in args:
        target = xyz(args["target"])
    elif all(k in args for k in "xyz"):
        target = np.array([args[k] for k in "xyz"], dtype=np.float64)
    else:
        return fail(msg.MISSING_ARGUMENTS.format(action="GetShortestPathToPoint", names="target"))
    radius = max(NAV_SAMPLE, args.get("allowedError", 0.0001))
    found = _path(state, _start(state, args), target, radius)
    return found if isinstance(found, Outcome) else Outcome(ret=_corners(state, found))


def _target(state: SceneState, args: dict[str, Any]) -> str | Outcome:
    """The object named by objectId, or the only object of objectType (getSimObjectFromTypeOrId)."""
    oid, otype = args.get("objectId"), args.get("objectType")
    if oid is None and otype is not None:
        of_type = [k for k, o in state.objects.items() if o["objectType"] == otype]
        if not of_type:
            return fail(msg.PATH_TYPE_MISSING.format(type=otype))
        if len(of_type) > 1:
            return fail(msg.PATH_TYPE_AMBIGUOUS.format(type=otype))
        return of_type[0]
    if oid not in state.objects:
        return fail(msg.PATH_NO_ID.format(oid=oid))
    return str(oid)


def shortest_path(state: SceneState, cfg: Settings, args: dict[str, Any]) -> Outcome:
    """GetShortestPath(objectId | objectType, position?, rotation?, allowedError): a path to the
    grid point nearest along the grid from which the object is within visibility distance of
    the camera (THOR looks at the object from each point it tries)."""
    oid = _target(state, args)
    if isinstance(oid, Outcome):
        return oid
    start = _start(state, args)
    radius = max(NAV_SAMPLE, args.get("allowedError", 0.0001))
    grid = state.grid
    s = _nearest(grid, start[[0, 2]], radius)
    if s is None:
        return fail(msg.PATH_NO_START.format(p=msg.cs_vector(start, 1)))
    i = state.row[oid]
    height = state.agent_height() + CAMERA_HEIGHT
    cams = np.column_stack(
        [grid.points[:, 0], np.full(len(grid.points), height), grid.points[:, 1]]
    )
    gap = np.linalg.norm(cams - np.clip(cams, state.lo[i], state.hi[i]), axis=1)
    seen = gap <= cfg.visibility_distance
    order = nx.single_source_dijkstra_path_length(grid_graph(grid), s)
    goals = [n for n in sorted(order, key=lambda n: (order[n], n)) if seen[n]]
    if not goals:
        return fail(
            msg.PATH_NOT_VISIBLE.format(
                oid=oid,
                distance=msg.cs_float(cfg.visibility_distance),
                grid=msg.cs_float(cfg.grid_size),
                fov=msg.cs_float(cfg.field_of_view),
                width=cfg.width,
                height=cfg.height,
            )
        )
    goal = grid.points[goals[0]]
    found = _path(state, start, np.array((goal[0], start[1], goal[1])), radius)
    return found if isinstance(found, Outcome) else Outcome(ret=_corners(state, found))


def _check_poses_args(state: SceneState, cfg: Settings, args: dict[str, Any]) -> Outcome | None:
    if args["objectId"] not in state.objects:
        return fail(msg.POSES_UNKNOWN_ID.format(oid=args["objectId"]))
    if args.get("maxPoses", 1) <= 0:
        return fail(msg.POSES_MAX.format())
    if args.get("maxDistance", 1.0) <= 0:
        return fail(msg.POSES_DISTANCE.format())
    for key in ("positions", "rotations", "horizons", "standings"):
        if key in args and not args[key]:
            return fail(msg.POSES_EMPTY.format())
    for h in args.get("horizons", ()):
        if not -MAX_UP <= h <= MAX_DOWN:
            low, high = msg.cs_float(-MAX_UP), msg.cs_float(MAX_DOWN)
            return fail(msg.POSES_HORIZON.format(low=low, high=high, h=msg.cs_float(h)))
    return None


def interactable_poses(state: SceneState, cfg: Settings, args: dict[str, Any]) -> Outcome:
    """GetInteractablePoses: agent poses (x, y, z, rotation, standing, horizon) from which the
    object is visible within maxDistance, looping horizon, standing, rotation, position in
    THOR's order; each entry can be passed to TeleportFull. Visible is the simulator's rule
    (the `visible` flag's), so a returned pose shows the object after the teleport."""
    error = _check_poses_args(state, cfg, args)
    if error is not None:
        return error
    oid = args["objectId"]
    i = state.row[oid]
    max_d = args.get("maxDistance", cfg.visibility_distance)
    if "positions" in args:
        pos = np.array([[p["x"], p["y"], p["z"]] for p in args["positions"]], dtype=np.float64)
    else:
        xz = state.grid.points
        pos = np.column_stack([xz[:, 0], np.full(len(xz), state.agent_height()), xz[:, 1]])
    lo, hi = state.lo[i], state.hi[i]
    fudge = float(np.linalg.norm(np.maximum(hi - state.pos[i], state.pos[i] - lo)))
    pos = pos[np.linalg.norm(pos - state.pos[i], axis=1) <= max_d + fudge + cfg.grid_size]
    step = cfg.rotate_step_degrees
    offset = round(state.agent.yaw % step)
    rotations = args.get("rotations") or np.arange(offset, 360 + offset, step).tolist()
    horizons = args.get("horizons") or [-MAX_UP, 0.0, 30.0, MAX_DOWN]
    standings = args.get("standings") or [False, True]
    limit = args.get("maxPoses", math.inf)
    tan_v = math.tan(math.radians(cfg.field_of_view) / 2)
    tan_h = tan_v * cfg.width / cfg.height
    ignore = (
        not_occluding(np.array([i]), state.lo, state.hi, occluders_of(state), state.parent_rows())
        if cfg.occlusion
        else None
    )
    out: list[dict[str, Any]] = []
    for h in horizons:
        for standing in standings:
            lift = CAMERA_HEIGHT - (0.0 if standing else CROUCH_DROP)
            cams = pos + np.array((0.0, lift, 0.0))
            # The simulator's visibility points (`visibility.visible_mask`), one set per camera.
            points = np.repeat(box_samples(lo[None], hi[None]), len(cams), axis=0)
            points[:, -1, :] = np.clip(cams, lo, hi)
            rel = points - cams[:, None, :]
            close = np.einsum("pkd,pkd->pk", rel, rel) <= max_d * max_d
            for r in rotations:
                right, up, forward = camera_axes(r, h)
                zc, xc, yc = rel @ forward, rel @ right, rel @ up
                view = (zc > 1e-3) & (np.abs(yc) <= zc * tan_v) & (np.abs(xc) <= zc * tan_h)
                for p in np.flatnonzero((view & close).any(axis=1)).tolist():
                    seen = view[p] & close[p]
                    if (
                        ignore is not None
                        and not unoccluded(
                            cams[p], points[p][None], seen[None], state.lo, state.hi, ignore
                        ).any()
                    ):
                        continue  # THOR's raycast: something stands in between
                    x, y, z = pos[p].tolist()
                    out.append(
                        {
                            "x": x,
                            "y": y,
                            "z": z,
                            "rotation": float(r),
                            "standing": bool(standing),
                            "horizon": float(h),
                        }
                    )
                    if len(out) >= limit:
                        return Outcome(ret=out)
    return Outcome(ret=out)
