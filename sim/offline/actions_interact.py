"""Object interactions: pick up, put, drop, open / close, toggle, slice, cook, clean, dirty, fill,
empty, break. Each handler returns an `Outcome`; a failure leaves the state unchanged.

forceAction skips the visibility check (and, for PutObject, the placement whitelist), as THOR.
Checks run in THOR's order and fail with its messages (see `messages`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sim.offline import messages as msg
from sim.offline.geometry import box_dict
from sim.offline.placement import drop_target, put_spot
from sim.offline.rules import LIQUIDS, placement_error
from sim.offline.state import Outcome, SceneState, Settings, fail

# Slice products per sliceable type: (child type, number of pieces). Cookable children per the
# vendored type table's documented properties (BreadSliced, PotatoSliced, EggCracked).
SLICES = {
    "Apple": ("AppleSliced", 8),
    "Bread": ("BreadSliced", 10),
    "Lettuce": ("LettuceSliced", 7),
    "Tomato": ("TomatoSliced", 7),
    "Potato": ("PotatoSliced", 8),
    "Egg": ("EggCracked", 1),
}
COOKABLE_SLICES = frozenset({"BreadSliced", "PotatoSliced", "EggCracked"})
KNIVES = frozenset({"Knife", "ButterKnife"})
MUST_BE_OFF_TO_OPEN = frozenset({"Microwave"})  # CanOpen_Object.MustBeOffToOpen
MUST_BE_CLOSED_TO_TURN_ON = frozenset({"Microwave"})  # CanToggleOnOff.MustBeClosedToTurnOn
DRAWER_SLIDE = 0.85  # fraction of a drawer's depth it slides out when opened (recorded episodes)


def _target(state: SceneState, args: dict[str, Any]) -> tuple[str | None, Outcome | None]:
    """The action's objectId if it exists and (unless forceAction) is visible: THOR's
    getInteractableSimObjectFromId, which every objectId action runs first."""
    oid = args["objectId"]
    if oid not in state.objects:
        return None, fail(msg.NO_SUCH_OBJECT.format(oid=oid))
    if not args.get("forceAction") and oid not in state.visible:
        return None, fail(msg.NOT_VISIBLE.format())
    return oid, None


def _lacks(obj: dict[str, Any], flag: str, refusal: str | msg.Thrown) -> Outcome | None:
    """THOR's refusal when the object lacks the capability `flag`, else None."""
    return None if obj.get(flag) else fail(refusal.format(oid=obj["objectId"], name=obj["name"]))


def _capable(
    state: SceneState, args: dict[str, Any], flag: str, refusal: str | msg.Thrown
) -> tuple[dict[str, Any], Outcome | None]:
    """The target object and, when it is missing, invisible or lacks `flag`, THOR's refusal."""
    oid, err = _target(state, args)
    if err:
        return {}, err
    obj = state.objects[oid]
    return obj, _lacks(obj, flag, refusal)


def pickup(state: SceneState, cfg: Settings, args: dict[str, Any]) -> Outcome:
    """PickupObject: the object (with what it holds) goes to the agent's hand."""
    obj, err = _capable(state, args, "pickupable", msg.NOT_PICKUPABLE)
    if err:
        return err
    if state.held is not None:
        return fail(msg.HAND_FULL.format())
    oid = obj["objectId"]
    state.attach(oid, None)
    obj["isPickedUp"] = True
    obj["rotation"] = {"x": 0.0, "y": state.agent.yaw, "z": 0.0}
    state.held = oid
    state.place_held_in_hand()
    return Outcome()


def _release(state: SceneState, position: np.ndarray, support: str | None) -> None:
    held = state.held
    state.move(held, position - state.pos[state.row[held]])
    state.held = None
    state.objects[held]["isPickedUp"] = False
    state.attach(held, support)


def put(state: SceneState, cfg: Settings, args: dict[str, Any]) -> Outcome:
    """PutObject (5.0.0 signature): objectId is the receptacle the held object goes on / in;
    with forceAction the objects on a receptacle the boxes call full make room (`put_spot`)."""
    rid, err = _target(state, args)
    if err:
        return err
    if state.held is None:
        return fail(msg.NOTHING_TO_PUT)
    if rid == state.held:  # a held mug has no room inside itself for itself
        return fail(msg.NO_PLACE_FOUND)
    message = placement_error(state, state.held, rid, bool(args.get("forceAction")))
    if message:
        return fail(message)
    spot = put_spot(state, state.held, rid, crowd=bool(args.get("forceAction")))
    if spot is None:
        return fail(msg.NO_PLACE_FOUND)
    _release(state, spot, rid)
    return Outcome()


def drop(state: SceneState, cfg: Settings, args: dict[str, Any]) -> Outcome:
    """DropHandObject / DropHeldObject: the held object falls onto whatever is below the hand."""
    if state.held is None:
        return fail(msg.NOTHING_TO_DROP.format())
    _release(state, *drop_target(state, state.held))
    return Outcome()


