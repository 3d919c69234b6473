"""Actions on the scene as a whole rather than one interaction: which objects the metadata
lists (B.SetObjectFilter, SetObjectFilterForType, ResetObjectFilter), removing an object
(B.RemoveFromScene) and setting a state on every object of a type (P.SetObjectStates)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sim.object_types import thor_labels
from sim.offline import messages as msg
from sim.offline.actions_interact import cut
from sim.offline.errors import InvalidActionError
from sim.offline.restore import give_state, settle
from sim.offline.state import Outcome, SceneState, Settings, fail


def set_object_filter(state: SceneState, cfg: Settings, args: dict[str, Any]) -> Outcome:
    """SetObjectFilter: from now on metadata["objects"] lists only these ids (unknown ones are
    dropped silently, as THOR; objects made later, like slices, are not added)."""
    state.object_filter = frozenset(k for k in args["objectIds"] if k in state.objects)
    return Outcome()


def set_object_filter_for_type(state: SceneState, cfg: Settings, args: dict[str, Any]) -> Outcome:
    """SetObjectFilterForType: the filter holds the objects of these types there are now."""
    types = set(args["objectTypes"])
    state.object_filter = frozenset(k for k, o in state.objects.items() if o["objectType"] in types)
    return Outcome()


def reset_object_filter(state: SceneState, cfg: Settings, args: dict[str, Any]) -> Outcome:
    """ResetObjectFilter: metadata lists every object again."""
    state.object_filter = None
    return Outcome()


def remove_from_scene(state: SceneState, cfg: Settings, args: dict[str, Any]) -> Outcome:
    """RemoveFromScene: the object is destroyed; what it held finds a new support below (THOR's
    physics lets it fall). Unlike THOR, whose hand keeps a reference to a destroyed object, a
    removed held object empties the hand."""
    oid = args["objectId"]
    if oid not in state.objects:
        return fail(msg.NO_SUCH_OBJECT.format(oid=oid))
    held = state.descendants(oid)
    state.attach(oid, None)
    for k in held:
        state.objects[k]["parentReceptacles"] = [p for p in state.parents(k) if p != oid] or None
    state.replace_objects({k: o for k, o in state.objects.items() if k != oid})
    settle(state, held)
    return Outcome()


# SetObjectStates' stateChange names -> the SetStateOfAllObjects property they act as and the
# field of the SetObjectStates dict that holds the wanted value; "sliceable" slices.
OBJECT_STATE_CHANGES = {
    "openable": ("CanOpen", "isOpen"),
    "toggleable": ("CanToggleOnOff", "isToggled"),
    "dirtyable": ("CanBeDirty", "isDirty"),
    "canFillWithLiquid": ("CanBeFilled", "isFilledWithLiquid"),
    "cookable": ("CanBeCooked", "isCooked"),
    "breakable": ("CanBreak", "isBroken"),
    "canBeUsedUp": ("CanBeUsedUp", "isUsedUp"),
    "sliceable": (None, "isSliced"),
}


def set_object_states(state: SceneState, cfg: Settings, args: dict[str, Any]) -> Outcome:
    """SetObjectStates: every object (of `objectType`, when given) with the `stateChange`
    property gets the state its field names (isOpen, isToggled…; one-way states only become
    true, "sliceable" slices without a knife); an unknown stateChange changes nothing."""
    spec = args.get("SetObjectStates")
    if not isinstance(spec, Mapping):
        return fail(msg.OBJECT_STATES_NULL)
    otype, change = spec.get("objectType"), spec.get("stateChange")
    if otype is None and change is None:
        return fail(msg.OBJECT_STATES_NO_STRINGS)
    if change is None:
        return fail(msg.OBJECT_STATES_NO_CHANGE)
    if otype is not None and otype not in thor_labels():
        return fail(msg.UNKNOWN_TYPE.format(type=otype))
    if change not in OBJECT_STATE_CHANGES:
        return Outcome()
    prop, field = OBJECT_STATE_CHANGES[change]
    value = spec.get(field, False)
    if not isinstance(value, bool):
        raise InvalidActionError(
            f"SetObjectStates.{field}", value, f"SetObjectStates.{field} must be true or false"
        )
    objects = [o for o in state.objects.values() if otype is None or o["objectType"] == otype]
    if prop is not None:
        give_state(state, objects, prop, value)
    elif value:
        for obj in objects:
            if obj.get("sliceable") and not obj["isSliced"] and obj["objectId"] != state.held:
                cut(state, obj["objectId"])
    return Outcome()
