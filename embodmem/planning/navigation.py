"""Navigation on what the agent has learned of the floor: a grid of cells it has stood on and
cells a move into failed, with unknown cells assumed free (the free-space assumption: plan
optimistically, learn a blocked cell from the failed move, plan again).

`route` searches (cell, heading) states breadth-first, so the plan has the fewest THOR actions
(MoveAhead one grid step, RotateLeft / RotateRight 90 degrees) to a cell from which the target
is within reach and straight ahead; `look_at` gives the LookUp / LookDown that centres it. All
of it is plain functions over a `FloorMap`, in the agent's own observations (its pose, the
positions of objects it has seen), never the simulator's navigation mesh.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field

from embodmem.errors import ValidationError

Cell = tuple[int, int]
HEADINGS = (0, 90, 180, 270)  # THOR yaw: 0 looks along +z, 90 along +x
_STEP_OF = {0: (0, 1), 90: (1, 0), 180: (0, -1), 270: (-1, 0)}
MAX_STATES = 200_000  # a search bound: 4 headings x 50,000 cells
LOOK_STEP = 15.0  # degrees per LookUp / LookDown (ALFRED's)
MAX_UP, MAX_DOWN = 30.0, 60.0  # THOR's horizon limits


@dataclass
class FloorMap:
    """What the agent knows of the floor, on a grid of `step` metres: cells it stood on, cells a
    move into failed, cells under furniture it has seen (`seen_blocked`, replaced as the memory
    learns), cells blocked in earlier episodes (`remembered`, from experience: soft blocks like
    footprints, since what blocked them may have moved), moves that failed from a cell with a
    heading (`failed_moves`: an open door or what the hand holds can block a cell once stood on;
    cleared by `changed`), and optional bounds (THOR's sceneBounds, which every event
    reports)."""

    step: float = 0.25
    visited: set[Cell] = field(default_factory=set)
    blocked: set[Cell] = field(default_factory=set)
    seen_blocked: set[Cell] = field(default_factory=set)
    remembered: set[Cell] = field(default_factory=set)
    failed_moves: set[tuple[Cell, int]] = field(default_factory=set)
    bounds: tuple[float, float, float, float] | None = None  # x_min, z_min, x_max, z_max

    def cell(self, x: float, z: float) -> Cell:
        """The grid cell holding (x, z)."""
        return (round(x / self.step), round(z / self.step))

    def centre(self, c: Cell) -> tuple[float, float]:
        """The (x, z) of a cell's centre."""
        return (c[0] * self.step, c[1] * self.step)

    def stood(self, x: float, z: float) -> None:
        """The agent stood at (x, z): that cell is free."""
        c = self.cell(x, z)
        self.visited.add(c)
        self.blocked.discard(c)
        self.remembered.discard(c)

    def remember(self, points: Iterable[tuple[float, float]]) -> None:
        """Floor points (x, z) found blocked in earlier episodes: soft blocks, off the cells
        stood on."""
        self.remembered |= {self.cell(x, z) for x, z in points} - self.visited

    def blocked_points(self) -> list[tuple[float, float]]:
        """The centres of the cells a move into failed, sorted (what experience keeps)."""
        return [self.centre(c) for c in sorted(self.blocked)]

    def move_failed(self, x: float, z: float, yaw: float) -> None:
        """A MoveAhead from (x, z) facing `yaw` failed: the cell ahead is blocked."""
        i, j = self.cell(x, z)
        h = heading(yaw)
        self.failed_moves.add(((i, j), h))
        di, dj = _STEP_OF[h]
        ahead = (i + di, j + dj)
        if ahead not in self.visited:
            self.blocked.add(ahead)

    def changed(self) -> None:
        """The agent changed the world or its hand: moves that failed may work now."""
        self.failed_moves.clear()

    def passable(self, c: Cell, furniture: bool = True) -> bool:
        """Not known to be blocked (by a failed move, or with `furniture` by a footprint seen
        or a block remembered from earlier episodes) and inside the bounds."""
        if c in self.blocked or (furniture and (c in self.seen_blocked or c in self.remembered)):
            return False
        if self.bounds is None:
            return True
        x, z = self.centre(c)
        x0, z0, x1, z1 = self.bounds
        return x0 <= x <= x1 and z0 <= z <= z1


def heading(yaw: float) -> int:
    """The grid heading (0, 90, 180, 270) nearest to a yaw in degrees."""
    return round((float(yaw) % 360.0) / 90.0) % 4 * 90