def _drawer_slide(state: SceneState, oid: str) -> np.ndarray:
    """Translation of a drawer opening: along the box axis that points to the nearest free spot."""
    i = state.row[oid]
    p = state.pos[i]
    pts = state.grid.points
    to_room = pts[np.argmin(np.linalg.norm(pts - p[[0, 2]], axis=1))] - p[[0, 2]]
    axis = 0 if abs(to_room[0]) >= abs(to_room[1]) else 1
    out = np.zeros(3)
    out[2 * axis] = np.sign(to_room[axis]) * DRAWER_SLIDE * (state.hi[i] - state.lo[i])[2 * axis]
    return out


def _set_open(state: SceneState, args: dict[str, Any], opening: bool) -> Outcome:
    """BaseFPSAgentController.openObject: no "already open / closed" check, as THOR."""
    oid, err = _target(state, args)
    if err:
        return err
    openness = float(args.get("openness", 1.0)) if opening else 0.0
    if not 0.0 <= openness <= 1.0:
        return fail(msg.OPENNESS_RANGE)
    obj = state.objects[oid]
    if not obj.get("openable"):
        return fail(msg.NOT_OPENABLE.format(oid=oid))
    if obj["objectType"] in MUST_BE_OFF_TO_OPEN and obj.get("isToggled"):
        return fail(msg.MUST_BE_OFF_TO_OPEN)
    if obj["objectType"] == "Drawer" and bool(openness > 0) != obj["isOpen"]:
        slide = state.slides.pop(oid, None) if not opening else None
        if slide is None:
            slide = _drawer_slide(state, oid)
        if opening:
            state.slides[oid] = slide
        state.move(oid, slide if opening else -slide)
    obj["isOpen"], obj["openness"] = openness > 0, openness
    state.invalidate()
    return Outcome()


def open_object(state: SceneState, cfg: Settings, args: dict[str, Any]) -> Outcome:
    """OpenObject (optional openness in [0, 1])."""
    return _set_open(state, args, True)


def close_object(state: SceneState, cfg: Settings, args: dict[str, Any]) -> Outcome:
    """CloseObject."""
    return _set_open(state, args, False)


def _toggle(state: SceneState, args: dict[str, Any], on: bool) -> Outcome:
    """PhysicsRemoteFPSAgentController.toggleObject's checks, in its order."""
    oid, err = _target(state, args)
    if err:
        return err
    obj = state.objects[oid]
    if not obj.get("toggleable"):  # a stove burner is switched by its knob
        controlled = any(oid in (o.get("controlledObjects") or ()) for o in state.objects.values())
        return fail(msg.CONTROLLED_ELSEWHERE if controlled else msg.NOT_TOGGLEABLE)
    if obj["isToggled"] == on:
        return fail(msg.ALREADY_ON if on else msg.ALREADY_OFF)
    if on and obj["objectType"] in MUST_BE_CLOSED_TO_TURN_ON and obj.get("isOpen"):
        return fail(msg.MUST_BE_CLOSED_TO_TURN_ON)
    if on and obj.get("breakable") and obj.get("isBroken"):
        return fail(msg.BROKEN_CANNOT_TURN_ON)
    for k in (oid, *(obj.get("controlledObjects") or ())):
        if k in state.objects:
            state.objects[k]["isToggled"] = on
    return Outcome()


def toggle_on(state: SceneState, cfg: Settings, args: dict[str, Any]) -> Outcome:
    """ToggleObjectOn (a StoveKnob also turns on the burners it controls)."""
    return _toggle(state, args, True)


def toggle_off(state: SceneState, cfg: Settings, args: dict[str, Any]) -> Outcome:
    """ToggleObjectOff."""
    return _toggle(state, args, False)


def _slice_pieces(state: SceneState, oid: str) -> list[dict[str, Any]]:
    """New slice objects of `oid`: its box cut into equal slabs along x."""
    parent = state.objects[oid]
    child_type, n = SLICES.get(parent["objectType"], (parent["objectType"] + "Sliced", 1))
    i = state.row[oid]
    lo, hi = state.lo[i], state.hi[i]
    edges = np.linspace(lo[0], hi[0], n + 1)
    pieces = []
    for k in range(n):
        plo, phi = lo.copy(), hi.copy()
        plo[0], phi[0] = edges[k], edges[k + 1]
        box = box_dict(plo, phi)
        centre = (plo + phi) / 2
        pieces.append(
            {
                **parent,
                "name": f"{child_type}_{k}",
                "objectType": child_type,
                "objectId": f"{oid}|{child_type}_{k}",
                "position": {
                    "x": float(centre[0]),
                    "y": float(state.pos[i][1]),
                    "z": float(centre[2]),
                },
                "axisAlignedBoundingBox": box,
                "objectOrientedBoundingBox": {"cornerPoints": box["cornerPoints"]},
                "sliceable": False,
                "isSliced": False,
                "pickupable": True,
                "isPickedUp": False,
                "breakable": False,
                "receptacle": False,
                "receptacleObjectIds": None,
                "cookable": child_type in COOKABLE_SLICES,
                "parentReceptacles": None,
                "mass": float(parent.get("mass") or 0.0) / n,
            }
        )
    return pieces


