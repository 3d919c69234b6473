"""Actions that set a scene up as a recording had it.

- `SetObjectPoses` (ai2thor 5.0.0, PhysicsSceneManager.SetObjectPoses): objects are matched by
  `name`; every pickupable or moveable object left out of `objectPoses` is removed, a name
  listed again is a copy (`<name>(Clone)_copy_<index>`), placed objects stay where they are put
  (placeStationary), and objectIds are generated again from the new positions.
- `SetObjectToggles` and `SetStateOfAllObjects`: ai2thor 2.1.0's actions, which ALFRED's
  `restore_scene` calls (5.0.0 dropped them for SetObjectStates and raises "Invalid action");
  toggles are set by object type, and `SetStateOfAllObjects(StateChange, forceAction)` sets a
  state of every object with that property to `forceAction` (CanBeDirty true: all dirty;
  CanBeFilled false: all empty).

Unlike THOR, a request with any bad entry changes nothing (THOR applies the good poses of a
partly bad list); the failure message is THOR's.
"""

from __future__ import annotations

import collections
import math
from collections.abc import Iterable, Mapping
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import numpy as np

from embodmem.relations import Body, RelationIndex, body_from_object, infer_parent
from sim.object_types import thor_labels
from sim.offline import messages as msg
from sim.offline.errors import InvalidActionError
from sim.offline.geometry import as_dict, box_dict, xyz
from sim.offline.placement import drop_target
from sim.offline.schema import FLOAT_MAX
from sim.offline.state import Outcome, SceneState, Settings, fail
from sim.thor import object_observation

# SimObjSecondaryProperty names SetStateOfAllObjects accepts (2.1.0) -> the metadata flag of
# the property and the state it sets; None marks those that act only when forceAction is true.
STATE_CHANGES: dict[str, tuple[str, str | None]] = {
    "CanOpen": ("openable", "isOpen"),
    "CanToggleOnOff": ("toggleable", "isToggled"),
    "CanBeDirty": ("dirtyable", "isDirty"),
    "CanBeFilled": ("canFillWithLiquid", "isFilledWithLiquid"),
    "CanBeCooked": ("cookable", None),
    "CanBreak": ("breakable", None),
    "CanBeUsedUp": ("canBeUsedUp", None),
}
_ONE_WAY = {"CanBeCooked": "isCooked", "CanBreak": "isBroken", "CanBeUsedUp": "isUsedUp"}


def id_number(value: float) -> str:
    """One coordinate of a THOR objectId: C#'s `(v >= 0 ? "+" : "") + v.ToString("00.00")` on
    a float (7 significant digits, then half away from zero; "-0.001" prints "00.00")."""
    v = float(np.float32(value))
    d = Decimal(format(v, ".7g")).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    text = format(abs(d), "05.2f")
    return ("+" if v >= 0 else "-" if text != "00.00" else "") + text


def object_id(object_type: str, position: np.ndarray) -> str:
    """THOR's objectId of an object at `position` (PhysicsSceneManager.Generate_ObjectID)."""
    return object_type + "".join("|" + id_number(c) for c in position)


def euler_matrix(rotation: Mapping[str, float]) -> np.ndarray:
    """Unity's rotation matrix of Euler angles in degrees (about z, then x, then y)."""
    ax, ay, az = (math.radians(float(rotation.get(k, 0.0))) for k in "xyz")
    rx = np.array(((1, 0, 0), (0, math.cos(ax), -math.sin(ax)), (0, math.sin(ax), math.cos(ax))))
    ry = np.array(((math.cos(ay), 0, math.sin(ay)), (0, 1, 0), (-math.sin(ay), 0, math.cos(ay))))
    rz = np.array(((math.cos(az), -math.sin(az), 0), (math.sin(az), math.cos(az), 0), (0, 0, 1)))
    return ry @ rx @ rz


def posed(obj: Mapping[str, Any], position: np.ndarray, rotation: dict[str, float]) -> dict:
    """A copy of `obj` moved to `position` and turned to `rotation`: its boxes are the old ones
    turned by the change of rotation about the old position, then translated."""
    old_pos = xyz(obj["position"])
    turn = euler_matrix(rotation) @ euler_matrix(obj.get("rotation") or {}).T
    out = dict(obj, position=as_dict(position), rotation=dict(rotation))
    obox = obj.get("objectOrientedBoundingBox")
    box = obj.get("axisAlignedBoundingBox") or {}
    source = (obox or {}).get("cornerPoints") or box.get("cornerPoints")
    if source:
        corners = (np.asarray(source, dtype=np.float64) - old_pos) @ turn.T + position
        out["axisAlignedBoundingBox"] = box_dict(corners.min(axis=0), corners.max(axis=0))
        if obox:
            out["objectOrientedBoundingBox"] = {"cornerPoints": corners.tolist()}
    return out


