"""Short-term object-state memory: a bounded buffer of object records, the change log derived by
diffing consecutive observations, and a presence/absence evidence timeline per object.

- `Timeline` (Khronos-style evidence): for every object ever seen, its remembered position and
  the times it was first seen, last seen, last changed and last seen absent (expected in view
  but not detected). Unbounded but tiny (one numpy row per object); rows are never reused.
- Expected in view: an object not detected is evidence of absence only when the camera would
  have seen it, that is when
  (1) its remembered position and at least `view_coverage` of the corners of its remembered box
      (the scene graph's box, moved with the remembered position; 1.0 = the whole box) lie in
      the view frustum (`view_fov_deg`) within `view_range`;
  (2) it is not inside a closed container;
  (3) the camera sees at least `MIN_CLEAR` of the box's 9 sample points (centre and octant
      centres; the position alone for an object without a box): with depth points in the
      observation, the depth along the ray to a sample reaches beyond it (that part of the box
      is visibly empty, `visibility.seen_through`); otherwise, with a `line_of_sight` test (the
      facade passes one over the octree), the line is clear up to where it enters the box.
      Without either, (3) holds.
  AI2-THOR reports an object visible when one of its visibility points (points on the object,
  so inside its box) is in the viewport with an unobstructed ray from the camera, and the object
  is within visibilityDistance (1.5 m) of the agent. A whole box in the frustum within
  `view_range` (1.25 m by default) holds every visibility point in view and in range, so THOR
  would report the object unless something occludes it, which (3) checks. An object only partly
  in view (a counter top whose near end is in view) may have no visibility point in view, so it
  is not expected. New objects count as having appeared by (1)-(3) applied to the previous view
  (through the octree: the previous frame's points are gone).
- The buffer (KARMA-style working memory) holds at most `capacity` full records (position,
  states, label). Sightings insert or refresh entries; when the buffer overflows the replacement
  policy (`embodmem.policies`) picks what to evict.
- Hits and misses: a lookup of an object (`lookup`, and every object that `EmbodiedMemory.query`
  or `.context` returns) is a hit when its entry is in the buffer and a miss when it had to be
  read from the long-term graph; a miss loads the record into the buffer, like a cache fill.
- Consolidation (`consolidate=True`): updates of known objects are held as pending detections and
  returned for writing into the long-term graph once the entry was seen unchanged
  `stable_after` times in a row, or when it is evicted, so nothing evicted is lost.

State names follow THOR (`isOpen`, `isPickedUp`, `parentReceptacles`, ...). Positions of a held
object (`isPickedUp` before and after) follow the agent; those moves are not logged, only the
pick-up and put-down moves.
"""

from __future__ import annotations

import dataclasses
import math
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from embodmem import graph_io, store
from embodmem import validate as v
from embodmem.errors import EmbodmemError, SnapshotError, UnknownNodeError, ValidationError
from embodmem.policies import (
    ReplacementPolicy,
    UseStats,
    eviction_order,
    make_policy,
    retention,
)
from embodmem.scene_graph import SceneGraph
from embodmem.types import (
    BBox3D,
    ObjectObservation,
    ObjectState,
    Observation,
    Pose,
    StateChange,
    Vec3,
)
from embodmem.visibility import LineOfSight, box_samples, in_view, ray_box_entry, seen_through

FORMAT = "embodmem.short_term"
VERSION = 1
COMPATIBLE: dict[int, Any] = {1: None}
NEVER = -1  # timeline value of an event that never happened
HELD = "isPickedUp"
OPEN = "isOpen"
PRESENCE = "presence"  # field of appeared (False -> True) / disappeared (True -> False) changes
MIN_CLEAR = 0.5  # fraction of an expected box's sample points the camera must see
_MISSING = object()
_TIMES = ("first_seen", "last_seen", "last_changed", "last_absent", "last_access")


@dataclass(frozen=True, slots=True)
class Evidence:
    """When an object was first seen, last seen, last changed and last seen absent (ns)."""

    first_seen_ns: int
    last_seen_ns: int
    last_changed_ns: int | None
    last_absent_ns: int | None


