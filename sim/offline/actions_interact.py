"""Object interactions: pick up, put, drop, open / close, toggle, slice, cook, clean, dirty, fill,
empty, break. Each handler returns an `Outcome`; a failure leaves the state unchanged.

forceAction skips the visibility check (and, for PutObject, the placement whitelist), as THOR.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sim.offline.errors import InvalidActionError
from sim.offline.geometry import box_dict
from sim.offline.placement import drop_target, put_spot
from sim.offline.rules import LIQUIDS, placement_error
from sim.offline.state import Outcome, SceneState, Settings, fail

# Slice products per sliceable type: (child type, number of pieces). Cookable children per the
# vendored type table's documented properties (BreadSliced, PotatoSliced, EggCracked).
SLICES = {"Apple": ("AppleSliced", 8), "Bread": ("BreadSliced", 10),
          "Lettuce": ("LettuceSliced", 7), "Tomato": ("TomatoSliced", 7),
          "Potato": ("PotatoSliced", 8), "Egg": ("EggCracked", 1)}
COOKABLE_SLICES = frozenset({"BreadSliced", "PotatoSliced", "EggCracked"})
KNIVES = frozenset({"Knife", "ButterKnife"})
DRAWER_SLIDE = 0.85  # fraction of a drawer's depth it slides out when opened (recorded episodes)


def _target(state: SceneState, args: dict[str, Any]) -> tuple[str | None, Outcome | None]:
    """The action's objectId if it exists and (unless forceAction) is visible."""
    oid = args["objectId"]
    if oid not in state.objects:
        return None, fail(f"Object ID {oid} appears to be invalid.")
    if not args.get("forceAction") and oid not in state.visible:
        return None, fail(f"{oid} is not interactable and (perhaps it is occluded by something).")
    return oid, None


def _property(state: SceneState, oid: str, flag: str, message: str) -> Outcome | None:
    return None if state.objects[oid].get(flag) else fail(f"{oid} {message}")


def pickup(state: SceneState, cfg: Settings, args: dict[str, Any]) -> Outcome:
    """PickupObject: the object (with what it holds) goes to the agent's hand."""
    oid, err = _target(state, args)
    if err:
        return err
    if state.held is not None:
        return fail(f"Agent's hand is not empty: already holding {state.held}.")
    err = _property(state, oid, "pickupable", "must have the property CanPickup to be picked up.")
    if err:
        return err
    state.attach(oid, None)
    obj = state.objects[oid]
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
    """PutObject (5.0.0 signature): objectId is the receptacle the held object goes on / in."""
    if state.held is None:
        return fail("Nothing is in the agent's hand to place.")
    rid, err = _target(state, args)
    if err:
        return err
    message = placement_error(state, state.held, rid, bool(args.get("forceAction")))
    if message:
        return fail(message)
    spot = put_spot(state, state.held, rid)
    if spot is None:
        return fail(f"No valid positions to place object found on {rid}.")
    _release(state, spot, rid)
    return Outcome()


def drop(state: SceneState, cfg: Settings, args: dict[str, Any]) -> Outcome:
    """DropHandObject: the held object falls onto whatever is below the hand."""
    if state.held is None:
        return fail("Nothing is in the agent's hand to drop.")
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
    oid, err = _target(state, args)
    if err:
        return err
    obj = state.objects[oid]
    if not obj.get("openable"):
        return fail(f"{oid} is not an Openable object")
    if obj["objectType"] == "Microwave" and obj.get("isToggled"):
        return fail(f"{oid} is on; a Microwave cannot be opened or closed while it is on.")
    openness = float(args.get("openness", 1.0)) if opening else 0.0
    if not 0.0 <= openness <= 1.0:
        raise InvalidActionError("openness", openness, "must be in [0, 1]")
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
    oid, err = _target(state, args)
    if err:
        return err
    obj = state.objects[oid]
    if not obj.get("toggleable"):
        return fail(f"{oid} is not toggleable")
    word = "on" if on else "off"
    if obj["isToggled"] == on:
        return fail(f"can't toggle object {word} if it's already {word}!")
    if on and obj.get("isBroken"):
        return fail(f"{oid} is broken and cannot be turned on.")
    if on and obj["objectType"] == "Microwave" and obj.get("isOpen"):
        return fail(f"{oid} is open; a Microwave cannot be turned on while it is open.")
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
        pieces.append({
            **parent, "name": f"{child_type}_{k}", "objectType": child_type,
            "objectId": f"{oid}|{child_type}_{k}",
            "position": {"x": float(centre[0]), "y": float(state.pos[i][1]),
                         "z": float(centre[2])},
            "axisAlignedBoundingBox": box,
            "objectOrientedBoundingBox": {"cornerPoints": box["cornerPoints"]},
            "sliceable": False, "isSliced": False, "pickupable": True, "isPickedUp": False,
            "breakable": False, "receptacle": False, "receptacleObjectIds": None,
            "cookable": child_type in COOKABLE_SLICES, "parentReceptacles": None,
            "mass": float(parent.get("mass") or 0.0) / n,
        })
    return pieces