def _vector(i: int, key: str, value: Any) -> dict[str, float]:
    """A finite {x, y, z} of one pose (ValueError, as THOR's JSON conversion fails)."""
    ok = isinstance(value, Mapping) and set(value) <= {"x", "y", "z"}
    ok = ok and all(
        not isinstance(c, bool) and isinstance(c, (int, float)) and math.isfinite(c)
        for c in value.values()
    )
    if not ok or not all(abs(c) <= FLOAT_MAX for c in value.values()):
        raise InvalidActionError(
            f"objectPoses[{i}].{key}", value, f"objectPoses[{i}].{key} must be a finite Vector3"
        )
    return {k: float(value.get(k, 0.0)) for k in "xyz"}


def _check_poses(state: SceneState, poses: Any) -> list[tuple[str, np.ndarray, dict]] | Outcome:
    """Checked (name, position, rotation) per pose, or THOR's failure."""
    if not isinstance(poses, (list, tuple)) or not poses or not isinstance(poses[0], Mapping):
        return fail(msg.POSES_UNINITIALIZED)
    movable = {
        o["name"] for o in state.objects.values() if o.get("pickupable") or o.get("moveable")
    }
    static = {o["name"] for o in state.objects.values()} - movable
    out = []
    for i, pose in enumerate(poses):
        if not isinstance(pose, Mapping) or not isinstance(pose.get("objectName"), str):
            raise InvalidActionError(
                f"objectPoses[{i}]", pose, f"objectPoses[{i}] needs an objectName string"
            )
        unknown = set(pose) - {"objectName", "position", "rotation"}
        if unknown:
            raise InvalidActionError(
                f"objectPoses[{i}]", sorted(unknown), f"objectPoses[{i}] has unknown fields"
            )
        name = pose["objectName"]
        position = xyz(_vector(i, "position", pose.get("position", {})))
        rotation = _vector(i, "rotation", pose.get("rotation", {}))
        if name in static:
            return fail(msg.POSE_NOT_MOVABLE.format(name=name))
        if name not in movable:
            return fail(msg.POSE_NO_OBJECT.format(name=name))
        if np.any(position < state.bounds_lo) or np.any(position > state.bounds_hi):
            return fail(
                msg.POSE_OUT_OF_BOUNDS.format(
                    name=name,
                    position=msg.cs_vector(position, 2),
                    lo=msg.cs_vector(state.bounds_lo, 2),
                    hi=msg.cs_vector(state.bounds_hi, 2),
                )
            )
        out.append((name, position, rotation))
    return out


def set_object_poses(state: SceneState, cfg: Settings, args: dict[str, Any]) -> Outcome:
    """SetObjectPoses: place the listed movable objects, copy repeated ones, remove the rest."""
    checked = _check_poses(state, args.get("objectPoses"))
    if isinstance(checked, Outcome):
        return checked
    by_name = {
        o["name"]: k for k, o in state.objects.items() if o.get("pickupable") or o.get("moveable")
    }
    kept = {k: o for k, o in state.objects.items() if k not in by_name.values()}
    seen: collections.Counter[str] = collections.Counter()
    placed: list[dict[str, Any]] = []
    for ii, (name, position, rotation) in enumerate(checked):
        obj = posed(state.objects[by_name[name]], position, rotation)
        if seen[name]:
            obj["name"] = f"{name}(Clone)_copy_{ii}"
        seen[name] += 1
        # Placed objects are at room temperature until a fridge or heat source acts on them
        # (THOR's temperatures decay back within seconds; the rules below apply the sources).
        obj.update(isPickedUp=False, parentReceptacles=None, temperature="RoomTemp")
        if obj.get("receptacle"):
            obj["receptacleObjectIds"] = []
        placed.append(obj)
    objects, placed_ids = _regenerate_ids(kept, placed)
    state.replace_objects(objects)
    settle(state, placed_ids)
    return Outcome()


_BODIES: dict[tuple, Body] = {}  # geometry of objects seen before (static ones, mostly)
_MAX_BODIES = 20_000


def _body(state: SceneState, oid: str) -> Body:
    """The relation body of an object, reused while its id, type and boxes are unchanged."""
    obj = state.objects[oid]
    boxes = (
        (obj.get("axisAlignedBoundingBox") or {}).get("cornerPoints"),
        (obj.get("objectOrientedBoundingBox") or {}).get("cornerPoints"),
    )
    where = tuple(obj["position"].values())
    key = (oid, obj["objectType"], where, *(tuple(map(tuple, b)) if b else None for b in boxes))
    body = _BODIES.get(key)
    if body is None:
        if len(_BODIES) >= _MAX_BODIES:
            _BODIES.clear()
        body = _BODIES[key] = body_from_object(oid, object_observation(obj))
    return body