@dataclass(slots=True)
class Entry:
    """One buffered object record, with its policy bookkeeping."""

    node_id: str
    label: str
    source_id: str | None
    position: Vec3
    states: dict[str, Any]
    time_ns: int
    inserted: int
    last_use: int
    uses: int = 1
    stable: int = 0  # consecutive sightings without a change
    pending: ObjectObservation | None = None  # update not yet written to long-term memory

    def state(self) -> ObjectState:
        return ObjectState(
            self.node_id, self.label, self.position, dict(self.states), self.time_ns, self.source_id
        )


@dataclass(slots=True)
class Flush:
    """Detections to write into the long-term graph, all observed at `time_ns`."""

    time_ns: int
    node_ids: list[str] = field(default_factory=list)
    detections: list[ObjectObservation] = field(default_factory=list)


class Timeline:
    """Evidence per object: remembered position and event times, one numpy row per object."""

    def __init__(self) -> None:
        self.ids: list[str] = []
        self.row: dict[str, int] = {}
        self.pos = np.zeros((0, 3))
        self.times = {k: np.zeros(0, np.int64) for k in _TIMES}
        self.strength = np.zeros(0)
        self.alive = np.zeros(0, bool)

    def __len__(self) -> int:
        return len(self.ids)

    def add(self, node_id: str, position: Vec3, first_ns: int, last_ns: int) -> int:
        """Append a row for a new object; returns the row."""
        n = len(self.ids)
        if n == len(self.alive):
            grow = max(16, n)
            self.pos = np.concatenate([self.pos, np.zeros((grow, 3))])
            self.times = {
                k: np.concatenate([a, np.full(grow, NEVER, np.int64)])
                for k, a in self.times.items()
            }
            self.strength = np.concatenate([self.strength, np.ones(grow)])
            self.alive = np.concatenate([self.alive, np.zeros(grow, bool)])
        self.ids.append(node_id)
        self.row[node_id] = n
        self.pos[n] = position
        self.times["first_seen"][n] = first_ns
        self.times["last_seen"][n] = last_ns
        self.alive[n] = True
        return n

    def remove(self, node_id: str) -> None:
        """Mark an object forgotten (its row stays as a tombstone)."""
        n = self.row.pop(node_id, None)
        if n is not None:
            self.alive[n] = False

    def evidence(self, node_id: str) -> Evidence:
        n = self.row.get(node_id)
        if n is None:
            raise UnknownNodeError(node_id, "short-term timeline")
        first, last, changed, absent = (
            int(self.times[k][n])
            for k in ("first_seen", "last_seen", "last_changed", "last_absent")
        )
        return Evidence(
            first, last, None if changed == NEVER else changed, None if absent == NEVER else absent
        )

    def to_dict(self) -> dict[str, Any]:
        n = len(self.ids)
        arrays = {k: a[:n] for k, a in self.times.items()}
        arrays.update(pos=self.pos[:n], strength=self.strength[:n], alive=self.alive[:n])
        return {"ids": list(self.ids), **{k: store.encode_array(a) for k, a in arrays.items()}}

    @classmethod
    def from_dict(cls, d: Any) -> Timeline:
        tl = cls()
        tl.ids = v.str_list("short_term.timeline.ids", d["ids"])
        n = len(tl.ids)
        if len(set(tl.ids)) != n:
            raise SnapshotError("short_term.timeline.ids: an id appears twice")
        tl.pos = _float_array(d["pos"], "short_term.timeline.pos")
        tl.times = {
            k: store.decode_array(d[k], f"short_term.timeline.{k}").astype(np.int64) for k in _TIMES
        }
        tl.strength = _float_array(d["strength"], "short_term.timeline.strength")
        tl.alive = store.decode_array(d["alive"], "short_term.timeline.alive").astype(bool)
        arrays = [tl.pos, tl.strength, tl.alive, *tl.times.values()]
        if any(len(a) != n for a in arrays) or tl.pos.shape != (n, 3) or tl.strength.ndim != 1:
            raise SnapshotError("short_term.timeline: arrays disagree with the id list")
        if n and ((np.abs(tl.pos) > v.MAX_COORDINATE).any() or (tl.strength < 0).any()):
            raise SnapshotError("short_term.timeline: positions or strengths out of range")
        if any(n and a.min() < NEVER for a in tl.times.values()):
            raise SnapshotError("short_term.timeline: times before -1 (never)")
        tl.row = {node_id: i for i, node_id in enumerate(tl.ids) if tl.alive[i]}
        return tl


