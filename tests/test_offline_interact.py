"""OfflineController interactions and THOR's object rules on the real FloorPlan1 scene."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.object_types import object_types
from sim.offline import OfflineController, random_spawn
from sim.offline.rules import placement_error
from tests.floorplan1 import (
    APPLE,
    BASIN,
    BREAD,
    COFFEE,
    COUNTER,
    DRAWER,
    EGG,
    FAUCET,
    FRIDGE,
    KNIFE,
    MICROWAVE,
    MUG,
    POT,
    POTATO,
    START,
    TOASTER,
)


@pytest.fixture
def ctl() -> OfflineController:
    """FloorPlan1 from the recorded episodes' start pose."""
    c = OfflineController("FloorPlan1")
    c.reset("FloorPlan1", agent=START)
    return c


def do(ctl: OfflineController, action: str, oid: str | None = None, **kw) -> dict:
    """Step with forceAction and return the metadata."""
    if oid is not None:
        kw["objectId"] = oid
    return ctl.step(action=action, forceAction=True, **kw).metadata


def obj(meta: dict, oid: str) -> dict:
    """One object of an event's metadata."""
    return next(o for o in meta["objects"] if o["objectId"] == oid)


def check_consistency(meta: dict) -> None:
    """receptacleObjectIds is the inverse of parentReceptacles; hand and inventory agree."""
    objs = {o["objectId"]: o for o in meta["objects"]}
    for oid, o in objs.items():
        for p in o["parentReceptacles"] or ():
            assert oid in (objs[p]["receptacleObjectIds"] or ()), (oid, p)
        for c in o["receptacleObjectIds"] or ():
            assert oid in (objs[c]["parentReceptacles"] or ()), (oid, c)
    held = [k for k, o in objs.items() if o["isPickedUp"]]
    assert held == [i["objectId"] for i in meta["inventoryObjects"]]
    for k in held:
        assert objs[k]["parentReceptacles"] is None
        p, h = objs[k]["position"], meta["heldObjectPose"]["position"]
        assert np.allclose([p[a] for a in "xyz"], [h[a] for a in "xyz"], atol=1e-6)


def test_pickup_moves_object_to_hand_and_follows_agent(ctl):
    meta = do(ctl, "PickupObject", APPLE)
    assert meta["lastActionSuccess"], meta["errorMessage"]
    apple = obj(meta, APPLE)
    assert apple["isPickedUp"] and apple["parentReceptacles"] is None and apple["visible"]
    assert APPLE not in obj(meta, COUNTER)["receptacleObjectIds"]
    assert meta["inventoryObjects"] == [{"objectId": APPLE, "objectType": "Apple"}]
    check_consistency(meta)
    for action in ("RotateLeft", "MoveLeft", "LookDown"):
        meta = ctl.step(action=action).metadata
        check_consistency(meta)
    np.testing.assert_allclose(
        [obj(meta, APPLE)["position"][a] for a in "xyz"],
        [meta["heldObjectPose"]["position"][a] for a in "xyz"],
    )


def test_pickup_failures_leave_state(ctl):
    meta = ctl.step(action="PickupObject", objectId=APPLE).metadata  # behind the agent
    assert not meta["lastActionSuccess"] and "specified visibility" in meta["errorMessage"]
    meta = do(ctl, "PickupObject", FRIDGE)
    assert not meta["lastActionSuccess"] and "CanPickup" in meta["errorMessage"]
    meta = do(ctl, "PickupObject", "Apple|0|0|0")
    assert not meta["lastActionSuccess"] and "not the objectId" in meta["errorMessage"]
    do(ctl, "PickupObject", APPLE)
    before = ctl.last_event.metadata["objects"]
    meta = do(ctl, "PickupObject", MUG)
    assert not meta["lastActionSuccess"]
    assert [o["position"] for o in meta["objects"]] == [o["position"] for o in before]
    assert meta["inventoryObjects"][0]["objectId"] == APPLE


