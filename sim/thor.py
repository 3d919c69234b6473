"""AI2-THOR (ai2thor 5.0.0) metadata -> embodmem `Observation`.

`observation_from_metadata` accepts a full `event.metadata` dict, a list of THOR object dicts, or
a scene dump keyed by objectId (the `FloorPlanN_physics.json` layout). Positions and boxes are
converted to the world frame (see `embodmem.frames`). THOR's `parentReceptacles` is kept as a
reported state (the short-term memory diffs it) but the scene graph never reads it: relations are
inferred from geometry.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from embodmem.errors import DuplicateIdError, UnknownLabelError, ValidationError
from embodmem.frames import thor_box, thor_camera_pose, thor_xyz
from embodmem.types import BBox3D, ObjectObservation, Observation, Pose
from embodmem.validate import finite_float
from sim.object_types import object_types

# Dynamic THOR fields recorded as object states.
STATE_FIELDS = (
    "isOpen",
    "openness",
    "isToggled",
    "isSliced",
    "isCooked",
    "isDirty",
    "isFilledWithLiquid",
    "fillLiquid",
    "temperature",
    "isBroken",
    "isUsedUp",
    "isPickedUp",
    "parentReceptacles",
)
# Static THOR fields recorded as object attributes.
ATTRIBUTE_FIELDS = (
    "pickupable",
    "moveable",
    "receptacle",
    "openable",
    "toggleable",
    "sliceable",
    "cookable",
    "dirtyable",
    "breakable",
    "canFillWithLiquid",
    "canBeUsedUp",
    "isHeatSource",
    "isColdSource",
    "mass",
    "salientMaterials",
    "assetId",
    "name",
)
SCENE_TYPES = (
    (0, 100, "kitchen"),
    (200, 300, "living_room"),
    (300, 400, "bedroom"),
    (400, 500, "bathroom"),
)


def region_of_scene(scene_name: str) -> str | None:
    """Room type of an iTHOR scene name ("FloorPlan1_physics" -> "kitchen"); None if unknown."""
    m = re.match(r"FloorPlan(\d+)", scene_name or "")
    if not m:
        return None
    n = int(m.group(1))
    for lo, hi, name in SCENE_TYPES:
        if lo < n < hi:
            return name
    return None


def _object_list(metadata: Any) -> tuple[list[Mapping[str, Any]], Mapping[str, Any] | None]:
    if isinstance(metadata, Mapping):
        if "objects" in metadata:
            objs = metadata["objects"]
            if not isinstance(objs, Sequence) or isinstance(objs, (str, bytes)):
                raise ValidationError("metadata.objects", type(objs).__name__, "expected a list")
            return list(objs), metadata
        # A scene dump keyed by objectId.
        return list(metadata.values()), None
    if isinstance(metadata, Sequence) and not isinstance(metadata, (str, bytes)):
        return list(metadata), None
    raise ValidationError("metadata", type(metadata).__name__, "expected event metadata or objects")


def _box(obj: Mapping[str, Any], key: str, where: str) -> BBox3D | None:
    """World box of a THOR box field (None when THOR gives none)."""
    box = obj.get(key)
    if box is None:
        return None
    if not isinstance(box, Mapping):
        raise ValidationError(f"{where}.{key}", box, "expected a box dict or null")
    corners = box.get("cornerPoints")
    if corners is None:
        return None
    try:  # objects that did not move give the same corners every step: convert them once
        cache_key = tuple(tuple(map(float, c)) for c in corners)
    except (TypeError, ValueError):
        cache_key = None
    if cache_key is not None and cache_key in _BOXES:
        return _BOXES[cache_key]
    out = thor_box(corners, f"{where}.{key}")
    if cache_key is not None:
        if len(_BOXES) >= MAX_CACHED_BOXES:
            _BOXES.clear()
        _BOXES[cache_key] = out
    return out


MAX_CACHED_BOXES = 8192  # converted THOR boxes kept (a few scenes' worth of objects)
_BOXES: dict[tuple[tuple[float, ...], ...], BBox3D] = {}


def object_observation(obj: Mapping[str, Any], index: int = 0) -> ObjectObservation:
    """One THOR object dict -> `ObjectObservation` in the world frame."""
    where = f"objects[{index}]"
    if not isinstance(obj, Mapping):
        raise ValidationError(where, type(obj).__name__, "expected an object dict")
    for key in ("objectId", "objectType", "position"):
        if key not in obj:
            raise ValidationError(f"{where}.{key}", None, "missing field")
    label = obj["objectType"]
    if not isinstance(label, str) or label not in object_types():
        raise UnknownLabelError(f"{where}.objectType", label, "not an AI2-THOR object type")
    oid = obj["objectId"]
    if not isinstance(oid, str) or not oid:
        raise ValidationError(f"{where}.objectId", oid, "expected a non-empty string")
    oobb = _box(obj, "objectOrientedBoundingBox", where)
    aabb = _box(obj, "axisAlignedBoundingBox", where)
    bbox = oobb if oobb is not None else aabb
    states = {k: obj[k] for k in STATE_FIELDS if k in obj}
    attributes = {k: obj[k] for k in ATTRIBUTE_FIELDS if k in obj}
    known = object_types()[label]
    if known.placement_mode is not None:
        attributes["receptacle_mode"] = known.placement_mode
    if aabb is not None and oobb is not None:
        lo, hi = aabb.min_max()
        attributes["aabb"] = [list(map(float, lo)), list(map(float, hi))]
    return ObjectObservation(
        label=label,
        position=thor_xyz(f"{where}.position", obj["position"]),
        bbox=bbox,
        states=states,
        id_hint=oid,
        attributes=attributes,
    )


def agent_pose_from_metadata(metadata: Mapping[str, Any]) -> Pose | None:
    """World pose of the agent's camera from event metadata (None if there is no agent)."""
    agent = metadata.get("agent")
    if agent is None:
        return None
    if not isinstance(agent, Mapping):
        raise ValidationError("metadata.agent", agent, "expected an agent dict")
    if "position" not in agent:
        return None
    position = metadata.get("cameraPosition")
    field = "metadata.cameraPosition"
    if position is None:
        position, field = agent["position"], "metadata.agent.position"
    rotation = agent.get("rotation")
    if rotation is None:
        rotation = {}
    if not isinstance(rotation, Mapping):
        raise ValidationError("metadata.agent.rotation", rotation, "expected a mapping x, y, z")
    yaw = finite_float("metadata.agent.rotation.y", rotation.get("y", 0.0), 1e9)
    horizon = agent.get("cameraHorizon")
    horizon = finite_float("metadata.agent.cameraHorizon", 0.0 if horizon is None else horizon, 1e9)
    return thor_camera_pose(position, yaw, horizon, field)