def slice_object(state: SceneState, cfg: Settings, args: dict[str, Any]) -> Outcome:
    """SliceObject: creates `<id>|<Type>Sliced_k` pieces; slicing a sliced object changes
    nothing (SliceObject.Slice returns early). No knife unless `slice_requires_knife`."""
    oid, err = _target(state, args)
    if err:
        return err
    if oid == state.held:
        return fail(msg.SLICE_HELD)
    obj = state.objects[oid]
    err = _lacks(obj, "sliceable", msg.NOT_SLICEABLE)
    if err:
        return err
    if obj["isSliced"]:
        return Outcome()
    held_type = state.objects[state.held]["objectType"] if state.held else None
    if cfg.slice_requires_knife and held_type not in KNIVES:
        return fail(msg.NEEDS_KNIFE)
    cut(state, oid)
    return Outcome()


def cut(state: SceneState, oid: str) -> None:
    """Replace the look of `oid` by its slices (added where it stands) and mark it sliced."""
    parent = state.parents(oid)
    for piece in _slice_pieces(state, oid):
        state.add_object(piece)
        if parent:
            state.attach(piece["objectId"], parent[0])
    state.objects[oid]["isSliced"] = True
    state.invalidate()


def cook(state: SceneState, cfg: Settings, args: dict[str, Any]) -> Outcome:
    """CookObject."""
    obj, err = _capable(state, args, "cookable", msg.NOT_COOKABLE)
    if err:
        return err
    if obj["isCooked"]:
        return fail(msg.ALREADY_COOKED.format(oid=obj["objectId"]))
    obj["isCooked"] = True
    return Outcome()


def _set_dirty(state: SceneState, args: dict[str, Any], dirty: bool) -> Outcome:
    refusal, done = (
        (msg.NOT_DIRTYABLE_DIRTY, msg.ALREADY_DIRTY)
        if dirty
        else (msg.NOT_DIRTYABLE_CLEAN, msg.ALREADY_CLEAN)
    )
    obj, err = _capable(state, args, "dirtyable", refusal)
    if err:
        return err
    if obj["isDirty"] == dirty:
        return fail(done.format(name=obj["name"]))
    obj["isDirty"] = dirty
    return Outcome()


def clean(state: SceneState, cfg: Settings, args: dict[str, Any]) -> Outcome:
    """CleanObject."""
    return _set_dirty(state, args, False)


def dirty(state: SceneState, cfg: Settings, args: dict[str, Any]) -> Outcome:
    """DirtyObject."""
    return _set_dirty(state, args, True)


def use_up(state: SceneState, cfg: Settings, args: dict[str, Any]) -> Outcome:
    """UseUpObject: a toilet paper roll or a tissue box runs out (one way)."""
    obj, err = _capable(state, args, "canBeUsedUp", msg.NOT_USABLE_UP)
    if err:
        return err
    if obj["isUsedUp"]:
        return fail(msg.ALREADY_USED_UP)
    obj["isUsedUp"] = True
    return Outcome()


def fill(state: SceneState, cfg: Settings, args: dict[str, Any]) -> Outcome:
    """FillObjectWithLiquid (fillLiquid: water, coffee or wine, any case); coffee is hot."""
    oid, err = _target(state, args)
    if err:
        return err
    if args.get("fillLiquid") is None:
        return fail(msg.MISSING_LIQUID.format())
    liquid = args["fillLiquid"].lower()
    obj = state.objects[oid]
    err = _lacks(obj, "canFillWithLiquid", msg.NOT_FILLABLE)
    if err:
        return err
    if liquid not in LIQUIDS:
        return fail(msg.INVALID_LIQUID.format(liquid=liquid))
    if obj["isFilledWithLiquid"]:
        return fail(msg.ALREADY_FILLED.format(name=obj["name"]))
    obj["isFilledWithLiquid"], obj["fillLiquid"] = True, liquid
    if liquid == "coffee":
        obj["temperature"] = "Hot"
    return Outcome()


def empty(state: SceneState, cfg: Settings, args: dict[str, Any]) -> Outcome:
    """EmptyLiquidFromObject."""
    obj, err = _capable(state, args, "canFillWithLiquid", msg.NOT_FILLABLE_EMPTY)
    if err:
        return err
    if not obj["isFilledWithLiquid"]:
        return fail(msg.ALREADY_EMPTY)
    obj["isFilledWithLiquid"], obj["fillLiquid"] = False, None
    return Outcome()


def break_object(state: SceneState, cfg: Settings, args: dict[str, Any]) -> Outcome:
    """BreakObject: broken objects spill their liquid and switch off; a held one leaves the hand.
    Breaking a broken object succeeds again (Break.BreakObject has no guard)."""
    obj, err = _capable(state, args, "breakable", msg.NOT_BREAKABLE)
    if err:
        return err
    if obj["objectId"] == state.held:
        _release(state, *drop_target(state, state.held))
    obj.update(isBroken=True, isFilledWithLiquid=False, fillLiquid=None)
    if obj.get("toggleable"):
        obj["isToggled"] = False
    return Outcome()
