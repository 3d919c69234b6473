"""Actions on the scene as a whole rather than one interaction: which objects the metadata
lists (B.SetObjectFilter, SetObjectFilterForType, ResetObjectFilter) and removing an object
(B.RemoveFromScene)."""

from __future__ import annotations

from typing import Any

from sim.offline import messages as msg
from sim.offline.restore import settle
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
    held = [k for k, o in state.objects.items() if oid in (o.get("parentReceptacles") or ())]
    state.attach(oid, None)
    for k in held:
        state.objects[k]["parentReceptacles"] = [p for p in state.parents(k) if p != oid] or None
    state.replace_objects({k: o for k, o in state.objects.items() if k != oid})
    if state.object_filter is not None:
        state.object_filter = state.object_filter - {oid}
    settle(state, held)
    return Outcome()