def observation_from_metadata(
    metadata: Any,
    time_ns: int = 0,
    visible_only: bool = False,
    action: str | None = None,
    region: str | None = None,
) -> Observation:
    """Build an `Observation` from THOR metadata (event metadata, object list or scene dump).

    With `visible_only` only objects THOR reports as visible are included (what an agent would
    see); by default every object is (a full-state dump). The region is the iTHOR room type of the
    metadata's sceneName unless given (a bare scene dump has no scene name).
    """
    objs, meta = _object_list(metadata)
    seen: set[str] = set()
    out = []
    for i, obj in enumerate(objs):
        if visible_only and isinstance(obj, Mapping):
            visible = obj.get("visible", False)
            if not isinstance(visible, bool):
                raise ValidationError(f"objects[{i}].visible", visible, "expected a bool")
            if not visible:
                continue
        o = object_observation(obj, i)
        if o.id_hint in seen:
            raise DuplicateIdError(f"objects[{i}].objectId", o.id_hint, "objectId appears twice")
        seen.add(o.id_hint)  # type: ignore[arg-type]
        out.append(o)
    pose = agent_pose_from_metadata(meta) if meta is not None else None
    if region is None and meta is not None:
        name = meta.get("sceneName")
        region = region_of_scene(name) if isinstance(name, str) else None
    if action is None and meta is not None:
        last = meta.get("lastAction")
        action = last if isinstance(last, str) and last else None
    return Observation(
        time_ns=time_ns, objects=tuple(out), agent_pose=pose, region=region, action=action
    )