def test_fridge_must_be_open_even_with_force_and_cools(ctl):
    do(ctl, "PickupObject", APPLE)
    meta = do(ctl, "PutObject", FRIDGE)
    assert not meta["lastActionSuccess"] and "open" in meta["errorMessage"]
    assert obj(meta, APPLE)["isPickedUp"]
    do(ctl, "OpenObject", FRIDGE)
    meta = do(ctl, "PutObject", FRIDGE)
    assert meta["lastActionSuccess"], meta["errorMessage"]
    apple = obj(meta, APPLE)
    assert apple["parentReceptacles"][0] == FRIDGE and apple["temperature"] == "Cold"
    assert not apple["isPickedUp"] and meta["inventoryObjects"] == []
    assert apple["visible"]  # the open fridge is in view
    meta = do(ctl, "CloseObject", FRIDGE)
    assert not obj(meta, APPLE)["visible"]  # hidden inside the closed fridge
    check_consistency(meta)


def test_placement_rules(ctl):
    state = ctl.state
    assert object_types()["Apple"].compatible_receptacles  # the whitelist exists
    assert "Drawer" not in object_types()["Apple"].compatible_receptacles
    state.objects[DRAWER]["isOpen"] = True
    assert placement_error(state, APPLE, DRAWER, force=False) is not None
    assert placement_error(state, APPLE, DRAWER, force=True) is None  # force skips whitelist
    assert "not a valid Object Type" in placement_error(state, APPLE, TOASTER, force=True)
    assert "not a valid Object Type" in placement_error(state, APPLE, COFFEE, force=True)
    assert placement_error(state, MUG, COFFEE, force=False) is None
    assert "NOT a receptacle" in placement_error(state, MUG, APPLE, force=True)


def test_microwave_heats_cooks_and_locks_door(ctl):
    do(ctl, "OpenObject", MICROWAVE)
    meta = do(ctl, "ToggleObjectOn", MICROWAVE)
    assert not meta["lastActionSuccess"]  # cannot run while open
    do(ctl, "PickupObject", POTATO)
    assert do(ctl, "PutObject", MICROWAVE)["lastActionSuccess"]
    do(ctl, "CloseObject", MICROWAVE)
    meta = do(ctl, "ToggleObjectOn", MICROWAVE)
    assert meta["lastActionSuccess"]
    potato = obj(meta, POTATO)
    assert potato["isCooked"] and potato["temperature"] == "Hot"
    meta = do(ctl, "OpenObject", MICROWAVE)
    assert not meta["lastActionSuccess"] and not obj(meta, MICROWAVE)["isOpen"]
    meta = do(ctl, "ToggleObjectOn", MICROWAVE)
    assert not meta["lastActionSuccess"] and "already on" in meta["errorMessage"]
    do(ctl, "ToggleObjectOff", MICROWAVE)
    assert do(ctl, "OpenObject", MICROWAVE)["lastActionSuccess"]


def test_slicing_with_a_knife_creates_pieces():
    ctl = OfflineController("FloorPlan1", slice_requires_knife=True)
    ctl.reset("FloorPlan1", agent=START)
    meta = do(ctl, "SliceObject", APPLE)
    assert not meta["lastActionSuccess"] and "knife" in meta["errorMessage"]
    do(ctl, "PickupObject", KNIFE)
    meta = do(ctl, "SliceObject", APPLE)
    assert meta["lastActionSuccess"], meta["errorMessage"]
    pieces = [o for o in meta["objects"] if o["objectId"].startswith(APPLE + "|AppleSliced_")]
    assert len(pieces) > 1 and all(p["objectType"] == "AppleSliced" for p in pieces)
    assert all(p["parentReceptacles"][0] == COUNTER and p["pickupable"] for p in pieces)
    assert obj(meta, APPLE)["isSliced"]
    count = len(meta["objects"])
    meta = do(ctl, "SliceObject", APPLE)  # SliceObject.Slice returns early: no new pieces
    assert meta["lastActionSuccess"] and len(meta["objects"]) == count
    meta = do(ctl, "SliceObject", EGG)
    cracked = [o for o in meta["objects"] if o["objectType"] == "EggCracked"]
    assert len(cracked) == 1 and cracked[0]["objectId"] == EGG + "|EggCracked_0"
    assert cracked[0]["cookable"]
    check_consistency(meta)


def test_slicing_needs_a_knife_by_default_as_in_alfred():
    c = OfflineController("FloorPlan1")
    meta = c.step(action="SliceObject", objectId=BREAD, forceAction=True).metadata
    assert not meta["lastActionSuccess"]
    assert meta["errorMessage"] == "Agent must be holding a knife to slice an object."
    thor = OfflineController("FloorPlan1", slice_requires_knife=False)  # THOR's own rule
    meta = thor.step(action="SliceObject", objectId=BREAD, forceAction=True).metadata
    assert meta["lastActionSuccess"]
    assert any(o["objectType"] == "BreadSliced" for o in meta["objects"])


