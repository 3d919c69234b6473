"""Typed ALFRED goals checked against ai2thor 5.0.0 event metadata.

A goal is a list of conditions built from an ALFRED `task_type` and its `pddl_params`. The
conditions and their count follow ALFRED's goal-condition (GC) metric (`env/tasks.py`) exactly:

| task type | conditions (a sliced target adds `a <T>Sliced exists` first) |
|---|---|
| pick_and_place_simple | T in R |
| pick_two_obj_and_place | T in R, 2 T in one R (sliced: 2 conditions, one per slice) |
| look_at_obj_in_light | holding T, a lamp L is on and visible |
| pick_{heat,cool,clean}_then_place_in_recep | T in R, a T is S, a T that is S is in R |
| pick_and_place_with_movable_recep | T in M, M in R, a T in an M that is in R |

GC = conditions met / total, success = all met. Differences from ALFRED, on purpose:

* Types match exactly by `objectType` (ALFRED matches a name as a substring of the objectId,
  so its "Pot" also matches every Potato). ALFRED 2.1.0's `Glassbottle` is 5.0.0's `Bottle`.
* "in/on R" reads the object's `parentReceptacles` (every ancestor receptacle counts).
* States are read from metadata, since ai2thor 5.0 reports them: hot = `isCooked` or
  temperature "Hot"; cold = temperature "Cold"; clean = not `isDirty` and washed, where washed =
  inside the basin (SinkBasin / BathtubBasin) nearest to a Faucet that is on (ALFRED's cleaning
  event: everything in the basin under a faucet turned on counts as cleaned). ALFRED keeps
  sets of objects ever heated / cooled / cleaned; 5.0 temperatures decay back to room
  temperature and a washed object leaves the sink, so pass a `StateHistory` updated every step
  to get ALFRED's "was S at some point" semantics; without one, only the current state counts.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from embodmem.errors import DuplicateIdError, UnknownLabelError, ValidationError
from sim.object_types import object_types

State = Literal["hot", "cold", "clean"]
STATES: tuple[State, ...] = ("hot", "cold", "clean")
TASK_TYPES = (
    "pick_and_place_simple",
    "look_at_obj_in_light",
    "pick_clean_then_place_in_recep",
    "pick_heat_then_place_in_recep",
    "pick_cool_then_place_in_recep",
    "pick_two_obj_and_place",
    "pick_and_place_with_movable_recep",
)
# ALFRED (ai2thor 2.1.0) type names that were renamed in ai2thor 5.0.0.
TYPE_ALIASES = {"Glassbottle": "Bottle"}
SLICERS = ("Knife", "ButterKnife")
BASIN_TYPES = ("SinkBasin", "BathtubBasin")
_STATE_OF_TASK: dict[str, State] = {
    "pick_heat_then_place_in_recep": "hot",
    "pick_cool_then_place_in_recep": "cold",
    "pick_clean_then_place_in_recep": "clean",
}


class GoalError(ValidationError):
    """A goal cannot be built (unknown task type, missing target) or checked (bad metadata)."""


@dataclass(frozen=True, slots=True)
class SceneView:
    """One metadata snapshot indexed for goal checks: objects by id and by type."""

    objects: Mapping[str, Mapping[str, Any]]
    by_type: Mapping[str, tuple[str, ...]]
    held: frozenset[str]
    running_basins: frozenset[str]

    @classmethod
    def from_metadata(cls, metadata: Any) -> SceneView:
        """Index an ai2thor event metadata dict (needs `objects`; reads `inventoryObjects`)."""
        if not isinstance(metadata, Mapping) or "objects" not in metadata:
            raise GoalError("metadata", type(metadata).__name__, "expected a dict with 'objects'")
        objs = metadata["objects"]
        if not isinstance(objs, Sequence) or isinstance(objs, (str, bytes)):
            raise GoalError("metadata.objects", type(objs).__name__, "expected a list")
        objects: dict[str, Mapping[str, Any]] = {}
        by_type: dict[str, list[str]] = {}
        for i, obj in enumerate(objs):
            oid, otype = _check_object(i, obj)
            if oid in objects:
                raise DuplicateIdError(f"metadata.objects[{i}].objectId", oid, "appears twice")
            objects[oid] = obj
            by_type.setdefault(otype, []).append(oid)
        inventory = metadata.get("inventoryObjects") or []
        held = {o["objectId"] for o in inventory if isinstance(o, Mapping) and "objectId" in o}
        held |= {oid for oid, o in objects.items() if o.get("isPickedUp")}
        return cls(
            objects=objects,
            by_type={t: tuple(ids) for t, ids in by_type.items()},
            held=frozenset(held),
            running_basins=_running_basins(objects, by_type),
        )

    def candidates(self, otype: str, role: str) -> tuple[str, ...]:
        """Ids of objects of exactly type `otype` whose `role` flag (pickupable...) is true."""
        return tuple(i for i in self.by_type.get(otype, ()) if self.objects[i].get(role))

    def parents(self, oid: str) -> tuple[str, ...]:
        """Every receptacle the object is (transitively) in, from its `parentReceptacles`."""
        return tuple(self.objects[oid].get("parentReceptacles") or ())

    def has_flag(self, flag: str) -> bool:
        """Whether any object has `flag` set (e.g. isHeatSource)."""
        return any(o.get(flag) for o in self.objects.values())


def _check_object(i: int, obj: Any) -> tuple[str, str]:
    if not isinstance(obj, Mapping):
        raise GoalError(f"metadata.objects[{i}]", type(obj).__name__, "expected an object dict")
    for key in ("objectId", "objectType"):
        if not isinstance(obj.get(key), str) or not obj[key]:
            raise GoalError(f"metadata.objects[{i}].{key}", obj.get(key), "expected a string")
    parents = obj.get("parentReceptacles")
    if parents is not None and (
        isinstance(parents, (str, bytes)) or not isinstance(parents, Sequence)
    ):
        raise GoalError(f"metadata.objects[{i}].parentReceptacles", parents, "expected a list")
    return obj["objectId"], obj["objectType"]


def _position(oid: str, obj: Mapping[str, Any]) -> tuple[float, float, float]:
    pos = obj.get("position")
    try:
        xyz = (float(pos["x"]), float(pos["y"]), float(pos["z"]))  # type: ignore[index]
    except (TypeError, KeyError, ValueError):
        raise GoalError(f"objects[{oid}].position", pos, "expected {x, y, z} numbers") from None
    return xyz


def _running_basins(
    objects: Mapping[str, Mapping[str, Any]], by_type: Mapping[str, Sequence[str]]
) -> frozenset[str]:
    """Basins with water running: each Faucet that is on pours into the basin of the fixture
    it is mounted on (a bathtub's), else into its nearest basin."""
    basins = [b for t in BASIN_TYPES for b in by_type.get(t, ())]
    on = [f for f in by_type.get("Faucet", ()) if objects[f].get("isToggled")]
    if not basins or not on:
        return frozenset()
    if len(basins) == 1:
        return frozenset(basins)
    spots = {b: _position(b, objects[b]) for b in basins}
    running = set()
    for f in on:
        mounts = objects[f].get("parentReceptacles") or ()
        mounted = [b for b in basins for p in mounts if b.startswith(f"{p}|")]
        if mounted:
            running.add(mounted[0])
            continue
        tap = _position(f, objects[f])
        running.add(min(basins, key=lambda b: math.dist(tap, spots[b])))
    return frozenset(running)


def state_now(state: State, oid: str, view: SceneView) -> bool:
    """Whether an object shows `state` in this snapshot (see the module docstring)."""
    obj = view.objects[oid]
    if state == "hot":
        return bool(obj.get("isCooked")) or obj.get("temperature") == "Hot"
    if state == "cold":
        return obj.get("temperature") == "Cold"
    return not obj.get("isDirty") and not view.running_basins.isdisjoint(view.parents(oid))


class StateHistory:
    """Objects seen hot, cold or washed at any step so far (ALFRED's heated / cooled / cleaned
    object sets); call `update` with every step's metadata and pass it to `Goal.check`."""

    def __init__(self) -> None:
        self._seen: dict[State, set[str]] = {s: set() for s in STATES}

    def update(self, metadata: Any) -> None:
        """Record the states shown by one metadata snapshot (validated before anything changes)."""
        view = SceneView.from_metadata(metadata)
        for s in STATES:
            self._seen[s].update(oid for oid in view.objects if state_now(s, oid, view))

    def seen(self, state: State) -> frozenset[str]:
        """Ids of objects that have shown `state` in any recorded snapshot."""
        return frozenset(self._seen[state])


def has_state(state: State, oid: str, view: SceneView, history: StateHistory | None) -> bool:
    """Current state, or (with a history) having shown it before; clean also needs not dirty."""
    if state_now(state, oid, view):
        return True
    if history is None or oid not in history.seen(state):
        return False
    return state != "clean" or not view.objects[oid].get("isDirty")


# --- conditions -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Exists:
    """At least `count` (pickupable) objects of type `obj` exist, e.g. slices after slicing."""

    obj: str
    count: int = 1

    def holds(self, view: SceneView, history: StateHistory | None = None) -> bool:
        return len(view.candidates(self.obj, "pickupable")) >= self.count

    def __str__(self) -> str:
        return f"{self.count} {self.obj} exist" if self.count > 1 else f"a {self.obj} exists"


@dataclass(frozen=True, slots=True)
class Holding:
    """The agent holds an object of type `obj`."""

    obj: str

    def holds(self, view: SceneView, history: StateHistory | None = None) -> bool:
        return any(i in view.held for i in view.candidates(self.obj, "pickupable"))

    def __str__(self) -> str:
        return f"holding a {self.obj}"


@dataclass(frozen=True, slots=True)
class LightOn:
    """A toggleable `lamp` is on and visible to the agent (ALFRED checks both)."""

    lamp: str

    def holds(self, view: SceneView, history: StateHistory | None = None) -> bool:
        return any(
            view.objects[i].get("isToggled") and view.objects[i].get("visible")
            for i in view.candidates(self.lamp, "toggleable")
        )

    def __str__(self) -> str:
        return f"a {self.lamp} is on and visible"


@dataclass(frozen=True, slots=True)
class HasState:
    """Some object of type `obj` is (or, with a history, has been) `state`."""

    obj: str
    state: State

    def holds(self, view: SceneView, history: StateHistory | None = None) -> bool:
        return any(
            has_state(self.state, i, view, history) for i in view.candidates(self.obj, "pickupable")
        )

    def __str__(self) -> str:
        return f"a {self.obj} is {self.state}"


@dataclass(frozen=True, slots=True)
class InReceptacle:
    """At least `count` distinct objects of type `obj` (each `state`, if given) are in/on one
    receptacle of type `recep` (the one `recep_id` names, when given)."""

    obj: str
    recep: str
    count: int = 1
    state: State | None = None
    recep_id: str | None = None

    def holds(self, view: SceneView, history: StateHistory | None = None) -> bool:
        receps = set(view.candidates(self.recep, "receptacle"))
        if self.recep_id is not None:
            receps &= {self.recep_id}
        per_recep: dict[str, int] = {}
        for i in view.candidates(self.obj, "pickupable"):
            if self.state is not None and not has_state(self.state, i, view, history):
                continue
            for r in receps.intersection(view.parents(i)):
                per_recep[r] = per_recep.get(r, 0) + 1
        return max(per_recep.values(), default=0) >= self.count

    def __str__(self) -> str:
        what = f"{self.count} {self.obj}" if self.count > 1 else f"a {self.obj}"
        state = f" that is {self.state}" if self.state else ""
        where = f"the {self.recep} {self.recep_id}" if self.recep_id else f"one {self.recep}"
        return f"{what}{state} in/on {where}"


@dataclass(frozen=True, slots=True)
class Nested:
    """An `obj` is in a movable receptacle `mrecep` that is itself in/on a `recep`."""

    obj: str
    mrecep: str
    recep: str

    def holds(self, view: SceneView, history: StateHistory | None = None) -> bool:
        receps = set(view.candidates(self.recep, "receptacle"))
        movables = set(view.candidates(self.mrecep, "pickupable")) & set(
            view.candidates(self.mrecep, "receptacle")
        )
        holders = {m for i in view.candidates(self.obj, "pickupable") for m in view.parents(i)}
        return any(not receps.isdisjoint(view.parents(m)) for m in movables & holders)

    def __str__(self) -> str:
        return f"a {self.obj} in a {self.mrecep} that is in/on a {self.recep}"


Condition = Exists | Holding | LightOn | HasState | InReceptacle | Nested


@dataclass(frozen=True, slots=True)
class GoalResult:
    """Outcome of checking a goal: `met` of `total` conditions; `unmet` / `unsatisfiable` say
    which conditions fail and which named types (or means) the scene lacks."""

    success: bool
    met: int
    total: int
    unmet: tuple[str, ...] = ()
    unsatisfiable: tuple[str, ...] = ()

    @property
    def goal_condition(self) -> float:
        """ALFRED's GC of this episode: met / total."""
        return self.met / self.total


@dataclass(frozen=True, slots=True)
class Goal:
    """Typed condition list of one ALFRED task; `targets` holds the THOR types it names."""

    task_type: str
    conditions: tuple[Condition, ...]
    targets: Mapping[str, str] = field(default_factory=dict)

    def check(self, metadata: Any, history: StateHistory | None = None) -> GoalResult:
        """Check against ai2thor event metadata; pass a `StateHistory` for ALFRED's
        "was heated / cooled / cleaned at some point" semantics."""
        view = SceneView.from_metadata(metadata)
        unmet = tuple(str(c) for c in self.conditions if not c.holds(view, history))
        missing = _missing(self, view)
        total = len(self.conditions)
        return GoalResult(
            success=not unmet and not missing,
            met=total - len(unmet),
            total=total,
            unmet=unmet,
            unsatisfiable=missing,
        )

    @property
    def instances(self) -> dict[str, str]:
        """The receptacle the goal names by its objectId ({"parent": id}), when it does."""
        pinned = [c.recep_id for c in self.conditions if isinstance(c, InReceptacle)]
        return {"parent": pinned[0]} if pinned and pinned[0] is not None else {}

    def unsatisfiable_reasons(self, metadata: Any) -> tuple[str, ...]:
        """What the scene lacks to ever reach this goal (types it names, slicer, heat source...)."""
        return _missing(self, SceneView.from_metadata(metadata))

    def is_satisfiable(self, metadata: Any) -> bool:
        """Whether every type the goal names (and the means its states need) is in the scene."""
        return not self.unsatisfiable_reasons(metadata)

    def __str__(self) -> str:
        return f"{self.task_type}: " + "; ".join(str(c) for c in self.conditions)


def _missing(goal: Goal, view: SceneView) -> tuple[str, ...]:
    """Reasons the scene can never satisfy `goal`."""
    out: list[str] = []
    roles = {
        "object": "pickupable",
        "mrecep": "pickupable",
        "parent": "receptacle",
        "toggle": "toggleable",
    }
    for key, otype in goal.targets.items():
        need = 2 if key == "object" and goal.task_type == "pick_two_obj_and_place" else 1
        if len(view.candidates(otype, roles[key])) >= need:
            continue
        whole = otype.removesuffix("Sliced")
        if key == "object" and whole != otype and view.candidates(whole, "sliceable"):
            if not any(view.candidates(k, "pickupable") for k in SLICERS):
                out.append(f"no {' or '.join(SLICERS)} to slice the {whole}")
            continue
        amount = "no" if need == 1 else f"fewer than {need}"
        out.append(f"{amount} {roles[key]} {otype} in the scene")
    state = _STATE_OF_TASK.get(goal.task_type)
    if state == "hot" and not view.has_flag("isHeatSource"):
        out.append("no heat source in the scene")
    elif state == "cold" and not view.has_flag("isColdSource"):
        out.append("no cold source in the scene")
    elif state == "clean" and not (
        view.by_type.get("Faucet") and any(view.by_type.get(t) for t in BASIN_TYPES)
    ):
        out.append("no Faucet and basin to wash in, in the scene")
    return tuple(out)


# --- building goals from ALFRED pddl_params ---------------------------------------------------


def thor_type(field_name: str, name: Any) -> str:
    """THOR 5.0.0 type of an ALFRED type name (renames applied); unknown names raise."""
    if not isinstance(name, str) or not name:
        raise GoalError(field_name, name, "expected a THOR object type name")
    otype = TYPE_ALIASES.get(name, name)
    if otype not in object_types():
        raise UnknownLabelError(field_name, name, "not an AI2-THOR object type")
    return otype


def goal_from_pddl(task_type: str, pddl_params: Mapping[str, Any]) -> Goal:
    """Build the typed goal of an ALFRED task from its task_type and pddl_params."""
    if task_type not in TASK_TYPES:
        raise GoalError("task_type", task_type, f"expected one of {', '.join(TASK_TYPES)}")
    if not isinstance(pddl_params, Mapping):
        raise GoalError("pddl_params", type(pddl_params).__name__, "expected a dict")
    sliced = pddl_params.get("object_sliced", False)
    if not isinstance(sliced, bool):
        raise GoalError("pddl_params.object_sliced", sliced, "expected true or false")
    obj = thor_type("pddl_params.object_target", pddl_params.get("object_target"))
    if sliced:
        obj = thor_type("pddl_params.object_target", obj + "Sliced")
    targets = {"object": obj}
    needed = {
        "look_at_obj_in_light": ("toggle",),
        "pick_and_place_with_movable_recep": ("mrecep", "parent"),
    }.get(task_type, ("parent",))
    for key in needed:
        targets[key] = thor_type(f"pddl_params.{key}_target", pddl_params.get(f"{key}_target"))
    conds: list[Condition] = []
    if task_type == "pick_two_obj_and_place":
        if sliced:
            conds += [Exists(obj, 1), Exists(obj, 2)]
        conds += [InReceptacle(obj, targets["parent"], 1), InReceptacle(obj, targets["parent"], 2)]
        return Goal(task_type, tuple(conds), targets)
    if sliced:
        conds.append(Exists(obj))
    if task_type == "pick_and_place_simple":
        conds.append(InReceptacle(obj, targets["parent"]))
    elif task_type == "look_at_obj_in_light":
        conds += [Holding(obj), LightOn(targets["toggle"])]
    elif task_type == "pick_and_place_with_movable_recep":
        m, r = targets["mrecep"], targets["parent"]
        conds += [InReceptacle(obj, m), InReceptacle(m, r), Nested(obj, m, r)]
    else:
        s = _STATE_OF_TASK[task_type]
        r = targets["parent"]
        conds += [InReceptacle(obj, r), HasState(obj, s), InReceptacle(obj, r, state=s)]
    return Goal(task_type, tuple(conds), targets)