def _nearest(
    x: float, z: float, target: tuple[float, float], extent: tuple[float, float]
) -> tuple[float, float]:
    """The point of the rectangle `target` +- `extent` nearest to (x, z)."""
    return (
        min(max(x, target[0] - extent[0]), target[0] + extent[0]),
        min(max(z, target[1] - extent[1]), target[1] + extent[1]),
    )


def _faces(c: Cell, h: int, target: tuple[float, float], step: float, cone: float) -> bool:
    """Whether the target point is within `cone` degrees of heading h, seen from cell c."""
    dx, dz = target[0] - c[0] * step, target[1] - c[1] * step
    if math.hypot(dx, dz) < 1e-9:
        return True
    bearing = math.degrees(math.atan2(dx, dz)) % 360.0
    return abs((bearing - h + 180.0) % 360.0 - 180.0) <= cone


def route(
    floor: FloorMap,
    start: tuple[float, float],
    yaw: float,
    target: tuple[float, float],
    reach: float = 1.0,
    cone: float = 45.0,
    avoid: Iterable[Cell] = (),
    extent: tuple[float, float] = (0.0, 0.0),
    furniture: bool = True,
) -> list[str] | None:
    """The fewest THOR navigation actions (names) from `start` facing `yaw` to a cell within
    `reach` metres of `target` (x, z) with the target within `cone` degrees ahead; [] when
    already there, None when no such cell can be reached on what the agent knows. With
    `extent` (half sizes in x and z) the target is that rectangle, a footprint: reach and cone
    are measured to its point nearest the cell. `furniture=False` ignores the footprints seen
    (they are grown by the agent's radius, so they can close a gap the agent fits through)."""
    for name, value in (("start", start), ("target", target)):
        if len(value) != 2 or not all(math.isfinite(float(v)) for v in value):
            raise ValidationError(name, value, "expected a finite (x, z)")
    if not (math.isfinite(reach) and reach > 0):
        raise ValidationError("reach", reach, "expected a positive number of metres")
    avoided = set(avoid)
    s = floor.step

    def goal(c: Cell, h: int) -> bool:
        point = _nearest(c[0] * s, c[1] * s, target, extent)
        near = math.hypot(point[0] - c[0] * s, point[1] - c[1] * s) <= reach
        return near and c not in avoided and _faces(c, h, point, s, cone)

    first = (floor.cell(*start), heading(yaw))
    if goal(*first):
        return []
    parent: dict[tuple[Cell, int], tuple[tuple[Cell, int], str]] = {}
    seen = {first}
    queue = deque([first])
    while queue and len(seen) < MAX_STATES:
        state = queue.popleft()
        (i, j), h = state
        di, dj = _STEP_OF[h]
        for nxt, action in (
            (((i + di, j + dj), h), "MoveAhead"),
            (((i, j), (h + 270) % 360), "RotateLeft"),
            (((i, j), (h + 90) % 360), "RotateRight"),
        ):
            if nxt in seen:
                continue
            if action == "MoveAhead" and (
                not floor.passable(nxt[0], furniture) or (state[0], h) in floor.failed_moves
            ):
                continue
            seen.add(nxt)
            parent[nxt] = (state, action)
            if goal(*nxt):
                return _unwind(parent, nxt, first)
            queue.append(nxt)
    return None


def _unwind(parent: dict, state: tuple[Cell, int], first: tuple[Cell, int]) -> list[str]:
    actions = []
    while state != first:
        state, action = parent[state]
        actions.append(action)
    return actions[::-1]


def look_at(
    camera: tuple[float, float, float], target: tuple[float, float, float], horizon: float
) -> list[dict[str, float | str]]:
    """LookUp / LookDown actions (LOOK_STEP degrees each) that bring the camera's horizon
    nearest to the direction of `target` (THOR: positive horizon looks down), within THOR's
    limits."""
    dx, dz = target[0] - camera[0], target[2] - camera[2]
    down = math.degrees(math.atan2(camera[1] - target[1], math.hypot(dx, dz)))
    want = min(MAX_DOWN, max(-MAX_UP, round(down / LOOK_STEP) * LOOK_STEP))
    steps = round((want - float(horizon)) / LOOK_STEP)
    name = "LookDown" if steps > 0 else "LookUp"
    return [{"action": name, "degrees": LOOK_STEP} for _ in range(abs(steps))]