def settle(state: SceneState, oids: list[str]) -> None:
    """Give each placed object (lowest first, so a plate is settled before what is on it) the
    support or container that geometry finds for it (`embodmem.relations`, the rule measured
    against THOR's parentReceptacles); one that nothing holds drops onto the highest surface
    below it, so nothing floats. Furniture that is moveable but not pickupable (a microwave on
    its wall bracket, a chair) keeps its pose: THOR holds it kinematic."""
    index = RelationIndex(_body(state, k) for k in state.ids)
    for oid in sorted(oids, key=lambda k: float(state.lo[state.row[k]][1])):
        found = infer_parent(index.bodies[oid], index.candidates_for(index.bodies[oid]))
        if found is None and state.objects[oid].get("pickupable"):
            target, _ = drop_target(state, oid)
            state.move(oid, target - state.pos[state.row[oid]])
            index.add(_body(state, oid))
            found = infer_parent(index.bodies[oid], index.candidates_for(index.bodies[oid]))
        # Only the direct parent: 94.5% of the pickupable objects of the 120 recorded 5.0.0
        # scenes list exactly one (a spoon on a counter is not also "in" the sink set into it).
        state.attach(oid, found[1] if found is not None else None, chain=False)


def _regenerate_ids(kept: dict[str, dict], placed: list[dict]) -> tuple[dict[str, dict], list[str]]:
    """Every object under a fresh position-based objectId (THOR's SetupScene), references in
    parentReceptacles / receptacleObjectIds renamed; ids of parts named after their parent
    ("Sink|...|SinkBasin") are kept. A clash gets THOR's pre-SetupScene copy suffix. Returns
    the objects and the ids of the placed ones."""
    rename: dict[str, str] = {}
    out: dict[str, dict] = {}
    for old, obj in kept.items():
        new = object_id(obj["objectType"], xyz(obj["position"])) if old.count("|") == 3 else old
        new = new if new not in out else old
        rename[old] = new
        out[new] = dict(obj, objectId=new)
    placed_ids = []
    for ii, obj in enumerate(placed):
        new = object_id(obj["objectType"], xyz(obj["position"]))
        if new in out:
            new = f"{new}_copy_{ii}"
        out[new] = dict(obj, objectId=new)
        placed_ids.append(new)
    for obj in out.values():
        for key in ("parentReceptacles", "receptacleObjectIds"):
            ids = obj.get(key)
            if ids:
                obj[key] = [rename[k] for k in ids if k in rename] or (
                    None if key == "parentReceptacles" else []
                )
        if obj.get("controlledObjects"):
            obj["controlledObjects"] = [rename.get(k, k) for k in obj["controlledObjects"]]
    return out, placed_ids


def set_object_toggles(state: SceneState, cfg: Settings, args: dict[str, Any]) -> Outcome:
    """SetObjectToggles (2.1.0): every object of each listed type switched on / off; a type
    that is not toggleable fails the action (ToggleObject's message), an unknown type name too
    (Enum.Parse's), and then nothing changes."""
    toggles = args.get("objectToggles")
    if not isinstance(toggles, (list, tuple)):
        raise InvalidActionError("objectToggles", toggles, "objectToggles must be a list")
    wanted: dict[str, bool] = {}
    for i, t in enumerate(toggles):
        if (
            not isinstance(t, Mapping)
            or not isinstance(t.get("objectType"), str)
            or not isinstance(t.get("isOn"), bool)
        ):
            raise InvalidActionError(
                f"objectToggles[{i}]", t, f"objectToggles[{i}] needs objectType and isOn"
            )
        if t["objectType"] not in thor_labels():
            return fail(msg.UNKNOWN_TYPE.format(type=t["objectType"]))
        wanted[t["objectType"]] = t["isOn"]
    targets = [o for o in state.objects.values() if o["objectType"] in wanted]
    if any(not o.get("toggleable") for o in targets):
        return fail(msg.NOT_TOGGLEABLE)
    for obj in targets:
        obj["isToggled"] = wanted[obj["objectType"]]
    return Outcome()


def set_state_of_all_objects(state: SceneState, cfg: Settings, args: dict[str, Any]) -> Outcome:
    """SetStateOfAllObjects (2.1.0): `forceAction` is the value given to the state of every
    object with the `StateChange` property (one-way states only change when it is true)."""
    change = args.get("StateChange")
    if change is None:
        return fail(msg.STATE_MISSING)
    if change not in STATE_CHANGES:  # CanBeSliced too: slicing everything is not simulated
        return fail(msg.STATE_UNDEFINED)
    give_state(state, state.objects.values(), change, bool(args.get("forceAction", False)))
    return Outcome()