def _float_array(d: Any, field: str) -> np.ndarray:
    """A decoded float64 array with finite values only."""
    arr = store.decode_array(d, field).astype(np.float64)
    if not np.isfinite(arr).all():
        raise SnapshotError(f"{field}: non-finite values")
    return arr


class ShortTermMemory:
    """Bounded object-state buffer, change log and evidence timeline; see the module docstring."""

    def __init__(
        self,
        graph: SceneGraph,
        capacity: int = 64,
        policy: str | ReplacementPolicy = "lru",
        move_threshold: float = 0.01,
        stable_after: int = 3,
        change_log: int = 512,
        view_fov_deg: float = 90.0,
        view_range: float = 1.25,
        consolidate: bool = False,
        on_flush: Callable[[list[Flush]], None] | None = None,
        view_coverage: float = 1.0,
        line_of_sight: LineOfSight | None = None,
    ) -> None:
        for name, value in (
            ("capacity", capacity),
            ("stable_after", stable_after),
            ("change_log", change_log),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValidationError(name, value, "expected an integer >= 1")
        for name, value in (("move_threshold", move_threshold), ("view_range", view_range)):
            if v.finite_float(name, value) <= 0:
                raise ValidationError(name, value, "expected a number > 0")
        if not 0 < v.finite_float("view_fov_deg", view_fov_deg) < 180:
            raise ValidationError("view_fov_deg", view_fov_deg, "expected degrees in (0, 180)")
        if not 0 <= v.finite_float("view_coverage", view_coverage) <= 1:
            raise ValidationError("view_coverage", view_coverage, "expected a fraction in [0, 1]")
        if line_of_sight is not None and not callable(line_of_sight):
            raise ValidationError(
                "line_of_sight", type(line_of_sight).__name__, "expected a callable"
            )
        self.graph = graph
        self.capacity = capacity
        self.policy = make_policy(policy) if isinstance(policy, str) else policy
        self.move_threshold = float(move_threshold)
        self.stable_after = stable_after
        self.view_fov_deg = float(view_fov_deg)
        self.view_range = float(view_range)
        self.view_coverage = float(view_coverage)
        self.line_of_sight = line_of_sight
        if consolidate and on_flush is None:
            raise ValidationError("on_flush", None, "consolidation needs a long-term writer")
        self.consolidate = bool(consolidate)
        self.on_flush = on_flush
        self.timeline = Timeline()
        self.step = 0
        self.now_ns = 0  # latest observation time
        self.hits = 0
        self.misses = 0
        self._entries: dict[str, Entry] = {}
        self._changes: deque[StateChange] = deque(maxlen=change_log)
        self._last_pose: Pose | None = None

    # ----------------------------------------------------------------- reading
    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, node_id: object) -> bool:
        return node_id in self._entries

    def entries(self) -> list[ObjectState]:
        """The buffered records, oldest insertion first."""
        return [e.state() for e in sorted(self._entries.values(), key=lambda e: e.inserted)]

    def entry(self, node_id: str) -> ObjectState | None:
        """The buffered record of an object without counting a lookup (None when not buffered)."""
        e = self._entries.get(node_id)
        return e.state() if e is not None else None

    def changes(self, since_ns: int | None = None) -> list[StateChange]:
        """Logged changes at or after `since_ns` (all when None), oldest first."""
        if since_ns is None:
            return list(self._changes)
        since = v.time_ns("since_ns", since_ns)
        return [c for c in self._changes if c.time_ns >= since]

    def evidence(self, node_id: str) -> Evidence:
        """The evidence timeline of one object; raises `UnknownNodeError`."""
        return self.timeline.evidence(node_id)

    @property
    def last_pose(self) -> Pose | None:
        """The agent pose of the latest observation that had one (None before any)."""
        return self._last_pose

    def hit_rate(self) -> float:
        """Hits / lookups (0.0 before the first lookup)."""
        total = self.hits + self.misses
        return self.hits / total if total else 0.0

    def stats(self) -> dict[str, Any]:
        """Counters for tables and policy comparisons."""
        return {
            "policy": self.policy.name,
            "capacity": self.capacity,
            "entries": len(self._entries),
            "pending": sum(e.pending is not None for e in self._entries.values()),
            "hits": self.hits,
            "misses": self.misses,
            "hit_rate": self.hit_rate(),
            "changes": len(self._changes),
            "tracked": len(self.timeline.row),
        }

    # --------------------------------------------------------------- observing
    def before(self, matches: Sequence[str | None]) -> list[tuple[Vec3, dict[str, Any]] | None]:
        """Remembered (position, states) of each matched node: buffered record, else long-term.

        Taken before the long-term graph is updated (it replaces, never mutates, these values).
        """
        out: list[tuple[Vec3, dict[str, Any]] | None] = []
        for node_id in matches:
            if node_id is None:
                out.append(None)
                continue
            e = self._entries.get(node_id)
            if e is not None:
                out.append((e.position, e.states))
            else:
                node = self.graph.object(node_id)
                out.append((node.position, node.states))
        return out

    def holds_back(self, det: ObjectObservation, match: str | None) -> bool:
        """True when this detection's long-term update waits in the buffer (consolidate mode).

        New objects enter long-term at once (they need node ids); detections without a source id
        are written through too, because association by position needs current positions.
        """
        return self.consolidate and match is not None and det.id_hint is not None

    def observe(
        self,
        obs: Observation,
        node_ids: Sequence[str],
        before: Sequence[tuple[Vec3, dict[str, Any]] | None],
    ) -> None:
        """Record one observation whose detections map to `node_ids` (`before[i]` is None for new
        objects); due and evicted pending updates go to `on_flush`."""
        self.step += 1
        self.now_ns = max(self.now_ns, obs.time_ns)
        t, step, tl = obs.time_ns, self.step, self.timeline
        prev_pose = self._last_pose
        arrivals: list[Entry] = []
        rows = np.empty(len(node_ids), np.int64)
        for i, (det, node_id, prev) in enumerate(zip(obs.objects, node_ids, before, strict=True)):
            pos: Vec3 = det.position  # type: ignore[assignment]
            changed = False
            row = tl.row.get(node_id)
            if row is None:
                row = tl.add(node_id, pos, t, t)
            if prev is None:
                changed = self._appeared(prev_pose, node_id, det)
                if changed:
                    self._log(node_id, det, PRESENCE, False, True, obs)
                states = dict(det.states)
            else:
                if tl.times["last_absent"][row] > tl.times["last_seen"][row]:
                    self._log(node_id, det, PRESENCE, False, True, obs)
                    changed = True
                old_pos, old_states = prev
                changed |= self._diff(node_id, det, old_pos, old_states, obs)
                states = old_states if not det.states else {**old_states, **det.states}
            rows[i] = row
            if changed:
                tl.times["last_changed"][row] = t
            entry = self._entries.get(node_id)
            held = prev is not None and self.holds_back(det, node_id)
            if entry is None:
                entry = Entry(node_id, det.label, det.id_hint, pos, states, t, step, step)
                entry.pending = det if held else None
                arrivals.append(entry)
                continue
            entry.position, entry.states, entry.time_ns = pos, states, max(entry.time_ns, t)
            entry.uses += 1
            entry.last_use = step
            entry.stable = 0 if changed else entry.stable + 1
            if held:
                entry.pending = det
        if len(rows):
            tl.pos[rows] = [det.position for det in obs.objects]
            tl.times["last_seen"][rows] = np.maximum(tl.times["last_seen"][rows], t)
        self._mark_absent(obs, rows)
        if obs.agent_pose is not None:
            self._last_pose = obs.agent_pose
        due = self._admit(arrivals)
        due += [
            e
            for e in self._entries.values()
            if e.pending is not None and e.stable >= self.stable_after
        ]
        self._write(due)

    def _diff(
        self,
        node_id: str,
        det: ObjectObservation,
        old_pos: Vec3,
        old_states: dict[str, Any],
        obs: Observation,
    ) -> bool:
        changed = False
        if det.states and det.states != old_states:
            for key, value in det.states.items():
                old = old_states.get(key, _MISSING)
                if old is not _MISSING and old != value:
                    self._log(node_id, det, key, old, value, obs)
                    changed = True
        held = bool(old_states.get(HELD)) and bool(det.states.get(HELD, old_states.get(HELD)))
        if not held and math.dist(old_pos, det.position) > self.move_threshold:  # type: ignore[arg-type]
            self._log(node_id, det, "position", old_pos, det.position, obs)
            changed = True
        return changed

    def _log(
        self, node_id: str, det: ObjectObservation, key: str, old: Any, new: Any, obs: Observation
    ) -> None:
        self._changes.append(
            StateChange(node_id, key, old, new, obs.time_ns, det.id_hint, det.label, obs.action)
        )

    def _appeared(self, prev_pose: Pose | None, node_id: str, det: ObjectObservation) -> bool:
        """A new object appeared if the previous view would have shown it where it now is, unless
        it is held (it came with the agent) or inside an openable container (it may have been
        shut in)."""
        if prev_pose is None or det.states.get(HELD):
            return False
        pos = np.array([det.position])
        if not in_view(prev_pose, pos, self.view_fov_deg, self.view_range)[0]:
            return False
        if self._enclosed(node_id, lambda parent: OPEN in self._states_of(parent)):
            return False
        return self._expected(prev_pose, det.position, det.bbox, None)  # type: ignore[arg-type]

    def _expected(
        self, pose: Pose, position: Vec3, box: BBox3D | None, points: np.ndarray | None
    ) -> bool:
        """Rules (1, box part) and (3) of the module docstring for an object whose remembered
        position is in view: enough of its box in view, and the camera sees where it was."""
        if box is None:
            samples = np.array([position], dtype=np.float64)
        elif in_view(pose, box.corners(), self.view_fov_deg, self.view_range).mean() < (
            self.view_coverage
        ):
            return False
        else:
            samples = box_samples(box)
        if points is not None:
            return bool(seen_through(pose.position, points, samples).mean() >= MIN_CLEAR)
        if self.line_of_sight is None:
            return True
        targets = samples
        if box is not None:  # the line must be clear up to where it enters the box
            origin = np.asarray(pose.position)
            dist = np.linalg.norm(samples - origin, axis=1)
            entry = np.minimum(ray_box_entry(pose.position, samples, box), dist)
            scale = np.divide(entry, dist, out=np.zeros_like(dist), where=dist > 0)
            targets = origin + (samples - origin) * scale[:, None]
        clear = [self.line_of_sight(pose.position, tuple(t)) for t in targets.tolist()]
        return sum(clear) >= MIN_CLEAR * len(clear)

    def _mark_absent(self, obs: Observation, seen_rows: np.ndarray) -> None:
        """Record objects expected in view (see the module docstring) but not detected; log a
        disappearance when the last evidence was presence."""
        pose = obs.agent_pose
        if pose is None:
            return
        tl = self.timeline
        n = len(tl)
        mask = tl.alive[:n] & in_view(pose, tl.pos[:n], self.view_fov_deg, self.view_range)
        mask[seen_rows] = False
        points = obs.points if obs.points is not None and len(obs.points) else None
        for row in np.flatnonzero(mask).tolist():
            node_id = tl.ids[row]
            if node_id not in self.graph or self._enclosed(node_id):
                continue
            node = self.graph.object(node_id)
            box, pos = node.bbox, tuple(tl.pos[row].tolist())
            if box is not None and node.position != pos:  # its update is held back
                shift = tl.pos[row] - np.asarray(node.position)
                box = dataclasses.replace(box, center=tuple(np.asarray(box.center) + shift))
            if not self._expected(pose, pos, box, points):  # type: ignore[arg-type]
                continue
            was_present = tl.times["last_seen"][row] > tl.times["last_absent"][row]
            tl.times["last_absent"][row] = obs.time_ns
            if was_present:
                tl.times["last_changed"][row] = obs.time_ns
                self._changes.append(
                    StateChange(
                        node_id,
                        PRESENCE,
                        True,
                        False,
                        obs.time_ns,
                        node.source_id,
                        node.label,
                        obs.action,
                    )
                )

    def _enclosed(self, node_id: str, shut: Callable[[str], bool] | None = None) -> bool:
        """True when the object sits (transitively) in a container for which `shut` holds
        (default: the container is closed)."""
        shut = shut or (lambda parent: self._states_of(parent).get(OPEN) is False)
        link = self.graph.parent(node_id)
        seen = {node_id}
        while link is not None and link[1] not in seen:
            kind, parent = link
            if kind == "in" and shut(parent):
                return True
            seen.add(parent)
            link = self.graph.parent(parent)
        return False

    def _states_of(self, node_id: str) -> dict[str, Any]:
        e = self._entries.get(node_id)
        return e.states if e is not None else self.graph.object(node_id).states

    # ---------------------------------------------------------------- buffer
    def _admit(self, arrivals: list[Entry]) -> list[Entry]:
        """Insert new entries, evicting by policy when over capacity; returns evicted entries
        that still hold a pending update (arrivals can lose too: then they are written through)."""
        overflow = len(self._entries) + len(arrivals) - self.capacity
        if overflow <= 0:
            for e in arrivals:
                self._entries[e.node_id] = e
            return []
        pool = [*self._entries.values(), *arrivals]
        stats = UseStats(
            np.array([e.inserted for e in pool], np.int64),
            np.array([e.last_use for e in pool], np.int64),
            np.array([e.uses for e in pool], np.int64),
            [e.label for e in pool],
        )
        evict = eviction_order(self.policy, stats, self.step)[:overflow]
        out = [pool[i] for i in evict.tolist()]
        for e in arrivals:
            self._entries[e.node_id] = e
        for e in out:
            del self._entries[e.node_id]
        return [e for e in out if e.pending is not None]

    def _write(self, entries: list[Entry]) -> None:
        """Hand the entries' pending updates to `on_flush`, grouped by observation time."""
        if not entries:
            return
        groups: dict[int, Flush] = {}
        for entry in entries:
            det = entry.pending
            assert det is not None
            entry.pending = None
            group = groups.setdefault(entry.time_ns, Flush(entry.time_ns))
            group.node_ids.append(entry.node_id)
            group.detections.append(det)
        assert self.on_flush is not None
        self.on_flush([groups[k] for k in sorted(groups)])

    def flush(self) -> None:
        """Write every pending update into long-term memory now (e.g. before saving)."""
        self._write([e for e in self._entries.values() if e.pending is not None])

    # ---------------------------------------------------------------- lookups
    def lookup(self, node_id: str) -> ObjectState:
        """An object's freshest record, counted as a hit or a miss (a miss loads it into the
        buffer); raises `UnknownNodeError`."""
        node = self.graph.object(node_id)
        self.access([node_id])
        e = self._entries.get(node_id)
        if e is not None:
            return e.state()
        return ObjectState(
            node_id, node.label, node.position, dict(node.states), node.last_seen_ns, node.source_id
        )

    def access(self, node_ids: Iterable[str]) -> None:
        """Count a lookup of each object (unknown ids raise before anything changes)."""
        ids = list(dict.fromkeys(node_ids))
        nodes = [self.graph.object(n) for n in ids]
        self.step += 1
        step, tl = self.step, self.timeline
        arrivals = []
        for node in nodes:
            e = self._entries.get(node.node_id)
            row = tl.row.get(node.node_id)
            if row is not None:
                tl.times["last_access"][row] = self.now_ns
                tl.strength[row] += 1.0
            if e is not None:
                self.hits += 1
                e.uses += 1
                e.last_use = step
                continue
            self.misses += 1
            arrivals.append(
                Entry(
                    node.node_id,
                    node.label,
                    node.source_id,
                    node.position,
                    node.states,
                    node.last_seen_ns,
                    step,
                    step,
                )
            )
        self._write(self._admit(arrivals))

    def set_goal(self, goal: str | None) -> None:
        """Tell a goal-aware policy (relevance) what the agent is trying to do."""
        set_goal = getattr(self.policy, "set_goal", None)
        if set_goal is not None:
            set_goal(goal)

    # ----------------------------------------------------------------- upkeep
    def sync(self) -> None:
        """Track objects that entered the long-term graph without passing through here."""
        for node in self.graph.objects():
            if node.node_id not in self.timeline.row:
                self.timeline.add(
                    node.node_id, node.position, node.first_seen_ns, node.last_seen_ns
                )

    def fading(self, tau_s: float, threshold: float) -> list[str]:
        """Unbuffered objects whose Ebbinghaus retention fell below `threshold`; the clock of an
        object restarts when it is seen or looked up, and each lookup adds 1 to its strength."""
        tl, n = self.timeline, len(self.timeline)
        last = np.maximum(tl.times["last_seen"][:n], tl.times["last_access"][:n])
        kept = retention(tl.strength[:n], (self.now_ns - last) / 1e9, tau_s)
        rows = np.flatnonzero(tl.alive[:n] & (kept < threshold)).tolist()
        return [tl.ids[i] for i in rows if tl.ids[i] not in self._entries]

    def forget(self, node_ids: Iterable[str]) -> None:
        """Drop objects that long-term memory forgot, with their logged changes (what memory
        no longer holds cannot be read back from the log either)."""
        gone = set(node_ids)
        for node_id in gone:
            self._entries.pop(node_id, None)
            self.timeline.remove(node_id)
        if any(c.node_id in gone for c in self._changes):
            kept = [c for c in self._changes if c.node_id not in gone]
            self._changes = deque(kept, maxlen=self._changes.maxlen)

    def _check_loaded(self, entries: list[Entry], timeline: Timeline) -> None:
        """Loaded entries and timeline must describe exactly the graph's objects."""
        objects = {n.node_id for n in self.graph.objects()}
        ids = [e.node_id for e in entries]
        if len(ids) > self.capacity or len(set(ids)) != len(ids) or not set(ids) <= objects:
            raise SnapshotError(
                "short_term.entries: duplicated ids, unknown objects or more than capacity"
            )
        if set(timeline.row) != objects:
            raise SnapshotError("short_term.timeline: tracked ids differ from the graph's objects")

    # ------------------------------------------------------------ persistence
    def to_dict(self) -> dict[str, Any]:
        """Versioned JSON-ready state: entries, change log, timeline, counters."""
        return {
            "format": FORMAT,
            "version": VERSION,
            "policy": self.policy.name,
            "goal": getattr(self.policy, "goal", None),
            "step": self.step,
            "now_ns": self.now_ns,
            "hits": self.hits,
            "misses": self.misses,
            "last_pose": _pose_to(self._last_pose),
            "entries": [_entry_to(e) for e in self._entries.values()],
            "changes": [_change_to(c) for c in self._changes],
            "timeline": self.timeline.to_dict(),
        }

    def load_dict(self, d: Any) -> None:
        """Replace this memory's state with a `to_dict` snapshot; `SnapshotError` on defects."""
        graph_io.check_header(d, FORMAT, COMPATIBLE, "short_term")
        try:
            if d["policy"] != self.policy.name:
                raise SnapshotError(
                    f"short_term.policy={d['policy']!r}: memory is configured with "
                    f"{self.policy.name!r}"
                )
            entries = [_entry_from(x) for x in _list(d, "entries")]
            changes = [_change_from(x) for x in _list(d, "changes")]
            timeline = Timeline.from_dict(d["timeline"])
            last_pose = _pose_from(d["last_pose"])
            step = v.int64("short_term.step", d["step"], 0)
            hits = v.int64("short_term.hits", d["hits"], 0)
            misses = v.int64("short_term.misses", d["misses"], 0)
            now_ns = v.time_ns("short_term.now_ns", d["now_ns"])
            goal = d["goal"]
            if goal is not None:
                v.nonempty_str("short_term.goal", goal)
            self._check_loaded(entries, timeline)
            self.set_goal(goal)
        except SnapshotError:
            raise
        except (EmbodmemError, LookupError, TypeError, ValueError, ArithmeticError) as exc:
            raise SnapshotError(
                f"short_term: malformed snapshot ({type(exc).__name__}: {exc})"
            ) from None
        self._entries = {e.node_id: e for e in entries}
        self._changes = deque(changes, maxlen=self._changes.maxlen)
        self.timeline = timeline
        self._last_pose = last_pose
        self.step, self.now_ns, self.hits, self.misses = step, now_ns, hits, misses


