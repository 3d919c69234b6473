"""Run skills as AI2-THOR actions, one step at a time, and let the memory see every result.

The `Executor` owns what the agent knows of its body and its floor: its pose (from the event's
agent record: proprioception), the `FloorMap` (cells stood on, moves that failed, the
footprints of furniture it has seen), what is in its hand (action feedback), and the objects
in view (the session's observation, never the object list). Every THOR action is one step;
after each, the observation goes through `EmbodiedMemory.integrate`.

Navigation routes on the floor map to a cell near the target facing it, then looks at it; a
target that is not in view on arrival is tried from other cells. Manipulation skills are
expanded by `skills.expand` (an open / close the memory already shows done is skipped) and
navigate to their object first when it is out of view. `explore` looks around and walks to the
nearest floor not yet looked over, or opens a receptacle to see inside.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from embodmem.errors import UnknownNodeError
from embodmem.memory import EmbodiedMemory
from embodmem.nodes import ObjectNode
from embodmem.planning.navigation import FloorMap, look_at, route
from embodmem.planning.scope import MemoryScope
from embodmem.planning.skills import PlanError, Skill, expand
from embodmem.types import ObjectObservation, Observation

STEP_NS = 100_000_000  # observation clock: 0.1 s per THOR action (deterministic)
REACH = (0.6, 1.0)  # m from a cell centre to an object's footprint: nearer cells first
AGENT_RADIUS = 0.2  # m around furniture footprints the agent's body cannot enter
OBSTACLE_TOP = 0.15  # m above the floor a footprint must rise to block the way (rugs do not)
OBSTACLE_BOTTOM = 0.5  # m above the floor below which an object stands on it
LOOK_AROUND_HORIZON = 30.0  # degrees down while looking around: the floor and low tables too
LOW_RECEPTACLE = 0.6  # m: an opened receptacle lower than this is looked into crouching
COVER = 1.0  # m: floor within this of a look-around spot counts as looked over
MAX_ROUTES = 12  # re-routes after failed moves, per navigation
MAX_FRONTIER_TRIES = 40  # unreachable frontier cells skipped per explore
MAX_VANTAGES = 3  # cells tried per target before it is called out of reach
FLOOR_BELOW_AGENT = 0.9  # m: THOR's agent position is this far above the floor it stands on
MAX_FOOTPRINT = 2.0  # m^2: bigger boxes (an L-shaped counter's) cover floor; left to the moves
NOT_IN_VIEW = "is not in view from any cell tried"
STALE = " (last seen before this episode: it may have moved)"
NO_FRONTIER = "explore: every reachable part of the floor has been looked over"


class Session(Protocol):
    """What a started task gives the executor: the first event, observations, and the goal
    checker's hook (see `sim.tasks.session.AlfredSession`)."""

    event: Any

    def observe(self, event: Any, time_ns: int) -> Observation: ...

    def record(self, event: Any) -> None: ...


class BudgetSpent(Exception):
    """The episode's step budget is used up (caught by the agent loop)."""


@dataclass
class StepRecord:
    """One THOR action: what was asked, whether it worked, THOR's message, objects in view."""

    step: int
    action: dict[str, Any]
    success: bool
    error: str = ""
    visible: tuple[str, ...] = ()
    skill: str = ""  # the skill the action belongs to, as a call (`pickup(O12)`)


@dataclass
class Body:
    """The agent's pose and hand, from the latest event's agent record and inventory."""

    x: float = 0.0
    y: float = 0.0
    z: float = 0.0
    yaw: float = 0.0
    horizon: float = 0.0
    standing: bool = True
    camera: tuple[float, float, float] = (0.0, 0.0, 0.0)
    held: str | None = None  # THOR objectId in the hand