def give_state(
    state: SceneState, objects: Iterable[dict[str, Any]], change: str, value: bool
) -> None:
    """Set the state of `change` (a STATE_CHANGES key) to `value` on those of `objects` that
    have its property; the one-way states (cooked, broken, used up) only ever become true."""
    flag, field = STATE_CHANGES[change]
    for obj in objects:
        if not obj.get(flag):
            continue
        if field is not None:
            obj[field] = value
            if field == "isFilledWithLiquid":  # 2.1.0 picks a random liquid; water here
                obj["fillLiquid"] = "water" if value else None
            if field == "isOpen":  # drawers do not slide out here (nor in when closed later)
                obj["openness"] = 1.0 if value else 0.0
                if value and obj["objectType"] == "Drawer":
                    state.slides.setdefault(obj["objectId"], np.zeros(3))
        elif value:
            obj[_ONE_WAY[change]] = True
    state.invalidate()


PLACE_LIFT = 0.005  # m: PlaceObjectAtPoint sets the object this far above the surface
PLACE_SLACK = 0.01  # m: boxes overlapping by less than this do not block a placement


def place_object_at_point(state: SceneState, cfg: Settings, args: dict[str, Any]) -> Outcome:
    """PlaceObjectAtPoint: the object (turned to `rotation`) set down on the first surface below
    `position`, if nothing else is in the way there; a held object is released. actionReturn is
    the final position unless forceKinematic (THOR then returns before anything settles)."""
    oid = args["objectId"]
    if oid not in state.objects:
        return fail(msg.PLACE_NO_OBJECT.format(oid=oid))
    target = xyz(args["position"])
    if np.any(target < state.bounds_lo) or np.any(target > state.bounds_hi):
        centre = (state.bounds_lo + state.bounds_hi) / 2
        extents = (state.bounds_hi - state.bounds_lo) / 2
        bounds = f"Center: {msg.cs_vector(centre, 1)}, Extents: {msg.cs_vector(extents, 1)}"
        return fail(
            msg.PLACE_OUT_OF_BOUNDS.format(position=msg.cs_vector(target, 1), bounds=bounds)
        )
    obj = state.objects[oid]
    moved = posed(obj, target, dict(args.get("rotation") or obj.get("rotation") or {}))
    lo, hi = (np.asarray(c) for c in _bounds(moved))
    skip = {oid, *state.descendants(oid)}
    others = np.array([k not in skip for k in state.ids], dtype=bool)
    under = (
        others
        & (state.lo[:, 0] <= target[0])
        & (state.hi[:, 0] >= target[0])
        & (state.lo[:, 2] <= target[2])
        & (state.hi[:, 2] >= target[2])
        & (state.hi[:, 1] <= target[1])
    )
    surface = float(state.hi[under, 1].max()) if under.any() else state.floor_top
    up = np.array((0.0, surface + PLACE_LIFT - lo[1], 0.0))  # bottom onto the surface
    lo, hi = lo + up, hi + up
    overlap = others & np.all((state.lo < hi - PLACE_SLACK) & (state.hi > lo + PLACE_SLACK), axis=1)
    if overlap.any():
        blocker = state.ids[int(np.flatnonzero(overlap)[0])]
        return fail(msg.PLACE_NOT_CLEAR.format(blocker=blocker))
    final = target + up
    if state.held == oid:
        state.held = None
    state.move(oid, final - state.pos[state.row[oid]])  # with what it holds
    turned = posed(state.objects[oid], final, moved["rotation"])
    state.replace_object(oid, turned | {"isPickedUp": False})
    settle(state, [oid])
    return Outcome(ret=None if args.get("forceKinematic") else as_dict(final))


def _bounds(obj: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    corners = np.asarray(obj["axisAlignedBoundingBox"]["cornerPoints"], dtype=np.float64)
    return corners.min(axis=0), corners.max(axis=0)


def unmodelled(state: SceneState, cfg: Settings, args: dict[str, Any]) -> Outcome:
    """Actions that change only what the offline simulator does not model: how the scene looks
    (RandomizeMaterials, RandomizeLighting, RandomizeColors, ResetMaterials, ResetColors) and
    rigid-body settings (MakeAllObjectsMoveable, MakeObjectsStaticKinematicMassThreshold: the
    first leaves moveable / pickupable as they are, the second acts only with a mass threshold
    set at initialization, which the controller does not take)."""
    return Outcome()