# ------------------------------------------------------------------ snapshot records
def _pose_to(p: Pose | None) -> dict[str, list[float]] | None:
    return None if p is None else {"position": list(p.position), "orientation": list(p.orientation)}


def _pose_from(d: Any) -> Pose | None:
    if d is None:
        return None
    return Pose(
        v.vec3("short_term.last_pose.position", d["position"]),
        v.quaternion("short_term.last_pose.orientation", d["orientation"]),
    )


def _list(d: Any, key: str) -> list[Any]:
    value = d[key]
    if not isinstance(value, list):
        raise SnapshotError(f"short_term.{key}: expected a list")
    return value


def _optional_str(field: str, value: Any) -> str | None:
    return None if value is None else v.nonempty_str(field, value)


def _det_to(det: ObjectObservation) -> dict[str, Any]:
    box = det.bbox
    return {
        "label": det.label,
        "position": list(det.position),  # type: ignore[arg-type]
        "bbox": None if box is None else [list(box.center), list(box.size), list(box.rotation)],
        "states": det.states,
        "confidence": det.confidence,
        "id_hint": det.id_hint,
        "embedding": None if det.embedding is None else list(det.embedding),
        "attributes": det.attributes,
    }


def _det_from(d: Any) -> ObjectObservation:
    box = d["bbox"]
    if box is not None and (not isinstance(box, list) or len(box) != 3):
        raise SnapshotError("short_term.entries.pending.bbox: expected [center, size, rotation]")
    if not isinstance(d["states"], dict) or not isinstance(d["attributes"], dict):
        raise SnapshotError("short_term.entries.pending: states and attributes must be objects")
    return ObjectObservation(
        label=d["label"],
        position=d["position"],
        bbox=None if box is None else BBox3D(box[0], box[1], box[2]),
        states=d["states"],
        confidence=d["confidence"],
        id_hint=d["id_hint"],
        embedding=d["embedding"],
        attributes=d["attributes"],
    )