def slice_object(state: SceneState, cfg: Settings, args: dict[str, Any]) -> Outcome:
    """SliceObject: needs a held knife (unless disabled); creates `<id>|<Type>Sliced_k` pieces."""
    oid, err = _target(state, args)
    if err:
        return err
    err = _property(state, oid, "sliceable", "is not sliceable!")
    if err:
        return err
    obj = state.objects[oid]
    if obj["isSliced"]:
        return fail(f"{oid} is already sliced.")
    if oid == state.held:
        return fail(f"{oid} cannot be sliced while it is held.")
    held_type = state.objects[state.held]["objectType"] if state.held else None
    if cfg.slice_requires_knife and held_type not in KNIVES:
        return fail("Agent must be holding a knife to slice an object.")
    parent = state.parents(oid)
    for piece in _slice_pieces(state, oid):
        state.add_object(piece)
        if parent:
            state.attach(piece["objectId"], parent[0])
    obj["isSliced"] = True
    state.invalidate()
    return Outcome()


def _set_flags(state: SceneState, args: dict[str, Any], flag: str, message: str,
               **values: Any) -> Outcome:
    oid, err = _target(state, args)
    if err:
        return err
    err = _property(state, oid, flag, message)
    if err:
        return err
    state.objects[oid].update(values)
    return Outcome()


def cook(state: SceneState, cfg: Settings, args: dict[str, Any]) -> Outcome:
    """CookObject."""
    return _set_flags(state, args, "cookable", "is not cookable!", isCooked=True)


def clean(state: SceneState, cfg: Settings, args: dict[str, Any]) -> Outcome:
    """CleanObject."""
    return _set_flags(state, args, "dirtyable", "is not dirtyable!", isDirty=False)


def dirty(state: SceneState, cfg: Settings, args: dict[str, Any]) -> Outcome:
    """DirtyObject."""
    return _set_flags(state, args, "dirtyable", "is not dirtyable!", isDirty=True)


def fill(state: SceneState, cfg: Settings, args: dict[str, Any]) -> Outcome:
    """FillObjectWithLiquid (fillLiquid: water, coffee or wine)."""
    liquid = args["fillLiquid"]
    if liquid not in LIQUIDS:
        raise InvalidActionError("fillLiquid", liquid, f"expected one of {', '.join(LIQUIDS)}")
    oid = args["objectId"]
    if oid in state.objects and state.objects[oid].get("isBroken"):
        return fail(f"{oid} is broken and cannot hold liquid.")
    return _set_flags(state, args, "canFillWithLiquid", "cannot be filled with liquid!",
                      isFilledWithLiquid=True, fillLiquid=liquid)


def empty(state: SceneState, cfg: Settings, args: dict[str, Any]) -> Outcome:
    """EmptyLiquidFromObject."""
    return _set_flags(state, args, "canFillWithLiquid", "cannot be filled with liquid!",
                      isFilledWithLiquid=False, fillLiquid=None)


def break_object(state: SceneState, cfg: Settings, args: dict[str, Any]) -> Outcome:
    """BreakObject: broken objects spill their liquid and switch off."""
    oid = args["objectId"]
    if oid in state.objects and state.objects[oid].get("isBroken"):
        return fail(f"{oid} is already broken.")
    values: dict[str, Any] = {"isBroken": True, "isFilledWithLiquid": False, "fillLiquid": None}
    if oid in state.objects and state.objects[oid].get("toggleable"):
        values["isToggled"] = False
    return _set_flags(state, args, "breakable", "is not breakable!", **values)