def test_toaster_toasts_bread_slices(ctl):
    do(ctl, "PickupObject", KNIFE)
    meta = do(ctl, "SliceObject", BREAD)
    piece = next(o["objectId"] for o in meta["objects"] if o["objectType"] == "BreadSliced")
    do(ctl, "DropHandObject")
    do(ctl, "PickupObject", piece)
    assert do(ctl, "PutObject", TOASTER)["lastActionSuccess"]
    meta = do(ctl, "ToggleObjectOn", TOASTER)
    assert obj(meta, piece)["isCooked"] and not obj(meta, BREAD)["isCooked"]


def test_faucet_cleans_and_fills_and_coffee_machine_fills(ctl):
    do(ctl, "DirtyObject", MUG)
    do(ctl, "PickupObject", MUG)
    assert do(ctl, "PutObject", BASIN)["lastActionSuccess"]
    meta = do(ctl, "ToggleObjectOn", FAUCET)
    mug = obj(meta, MUG)
    assert not mug["isDirty"] and mug["isFilledWithLiquid"] and mug["fillLiquid"] == "water"
    do(ctl, "ToggleObjectOff", FAUCET)
    do(ctl, "EmptyLiquidFromObject", MUG)
    do(ctl, "PickupObject", MUG)
    assert do(ctl, "PutObject", COFFEE)["lastActionSuccess"]
    meta = do(ctl, "ToggleObjectOn", COFFEE)
    mug = obj(meta, MUG)
    assert mug["fillLiquid"] == "coffee" and mug["temperature"] == "Hot"


def test_stove_knob_heats_pot_contents(ctl):
    objs = ctl.state.objects
    knob = next(k for k, o in objs.items() if o["objectType"] == "StoveKnob")
    burner = objs[knob]["controlledObjects"][0]
    do(ctl, "PickupObject", POT)
    assert do(ctl, "PutObject", burner)["lastActionSuccess"]
    do(ctl, "PickupObject", POTATO)
    meta = do(ctl, "PutObject", POT)
    assert meta["lastActionSuccess"], meta["errorMessage"]
    assert burner in obj(meta, POTATO)["parentReceptacles"]
    meta = do(ctl, "ToggleObjectOn", knob)
    assert obj(meta, burner)["isToggled"]
    assert obj(meta, POTATO)["isCooked"] and obj(meta, POT)["temperature"] == "Hot"


def test_drop_lands_on_floor(ctl):
    do(ctl, "PickupObject", APPLE)
    meta = do(ctl, "DropHandObject")
    apple = obj(meta, APPLE)
    assert apple["parentReceptacles"] == [ctl.state.floor_id]
    bottom = min(c[1] for c in apple["axisAlignedBoundingBox"]["cornerPoints"])
    assert bottom == pytest.approx(ctl.state.floor_top, abs=1e-6)
    assert not do(ctl, "DropHandObject")["lastActionSuccess"]


def test_state_changes_and_capability_checks(ctl):
    assert not do(ctl, "CookObject", MUG)["lastActionSuccess"]
    assert do(ctl, "CookObject", POTATO)["lastActionSuccess"]
    meta = do(ctl, "FillObjectWithLiquid", MUG, fillLiquid="wine")
    assert obj(meta, MUG)["fillLiquid"] == "wine"
    assert not do(ctl, "FillObjectWithLiquid", MUG, fillLiquid="lava")["lastActionSuccess"]
    assert not do(ctl, "FillObjectWithLiquid", APPLE, fillLiquid="water")["lastActionSuccess"]
    meta = do(ctl, "BreakObject", MUG)
    assert obj(meta, MUG)["isBroken"] and not obj(meta, MUG)["isFilledWithLiquid"]
    assert do(ctl, "BreakObject", MUG)["lastActionSuccess"]  # Break.BreakObject has no guard
    assert not do(ctl, "ToggleObjectOn", APPLE)["lastActionSuccess"]
    assert not do(ctl, "OpenObject", APPLE)["lastActionSuccess"]
    meta = do(ctl, "OpenObject", FRIDGE, openness=2.0)  # a failure in THOR, not a ValueError
    assert not meta["lastActionSuccess"] and not obj(meta, FRIDGE)["isOpen"]