def _entry_to(e: Entry) -> dict[str, Any]:
    return {
        "node_id": e.node_id,
        "label": e.label,
        "source_id": e.source_id,
        "position": list(e.position),
        "states": e.states,
        "time_ns": e.time_ns,
        "inserted": e.inserted,
        "last_use": e.last_use,
        "uses": e.uses,
        "stable": e.stable,
        "pending": None if e.pending is None else _det_to(e.pending),
    }


def _entry_from(d: Any) -> Entry:
    if not isinstance(d["states"], dict):
        raise SnapshotError("short_term.entries.states: expected an object")
    return Entry(
        node_id=v.nonempty_str("entry.node_id", d["node_id"]),
        label=v.nonempty_str("entry.label", d["label"]),
        source_id=_optional_str("entry.source_id", d["source_id"]),
        position=v.vec3("entry.position", d["position"]),
        states=v.json_mapping("entry.states", d["states"]),
        time_ns=v.time_ns("entry.time_ns", d["time_ns"]),
        inserted=v.int64("entry.inserted", d["inserted"], 0),
        last_use=v.int64("entry.last_use", d["last_use"], 0),
        uses=v.int64("entry.uses", d["uses"], 0),
        stable=v.int64("entry.stable", d["stable"], 0),
        pending=None if d["pending"] is None else _det_from(d["pending"]),
    )


def _change_to(c: StateChange) -> dict[str, Any]:
    before, after = c.before, c.after
    if c.field == "position":
        before, after = list(before), list(after)
    return {
        "node_id": c.node_id,
        "field": c.field,
        "before": before,
        "after": after,
        "time_ns": c.time_ns,
        "source_id": c.source_id,
        "label": c.label,
        "cause": c.cause,
    }


def _change_from(d: Any) -> StateChange:
    field = v.nonempty_str("change.field", d["field"])
    before = v.json_value("change.before", d["before"])
    after = v.json_value("change.after", d["after"])
    if field == "position":
        before, after = v.vec3("change.before", before), v.vec3("change.after", after)
    return StateChange(
        v.nonempty_str("change.node_id", d["node_id"]),
        field,
        before,
        after,
        v.time_ns("change.time_ns", d["time_ns"]),
        _optional_str("change.source_id", d["source_id"]),
        _optional_str("change.label", d["label"]),
        _optional_str("change.cause", d["cause"]),
    )