@dataclass
class Executor:
    """Runs skills in `env` for one episode, within `max_steps` THOR actions."""

    env: Any
    session: Session
    memory: EmbodiedMemory
    max_steps: int
    teleport: bool = False
    steps: int = 0
    failures: list[str] = field(default_factory=list)
    log: list[StepRecord] = field(default_factory=list)
    body: Body = field(default_factory=Body)
    floor: FloorMap = field(default_factory=FloorMap)
    visible: frozenset[str] = frozenset()  # THOR ids in view after the latest action
    looked: list[tuple[float, float]] = field(default_factory=list)  # look-around spots
    out_of_reach: list[tuple[float, float]] = field(default_factory=list)  # frontier not reached
    unreached_before: list[tuple[float, float]] = field(default_factory=list)  # (experience)
    searched: set[str] = field(default_factory=set)  # receptacle nodes opened to look inside
    unreachable: set[str] = field(default_factory=set)  # nodes no vantage showed
    found: list[tuple[str, str, str]] = field(default_factory=list)  # (type, receptacle, room)
    on_step: Callable[[StepRecord], None] | None = None
    put_in: dict[str, str] = field(default_factory=dict)  # THOR id -> where this agent put it
    clock_ns: int = 0  # observation time of step 0: just after what the memory last saw
    scope: MemoryScope = field(default_factory=MemoryScope)  # what the planner may remember
    skill: str = ""  # the skill being run (`run`), as a call
    experience: bool = False  # start from the floor blocks experience memory remembers

    def start(self) -> None:
        """Take in the episode's first event."""
        last = self.memory.last_time_ns
        self.clock_ns = 0 if last is None else last + STEP_NS
        event = self.session.event
        meta = event.metadata
        bounds = meta.get("sceneBounds") or {}
        corners = np.asarray(bounds.get("cornerPoints") or [], dtype=float)
        if corners.ndim == 2 and len(corners):
            lo, hi = corners.min(axis=0), corners.max(axis=0)
            self.floor.bounds = (float(lo[0]), float(lo[2]), float(hi[0]), float(hi[2]))
        if self.experience:
            self.floor.remember(self.memory.experience.blocked_floor())
            self.unreached_before = self.memory.experience.unreached_floor()
        self._sense(event)

    # ------------------------------------------------------------------ stepping
    def act(self, action: dict[str, Any]) -> bool:
        """One THOR action: step, feed the observation to memory, update the floor map."""
        if self.steps >= self.max_steps:
            raise BudgetSpent
        before = (self.body.x, self.body.z, self.body.yaw)
        held = self.body.held
        event = self.env.step(dict(action))
        self.steps += 1
        meta = event.metadata
        ok = bool(meta.get("lastActionSuccess"))
        error = "" if ok else str(meta.get("errorMessage") or "failed")
        if not ok:
            self.failures.append(f"{action['action']}: {error}")
            if action["action"] == "MoveAhead":
                self.floor.move_failed(*before)
        elif "objectId" in action or action["action"] == "DropHandObject":
            self.floor.changed()
            if action["action"] == "PutObject" and held is not None:
                self.put_in[held] = action["objectId"]
        put = ok and action["action"] == "PutObject" and held is not None
        self._sense(event, (held, action["objectId"]) if put else None)  # type: ignore[arg-type]
        record = StepRecord(
            self.steps, dict(action), ok, error, tuple(sorted(self.visible)), self.skill
        )
        self.log.append(record)
        if self.on_step is not None:
            self.on_step(record)
        return ok

    def _sense(self, event: Any, placed: tuple[str, str] | None = None) -> None:
        """Feed one event to memory; `placed` (object, receptacle) after a put that worked."""
        self.session.record(event)
        obs = self.session.observe(event, self.clock_ns + self.steps * STEP_NS)
        report = self.memory.integrate(obs)
        if placed is not None:
            self._placed(obs, *placed)
        graph = self.memory.scene_graph
        for node_id in report.new:  # where each pickupable thing was first seen (experience)
            parent = graph.parent(node_id)
            node = graph.object(node_id)
            if parent is not None and node.attributes.get("pickupable"):
                self.found.append((node.label, graph.object(parent[1]).label, obs.region or ""))
        self.visible = frozenset(o.id_hint for o in obs.objects if o.id_hint)
        meta = event.metadata
        agent = meta.get("agent") or {}
        pos, rot = agent.get("position") or {}, agent.get("rotation") or {}
        cam = meta.get("cameraPosition") or pos
        b = self.body
        b.x, b.y, b.z = float(pos.get("x", 0.0)), float(pos.get("y", 0.0)), float(pos.get("z", 0.0))
        b.yaw, b.horizon = float(rot.get("y", 0.0)), float(agent.get("cameraHorizon", 0.0))
        b.standing = bool(agent.get("isStanding", True))
        b.camera = (float(cam.get("x", b.x)), float(cam.get("y", b.y)), float(cam.get("z", b.z)))
        inventory = meta.get("inventoryObjects") or []
        b.held = inventory[0].get("objectId") if inventory else None
        self.floor.stood(b.x, b.z)
        self.scope.after(self.memory, obs, report.node_ids, self.held_node())

    def _placed(self, obs: Observation, held: str, recep: str) -> None:
        """Action feedback: a put that worked leaves the object in the receptacle even when
        the camera does not show it there (in a tub, behind a rim), so memory is told so."""
        graph = self.memory.scene_graph
        node, into = graph.object_by_source(held), graph.object_by_source(recep)
        if node is None or into is None or any(o.id_hint == held for o in obs.objects):
            return
        spot = node.position  # last seen in the hand: THOR puts it on the part in front
        if into.bbox is not None:  # the nearest point of its box (rotation left out)
            half = np.asarray(into.bbox.size) / 2
            centre = np.asarray(into.bbox.center)
            spot = tuple(float(c) for c in np.clip(spot, centre - half, centre + half))
        det = ObjectObservation(
            node.label,
            position=spot,
            states={**node.states, "isPickedUp": False, "parentReceptacles": [recep]},
            id_hint=held,
            attributes=dict(node.attributes),
        )
        self.memory.integrate(Observation(obs.time_ns + 1, (det,), action="PutObject"))

    # ------------------------------------------------------------------ memory lookups
    def node(self, node_id: str) -> ObjectNode:
        """The memory's object node."""
        return self.memory.scene_graph.object(node_id)

    def held_node(self) -> str | None:
        """The memory node of what is in the hand (None when empty or never seen)."""
        if self.body.held is None:
            return None
        node = self.memory.scene_graph.object_by_source(self.body.held)
        return node.node_id if node is not None else None

    def thor_id(self, node_id: str) -> str | None:
        """The THOR objectId the memory node was observed with."""
        return self.node(node_id).source_id

    def position(self) -> tuple[float, float, float]:
        """The agent's position in the memory's world frame."""
        return (self.body.z, -self.body.x, self.body.y)

    # ------------------------------------------------------------------ skills
    def run(self, skill: Skill) -> str | None:
        """Run one skill; None when it worked, else why not (for the planner's feedback)."""
        if skill.name == "done":
            return None
        self.skill = skill.call()
        try:
            if skill.name == "navigate_to":
                return self.go_to(skill.target)  # type: ignore[arg-type]
            if skill.name == "explore":
                return self.explore(skill.target)
            actions = expand(skill, self.thor_id)
            for action in actions:
                reason = self._manipulate(action)
                if reason is not None:
                    return f"{skill.name}: {reason}"
        except UnknownNodeError as exc:  # forgotten since it was planned (memory scopes)
            return f"{skill.name}: {exc} (no longer in memory)"
        except PlanError as exc:  # a node without a simulator id
            return str(exc)
        return None

    def _manipulate(self, action: dict[str, Any]) -> str | None:
        oid = action.get("objectId")
        node = self.memory.scene_graph.object_by_source(oid) if oid else None
        if node is not None:
            is_open = node.states.get("isOpen")
            if (action["action"] == "OpenObject" and is_open) or (
                action["action"] == "CloseObject" and is_open is False
            ):
                return None  # already as wanted
            if oid not in self.visible and oid != self.body.held:
                if self._container_in_view(node) and self.act(action):
                    return None  # inside what is in view (a frame may not show it through)
                reason = self.go_to(node.node_id)
                if reason is not None:
                    return reason
        if self.act(action):
            return None
        return f"{action['action']} failed: {self.log[-1].error}"

    def _container_in_view(self, node: ObjectNode) -> bool:
        """Whether the receptacle the node lies in is in view: the one this agent put it in,
        or the one memory has it in."""
        graph = self.memory.scene_graph
        containers = [graph.object(p).source_id for p in graph.support_chain(node.node_id)]
        if node.source_id in self.put_in:
            containers.insert(0, self.put_in[node.source_id])
        return any(c in self.visible for c in containers)

    def go_to(self, node_id: str) -> str | None:
        """Walk to a cell from which the node is in reach and in view, and look at it."""
        node = self.node(node_id)
        oid = node.source_id
        tried: set[tuple[int, int]] = set()
        self._stand()
        for _ in range(MAX_VANTAGES):
            reason = self._walk(node, tried)
            if reason is not None:
                break
            if oid in self.visible or oid == self.body.held:
                return None
            for h in (0.0, 30.0, 60.0, -30.0):  # look around vertically before moving on
                if self._set_horizon(h) and oid in self.visible:
                    return None
            if self._crouched_sees(oid):
                return None
            tried.add(self.floor.cell(self.body.x, self.body.z))
        if oid in self.visible:  # seen on the way, though no vantage was reached
            return None
        self.unreachable.add(node_id)
        try:
            stale = self.memory.short_term.evidence(node_id).last_seen_ns < self.clock_ns
        except UnknownNodeError:  # forgotten by the short-term timeline: nothing to say
            stale = False
        return f"navigate_to: {node_id} ({node.label}) {NOT_IN_VIEW}" + (STALE if stale else "")

    def _stand(self) -> None:
        """Stand up if a look from below left the agent crouched."""
        if not self.body.standing:
            self.act({"action": "Stand"})

    def _crouched_sees(self, oid: str | None) -> bool:
        """Crouch and look (a low shelf is in view only from below a desk's edge); stays
        crouched when that shows the object (the next walk or search stands up), else stands
        again."""
        if not self.act({"action": "Crouch"}):
            return False
        for h in (0.0, 30.0):
            self._set_horizon(h)
            if oid in self.visible:
                return True
        self.act({"action": "Stand"})
        return False

    def _walk(self, node: ObjectNode, avoid: set[tuple[int, int]]) -> str | None:
        """Route and move to a vantage cell facing the node, then look at it."""
        target, extent = _footprint(node)
        for _ in range(MAX_ROUTES):
            for reach in REACH:  # what lies inside a fridge is out of sight from 1 m off it
                plan = self._route(target, reach=reach, extent=extent, avoid=avoid)
                if plan is not None:
                    break
            if plan is None:
                return f"no route to {node.node_id} ({node.label}) on the known floor"
            if self._moves(plan) or self._sees_from_here(node):
                self._look_at(node)
                return None
        return f"too many blocked moves on the way to {node.node_id} ({node.label})"

    def _look_at(self, node: ObjectNode) -> None:
        for look in look_at(self.body.camera, _thor_xyz(node), self.body.horizon):
            self.act(look)

    def _sees_from_here(self, node: ObjectNode) -> bool:
        """Whether a blocked walk already stands close enough: the node is in view, or is
        within reach and comes into view once faced (a turn and a look, no walking)."""
        oid = node.source_id
        if oid in self.visible:
            return True
        x, _, z = _thor_xyz(node)
        if math.dist((self.body.x, self.body.z), (x, z)) > REACH[1] + 0.5:
            return False
        heading = round(math.degrees(math.atan2(x - self.body.x, z - self.body.z)) / 90) * 90
        turn = round(((heading - self.body.yaw + 180) % 360 - 180) / 90)
        for _ in range(abs(turn)):
            self.act({"action": "RotateRight" if turn > 0 else "RotateLeft"})
        self._look_at(node)
        return oid in self.visible

    def _route(self, target: tuple[float, float], **kw: Any) -> list[str] | None:
        """A route round the furniture seen, else one through it (the footprints are grown
        by the agent's radius and can close a gap it fits through: the moves will tell)."""
        self._block_furniture()
        here = (self.body.x, self.body.z)
        plan = route(self.floor, here, self.body.yaw, target, **kw)
        if plan is None:
            plan = route(self.floor, here, self.body.yaw, target, furniture=False, **kw)
        return plan

    def _moves(self, names: Iterable[str]) -> bool:
        """Run navigation actions; False at the first failed one (the caller re-routes)."""
        return all(self.act({"action": name}) for name in names)

    def _set_horizon(self, want: float) -> bool:
        """Look up or down to a horizon; False when it did not change anything."""
        steps = round((want - self.body.horizon) / 15.0)
        if steps == 0:
            return False
        name = "LookDown" if steps > 0 else "LookUp"
        for _ in range(abs(steps)):
            self.act({"action": name, "degrees": 15.0})
        return True

    def _block_furniture(self) -> None:
        """Cells under the footprints of furniture seen standing on the floor (grown by the
        agent's radius) are blocked; cells stood on stay free."""
        floor_y = self.body.y - FLOOR_BELOW_AGENT
        blocked: set[tuple[int, int]] = set()
        s = self.floor.step
        for n in self.memory.scene_graph.objects():
            lo_hi = _thor_box(n)
            if lo_hi is None or n.attributes.get("pickupable"):
                continue
            lo, hi = lo_hi
            if lo[1] > floor_y + OBSTACLE_BOTTOM or hi[1] < floor_y + OBSTACLE_TOP:
                continue
            if (hi[0] - lo[0]) * (hi[2] - lo[2]) > MAX_FOOTPRINT:
                continue
            i0, i1 = math.ceil((lo[0] - AGENT_RADIUS) / s), math.floor((hi[0] + AGENT_RADIUS) / s)
            j0, j1 = math.ceil((lo[2] - AGENT_RADIUS) / s), math.floor((hi[2] + AGENT_RADIUS) / s)
            blocked.update((i, j) for i in range(i0, i1 + 1) for j in range(j0, j1 + 1))
        self.floor.seen_blocked = blocked - self.floor.visited

    # ------------------------------------------------------------------ exploration
    def explore(self, target: str | None) -> str | None:
        """Open a receptacle and look inside (target), or look around here / walk to the
        nearest floor not yet looked over and look around there."""
        self._stand()
        if target is not None:
            return self._search(target)
        if not any(math.dist((self.body.x, self.body.z), p) <= COVER for p in self.looked):
            self._look_around()
            return None
        for _ in range(MAX_FRONTIER_TRIES):
            goal = self._frontier()
            if goal is None:
                return NO_FRONTIER
            if self._reach(goal):
                self._look_around()
                return None
            self.out_of_reach.append(goal)  # cannot get there: no frontier near it
        return None

    def _reach(self, goal: tuple[float, float]) -> bool:
        """Walk to a floor point, re-routing round moves that fail; whether it got there."""
        for _ in range(MAX_ROUTES):
            plan = self._route(goal, reach=0.3, cone=180.0)
            if plan is None:
                return False
            if self._moves(plan):
                return True
        return False

    def _look_around(self) -> None:
        self.looked.append((self.body.x, self.body.z))
        self._set_horizon(LOOK_AROUND_HORIZON)
        for _ in range(4):
            self.act({"action": "RotateRight"})

    def _frontier(self) -> tuple[float, float] | None:
        """The nearest passable cell centre inside the bounds that no look-around covered,
        and not near floor no route reached (this episode or, with experience, earlier)."""
        if self.floor.bounds is None:
            return None
        x0, z0, x1, z1 = self.floor.bounds
        s = self.floor.step
        ii = np.arange(math.ceil(x0 / s), math.floor(x1 / s) + 1)
        jj = np.arange(math.ceil(z0 / s), math.floor(z1 / s) + 1)
        gi, gj = np.meshgrid(ii, jj, indexing="ij")
        xs, zs = gi.ravel() * s, gj.ravel() * s
        open_ = np.ones(len(xs), dtype=bool)
        covered = self.looked + self.out_of_reach + self.unreached_before
        if covered:
            spots = np.asarray(covered)
            d = np.hypot(xs[:, None] - spots[None, :, 0], zs[:, None] - spots[None, :, 1])
            open_ &= d.min(axis=1) > COVER
        bad = self.floor.blocked | self.floor.seen_blocked | self.floor.remembered
        if bad:
            open_ &= ~np.array(
                [(int(i), int(j)) in bad for i, j in zip(gi.ravel(), gj.ravel(), strict=True)]
            )
        if not open_.any():
            return None
        dist = np.hypot(xs - self.body.x, zs - self.body.z)
        k = int(np.argmin(np.where(open_, dist, np.inf)))
        return (float(xs[k]), float(zs[k]))

    def _search(self, node_id: str) -> str | None:
        """Go to a receptacle; if it is closed, open it, look, and close it again."""
        self.searched.add(node_id)
        reason = self.go_to(node_id)
        if reason is not None:
            return f"explore: {reason}"
        node = self.node(node_id)
        if node.attributes.get("openable") and not node.states.get("isOpen"):
            oid = node.source_id
            if not self.act({"action": "OpenObject", "objectId": oid}):
                return f"explore: OpenObject failed: {self.log[-1].error}"
            if node.position[2] < LOW_RECEPTACLE and self.act({"action": "Crouch"}):
                self.act({"action": "Stand"})  # what lies low inside is in view from below
            self.act({"action": "CloseObject", "objectId": oid})
        return None


