"""THOR's object rules: what a receptacle accepts, and what appliances do to their contents.

Placement: the held type's whitelist (`compatible_receptacles`, skipped by forceAction), the
must-be-open rule and object-specific receptacles (Toaster takes only BreadSliced, CoffeeMachine
only Mug, one at a time; neither is skipped by forceAction). Appliance effects, applied after every
interaction: a Fridge makes its contents Cold; a Microwave, Toaster or StoveBurner that is on
makes its contents Hot and cooks the cookable ones (through a Pan / Pot on a burner too); a
CoffeeMachine that is on fills an empty Mug with coffee; a running Faucet cleans and fills
with water what is in the sink / bath basin under it.
"""

from __future__ import annotations

import numpy as np

from sim.object_types import object_types
from sim.offline import messages as msg
from sim.offline.state import SceneState

COOKING_APPLIANCES = frozenset({"Microwave", "Toaster", "StoveBurner"})
FAUCET_BASIN_RANGE = 1.2  # metres between a faucet and the basin it pours into
LIQUIDS = ("water", "coffee", "wine")


def placement_error(state: SceneState, held: str, receptacle: str, force: bool) -> str | None:
    """THOR's error message when `held` cannot go on / in `receptacle`, else None.

    The checks and their order are PhysicsRemoteFPSAgentController.placeHeldObject's: a
    receptacle at all, open if it must be, an object-specific receptacle's type and vacancy
    (which then skips the whitelist), and the held type's whitelist unless forceAction.
    """
    rec, obj = state.objects[receptacle], state.objects[held]
    rtype, otype = rec["objectType"], obj["objectType"]
    if not rec.get("receptacle"):
        return msg.NOT_A_RECEPTACLE
    facts = object_types().get(rtype)
    if rec.get("openable") and not rec["isOpen"] and facts is not None and facts.must_be_open:
        return msg.RECEPTACLE_CLOSED
    if facts is not None and facts.object_specific:
        full = bool(rec.get("receptacleObjectIds"))
        if otype in facts.can_contain and not full:
            return None
        template = msg.RECEPTACLE_FULL if full else msg.WRONG_SPECIFIC_TYPE
        return template.format(held=obj["name"], receptacle=rec["name"])
    if not force:
        ofacts = object_types().get(otype)
        whitelist = ofacts.compatible_receptacles if ofacts is not None else frozenset()
        if whitelist and rtype not in whitelist:
            return msg.NOT_ALLOWED_IN.format(held=obj["name"], receptacle=rec["name"])
    return None


def faucet_basins(state: SceneState) -> dict[str, str]:
    """Each faucet's basin: the basin of the fixture it is mounted on (a bathtub's faucet
    pours into that bathtub's basin, whose id extends the bathtub's), else the nearest
    SinkBasin / BathtubBasin within range."""
    basins = [
        k for k, o in state.objects.items() if o["objectType"] in ("SinkBasin", "BathtubBasin")
    ]
    out: dict[str, str] = {}
    for f, o in state.objects.items():
        if o["objectType"] != "Faucet" or not basins:
            continue
        mounted = [
            b for b in basins for p in o.get("parentReceptacles") or () if b.startswith(p + "|")
        ]
        if mounted:
            out[f] = mounted[0]
            continue
        d = np.linalg.norm(
            state.pos[[state.row[b] for b in basins]] - state.pos[state.row[f]], axis=1
        )
        if d.min() <= FAUCET_BASIN_RANGE:
            out[f] = basins[int(np.argmin(d))]
    return out


def _heat(obj: dict, cook: bool) -> None:
    obj["temperature"] = "Hot"
    if cook and obj.get("cookable"):
        obj["isCooked"] = True


def apply_effects(state: SceneState, basins: dict[str, str]) -> None:
    """Apply the appliances' effects to everything inside / on them (idempotent)."""
    objs = state.objects
    for k, o in objs.items():
        parents = o.get("parentReceptacles")
        if not parents or k == state.held:
            continue
        for p in parents:
            src = objs[p]
            ptype = src["objectType"]
            if src.get("isColdSource") and ptype == "Fridge":
                o["temperature"] = "Cold"
            elif ptype in COOKING_APPLIANCES and src.get("isToggled"):
                if ptype != "Toaster" or o["objectType"] == "BreadSliced":
                    _heat(o, cook=True)
            elif (
                ptype == "CoffeeMachine"
                and src.get("isToggled")
                and o.get("canFillWithLiquid")
                and not o["isFilledWithLiquid"]
            ):
                o["isFilledWithLiquid"], o["fillLiquid"], o["temperature"] = True, "coffee", "Hot"
    for faucet, basin in basins.items():
        if not objs[faucet].get("isToggled"):
            continue
        for k in state.descendants(basin):
            o = objs[k]
            if o.get("dirtyable"):
                o["isDirty"] = False
            if o.get("canFillWithLiquid") and not o["isFilledWithLiquid"] and not o["isBroken"]:
                o["isFilledWithLiquid"], o["fillLiquid"] = True, "water"