def test_drawer_slides_out_and_back_with_contents(ctl):
    knife_drawer = "Drawer|-01.56|+00.84|-00.20"
    before = obj(ctl.last_event.metadata, knife_drawer)["position"]
    knife_before = obj(ctl.last_event.metadata, KNIFE)["position"]
    meta = do(ctl, "OpenObject", knife_drawer)
    moved = obj(meta, knife_drawer)["position"]
    delta = np.array([moved[a] - before[a] for a in "xyz"])
    assert 0.1 < np.linalg.norm(delta) < 0.5
    knife = obj(meta, KNIFE)["position"]
    np.testing.assert_allclose([knife[a] - knife_before[a] for a in "xyz"], delta, atol=1e-9)
    meta = do(ctl, "CloseObject", knife_drawer)
    back = obj(meta, knife_drawer)["position"]
    np.testing.assert_allclose([back[a] for a in "xyz"], [before[a] for a in "xyz"], atol=1e-9)


def test_initial_random_spawn_is_seeded_and_respects_whitelists(ctl):
    ev_a = ctl.step(action="InitialRandomSpawn", randomSeed=7)
    assert ev_a.metadata["lastActionSuccess"]
    other = OfflineController("FloorPlan1")
    other.reset("FloorPlan1", agent=START)
    ev_b = other.step(action="InitialRandomSpawn", randomSeed=7)
    pos = {o["objectId"]: o["position"] for o in ev_a.metadata["objects"]}
    assert pos == {o["objectId"]: o["position"] for o in ev_b.metadata["objects"]}
    original = OfflineController("FloorPlan1").state.objects
    moved = [k for k, p in pos.items() if p != original[k]["position"]]
    assert len(moved) >= 10
    types = {k: o["objectType"] for k, o in original.items()}
    for o in ev_a.metadata["objects"]:
        if o["objectId"] in moved:
            parent = types[o["parentReceptacles"][0]]
            assert parent in object_types()[o["objectType"]].compatible_receptacles
    check_consistency(ev_a.metadata)
    third = OfflineController("FloorPlan1")
    assert random_spawn(third.state, seed=8) >= 10
    assert {k: o["position"] for k, o in third.state.objects.items()} != pos


ACTIONS = [
    "PickupObject",
    "PutObject",
    "DropHandObject",
    "OpenObject",
    "CloseObject",
    "ToggleObjectOn",
    "ToggleObjectOff",
    "SliceObject",
    "MoveAhead",
    "RotateLeft",
    "RemoveFromScene",
]
IDS = [
    APPLE,
    FRIDGE,
    KNIFE,
    MUG,
    MICROWAVE,
    POTATO,
    BREAD,
    TOASTER,
    COFFEE,
    BASIN,
    POT,
    COUNTER,
    DRAWER,
]


def test_a_held_receptacle_cannot_be_put_into_itself() -> None:
    c = OfflineController("FloorPlan1")
    assert c.step(action="PickupObject", objectId=MUG, forceAction=True)
    e = c.step(action="PutObject", objectId=MUG, forceAction=True)
    assert not e and e.metadata["errorMessage"] == "No valid positions to place object found"
    assert obj(e.metadata, MUG)["isPickedUp"] and obj(e.metadata, MUG)["parentReceptacles"] is None
    check_consistency(e.metadata)


@settings(max_examples=20, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(ACTIONS), st.sampled_from(IDS)), max_size=20))
def test_random_interactions_keep_state_consistent(steps):
    c = OfflineController("FloorPlan1")
    for action, oid in steps:
        before = c.last_event.metadata["objects"]
        kw = {} if action in ("DropHandObject", "MoveAhead", "RotateLeft") else {"objectId": oid}
        meta = c.step(action=action, forceAction=True, **kw).metadata
        check_consistency(meta)
        if not meta["lastActionSuccess"]:
            keys = ("position", "isOpen", "isToggled", "parentReceptacles", "isPickedUp")
            assert [{k: o[k] for k in keys} for o in meta["objects"]] == [
                {k: o[k] for k in keys} for o in before
            ]