def _thor_xyz(node: ObjectNode) -> tuple[float, float, float]:
    """A node's centre in THOR's frame (x right, y up, z forward)."""
    wx, wy, wz = node.position
    return (-wy, wz, wx)


def _thor_box(node: ObjectNode) -> tuple[np.ndarray, np.ndarray] | None:
    """A node's axis-aligned box in THOR's frame (lo, hi), if it has one."""
    box = node.attributes.get("aabb")
    if box is None and node.bbox is not None:
        lo, hi = node.bbox.min_max()
        box = [list(lo), list(hi)]
    if box is None:
        return None
    pts = np.array([[-p[1], p[2], p[0]] for p in box], dtype=float)  # world -> THOR
    return pts.min(axis=0), pts.max(axis=0)


def _footprint(node: ObjectNode) -> tuple[tuple[float, float], tuple[float, float]]:
    """The node's floor footprint as a centre (x, z) and half sizes, in THOR's frame."""
    box = _thor_box(node)
    if box is None:
        x, _, z = _thor_xyz(node)
        return (x, z), (0.0, 0.0)
    lo, hi = box
    centre = ((lo[0] + hi[0]) / 2, (lo[2] + hi[2]) / 2)
    return (float(centre[0]), float(centre[1])), (
        float(hi[0] - lo[0]) / 2,
        float(hi[2] - lo[2]) / 2,
    )
