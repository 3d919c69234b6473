"""Exact AI2-THOR 5.0.0 error messages of the offline simulator, one failure path per test.

The expected strings are written out from the Unity C# sources (see sim/offline/messages.py for
the method each comes from); only the stub stack trace is taken from the module.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.offline import OfflineController
from sim.offline.errors import InvalidActionError, UnknownSceneError
from sim.offline.messages import TRACE, cs_float, cs_vector
from sim.offline.placement import put_spot
from tests.floorplan1 import (
    APPLE,
    BREAD,
    FRIDGE,
    KNIFE,
    MICROWAVE,
    MUG,
    POTATO,
    SHELF,
    START,
    TOASTER,
)

OUT_OF_RANGE = "Specified argument was out of the range of valid values.\nParameter name: "


def thrown(exception: str, message: str) -> str:
    """How THOR reports an exception an action threw (ProcessControlCommand)."""
    return f"{exception}: {message}. trace: {TRACE}"


@pytest.fixture
def ctl() -> OfflineController:
    """FloorPlan1 from the recorded episodes' start pose (facing the fridge)."""
    c = OfflineController("FloorPlan1")
    c.reset("FloorPlan1", agent=START)
    return c


def error(
    ctl: OfflineController, action: str, oid: str | None = None, force: bool = True, **kw
) -> str:
    """errorMessage of a step that must fail (and leave the agent where it was)."""
    before = ctl.last_event.metadata["agent"]
    if oid is not None:
        kw["objectId"] = oid
    meta = ctl.step(action=action, forceAction=force, **kw).metadata
    assert not meta["lastActionSuccess"]
    assert meta["agent"] == before
    return meta["errorMessage"]


def ok(ctl: OfflineController, action: str, oid: str | None = None, **kw) -> dict:
    """Metadata of a forced step that must succeed."""
    if oid is not None:
        kw["objectId"] = oid
    meta = ctl.step(action=action, forceAction=True, **kw).metadata
    assert meta["lastActionSuccess"], meta["errorMessage"]
    return meta


def test_object_lookup(ctl):
    assert error(ctl, "PickupObject", "Apple|0|0|0") == thrown(
        "ArgumentException", "objectId: Apple|0|0|0 is not the objectId on any object in the scene!"
    )
    assert error(ctl, "OpenObject", APPLE, force=False) == thrown(  # behind the agent
        "NullReferenceException", "Target object not found within the specified visibility."
    )


@settings(max_examples=25, deadline=None)
@given(st.text(min_size=1, max_size=30))
def test_unknown_object_ids_are_named_verbatim(oid):
    c = OfflineController("FloorPlan1")
    if oid in c.state.objects:
        return
    for action in ("PickupObject", "ToggleObjectOn", "SliceObject", "PutObject"):
        meta = c.step(action=action, objectId=oid, forceAction=True).metadata
        assert meta["errorMessage"] == thrown(
            "ArgumentException", f"objectId: {oid} is not the objectId on any object in the scene!"
        )


def test_pickup_and_drop(ctl):
    assert error(ctl, "PickupObject", FRIDGE) == thrown(
        "InvalidOperationException", f"{FRIDGE} must have the property CanPickup to be picked up."
    )
    assert error(ctl, "DropHandObject") == thrown(
        "InvalidOperationException", "Nothing is in the agent's hand to drop!"
    )
    ok(ctl, "PickupObject", APPLE)
    assert error(ctl, "PickupObject", MUG) == thrown(
        "InvalidOperationException",
        "Agent hand has something in it already! Can't pick up anything else",
    )


def test_put(ctl):
    assert (
        error(ctl, "PutObject", FRIDGE) == "Can't place an object if Agent isn't holding anything"
    )
    ok(ctl, "PickupObject", APPLE)
    assert (
        error(ctl, "PutObject", FRIDGE)
        == "Target openable Receptacle is CLOSED, can't place if target is not open!"
    )
    assert error(ctl, "PutObject", POTATO) == "This target object is NOT a receptacle!"
    assert (
        error(ctl, "PutObject", TOASTER)
        == "Apple_3fef4551 is not a valid Object Type to be placed in Toaster_f30a9b32"
    )
    # The boxes leave no room under the shelf above; a forced put crowds it (put_spot), an
    # unforced one reports THOR's message.
    assert put_spot(ctl.state, APPLE, SHELF) is None
    assert put_spot(ctl.state, APPLE, SHELF, crowd=True) is not None
    ok(ctl, "PutObject", SHELF)


def test_put_whitelist_applies_without_force(ctl):
    ok(ctl, "PickupObject", APPLE)
    ctl.step(action="RotateRight", degrees=180)  # face the counter and the drawers
    drawer = "Drawer|-01.56|+00.66|-00.20"
    ok(ctl, "OpenObject", drawer)
    ctl.state.visible.add(drawer)  # the whitelist check is what is under test, not visibility
    assert (
        error(ctl, "PutObject", drawer, force=False)
        == "Apple_3fef4551 cannot be placed in Drawer_454fdaaf"
    )


def test_object_specific_receptacle_full(ctl):
    ok(ctl, "PickupObject", KNIFE)
    meta = ok(ctl, "SliceObject", BREAD)
    ok(ctl, "DropHandObject")
    slices = [o["objectId"] for o in meta["objects"] if o["objectType"] == "BreadSliced"]
    ok(ctl, "PickupObject", slices[0])
    ok(ctl, "PutObject", TOASTER)
    ok(ctl, "PickupObject", slices[1])
    assert error(ctl, "PutObject", TOASTER) == "Toaster_f30a9b32 is full right now"


def test_open_close(ctl):
    assert error(ctl, "OpenObject", APPLE) == f"{APPLE} is not an Openable object"
    assert error(ctl, "OpenObject", FRIDGE, openness=1.5) == "openness must be in [0:1]"
    ok(ctl, "OpenObject", FRIDGE)
    ok(ctl, "OpenObject", FRIDGE)  # no "already open" check in THOR
    ok(ctl, "ToggleObjectOn", MICROWAVE)
    assert error(ctl, "OpenObject", MICROWAVE) == "Target must be OFF to open!"
    assert error(ctl, "CloseObject", MICROWAVE) == "Target must be OFF to open!"


def test_toggle(ctl):
    assert error(ctl, "ToggleObjectOn", APPLE) == "object is not toggleable."
    burner = "StoveBurner|-00.47|+00.92|-02.37"
    assert error(ctl, "ToggleObjectOn", burner) == (
        "target object is controlled by another sim"
        " object. target object cannot be turned"
        " on/off directly"
    )
    assert (
        error(ctl, "ToggleObjectOff", MICROWAVE) == "can't toggle object off if it's already off!"
    )
    ok(ctl, "OpenObject", MICROWAVE)
    assert error(ctl, "ToggleObjectOn", MICROWAVE) == "Target must be closed to Toggle On!"
    ok(ctl, "CloseObject", MICROWAVE)
    ok(ctl, "ToggleObjectOn", MICROWAVE)
    assert error(ctl, "ToggleObjectOn", MICROWAVE) == "can't toggle object on if it's already on!"


def test_broken_objects_cannot_be_switched_on():
    c = OfflineController("FloorPlan201")
    tv = next(k for k, o in c.state.objects.items() if o["objectType"] == "Television")
    ok(c, "BreakObject", tv)
    assert error(c, "ToggleObjectOn", tv) == "Target is broken and cannot be Toggled On!"


def test_slice_cook_dirty_break(ctl):
    assert error(ctl, "SliceObject", MUG) == "Mug_e7fad100 Does not have the CanBeSliced property!"
    ok(ctl, "PickupObject", POTATO)
    assert (
        error(ctl, "SliceObject", POTATO)
        == "target object cannot be sliced if it is in the agent's hand"
    )
    assert error(ctl, "CookObject", MUG) == "target object is not cookable"
    ok(ctl, "CookObject", POTATO)
    assert error(ctl, "CookObject", POTATO) == f"{POTATO} is already Toasted!"
    assert error(ctl, "DirtyObject", APPLE) == "Apple_3fef4551 does not have CanBeDirty property!"
    assert error(ctl, "CleanObject", APPLE) == "Apple_3fef4551 does not have dirtyable property!"
    assert error(ctl, "CleanObject", MUG) == "Mug_e7fad100 is already Clean!"
    ok(ctl, "DirtyObject", MUG)
    assert error(ctl, "DirtyObject", MUG) == "Mug_e7fad100 is already dirty!"
    assert (
        error(ctl, "BreakObject", APPLE) == "Apple_3fef4551 does not have the CanBreak property!!"
    )


def test_fill_and_empty(ctl):
    assert error(ctl, "FillObjectWithLiquid", APPLE, fillLiquid="water") == thrown(
        "ArgumentException", "Apple_3fef4551 does not have CanBeFilled property!"
    )
    assert error(ctl, "FillObjectWithLiquid", MUG) == thrown(
        "InvalidOperationException", "Missing Liquid string for FillObject action"
    )
    assert error(ctl, "FillObjectWithLiquid", MUG, fillLiquid="Lava") == thrown(
        "ArgumentException", "lava is not a valid Liquid Type"
    )
    assert error(ctl, "EmptyLiquidFromObject", MUG) == "object already empty"
    assert (
        error(ctl, "EmptyLiquidFromObject", APPLE)
        == "Apple_3fef4551 does not have CanBeFilled property!"
    )
    mug = next(
        o
        for o in ok(ctl, "FillObjectWithLiquid", MUG, fillLiquid="Coffee")["objects"]
        if o["objectId"] == MUG
    )
    assert (mug["fillLiquid"], mug["temperature"]) == ("coffee", "Hot")
    assert error(ctl, "FillObjectWithLiquid", MUG, fillLiquid="water") == thrown(
        "InvalidOperationException", "Mug_e7fad100 is already Filled!"
    )


def test_navigation(ctl):
    assert (
        error(ctl, "MoveAhead", force=False, moveMagnitude=0.75)
        == "Fridge_e92350c6 is blocking Agent 0 from moving by (-0.7500, 0.0000, 0.0000)."
    )
    assert error(ctl, "MoveBack", force=False, moveMagnitude=0) == thrown(
        "InvalidOperationException", "moveMagnitude must be > 0"
    )
    assert error(ctl, "RotateLeft", force=False, degrees=0) == thrown(
        "InvalidOperationException",
        "Cannot rotate by 0 degrees as this previously defaulted to rotating by a diferent amount.",
    )
    assert (
        error(ctl, "LookUp", force=False, degrees=-10)
        == "LookUp action requires positive degree value. Invalid value used: -10"
    )
    assert (
        error(ctl, "LookDown", force=False, degrees=0.05)
        == "LookDown action requires degree value to be a multiple of 0.1f"
    )
    assert (
        error(ctl, "LookUp", force=False, degrees=40)
        == "can't look up beyond 30 degrees above the forward horizon"
    )
    assert ctl.last_event.metadata["errorCode"] == "LookDownCantExceedMin"
    assert (
        error(ctl, "LookDown", force=False, degrees=70)
        == "can't look down beyond 60 degrees below the forward horizon"
    )
    assert error(ctl, "Stand", force=False) == "Already standing."
    ctl.step(action="Crouch")
    assert error(ctl, "Crouch", force=False) == "Already crouching."


def test_teleport(ctl):
    def teleport_error(**kw) -> str:
        return error(ctl, "Teleport", force=False, **kw)

    assert teleport_error(rotation={"x": 10, "y": 90, "z": 0}) == thrown(
        "ArgumentOutOfRangeException",
        OUT_OF_RANGE + "No agents currently can change in pitch"
        " or roll. So, you must set rotation(x=0, y=yaw, z=0). You gave"
        " (10.000000, 90.000000, 0.000000).",
    )
    assert teleport_error(horizon=80) == thrown(
        "ArgumentOutOfRangeException",
        OUT_OF_RANGE + "Each horizon must be in [-30:60]. You gave 80.",
    )
    assert teleport_error(position={"x": 50.0, "y": 0.9, "z": 0.0}) == thrown(
        "ArgumentOutOfRangeException",
        OUT_OF_RANGE + "Teleport position (50.000000, 0.900000,"
        " 0.000000) out of scene bounds! Ignore this by setting forceAction=true.",
    )
    assert teleport_error(position={"x": -1.1, "y": 0.9, "z": 1.0}) == thrown(
        "ArgumentOutOfRangeException",
        OUT_OF_RANGE + "Teleport position (-1.100000, 0.900000,"
        " 1.000000) is not on the grid of size 0.25.",
    )
    assert teleport_error(position={"x": -1.75, "y": 0.9, "z": 1.0}) == thrown(
        "InvalidOperationException", f"Collided with: {FRIDGE}."
    )
    change = 2.0 - ctl.state.agent_height()
    assert teleport_error(position={"x": -1.0, "y": 2.0, "z": 1.0}) == thrown(
        "InvalidOperationException",
        "After teleporting and adjusting agent position to floor,"
        f" there was too large a change({change:.7g} > 0.05) in the y component. Consider using"
        " `forceAction=true` if you'd like to teleport anyway.",
    )
    assert ctl.step(action="Teleport", horizon=80, forceAction=True).metadata["lastActionSuccess"]


@pytest.mark.parametrize(
    ("kwargs", "message", "code"),
    [
        ({"action": "Fly"}, "Invalid action: Fly", "InvalidAction"),
        (
            {"action": "PickupObject"},
            "action: PickupObject is missing the following arguments: objectId",
            "MissingArguments",
        ),
        (
            {"action": "MoveAhead", "speed": 2},
            "\n\tAction: \"MoveAhead\" called with invalid argument: 'speed'"
            "\n\tExpected arguments: float moveMagnitude\n\tYour arguments: 'speed'",
            "InvalidArgument",
        ),
        (
            {"action": "MoveAhead", "speed": 2, "pace": 1},
            "\n\tAction: \"MoveAhead\" called with invalid arguments: 'speed', 'pace'"
            "\n\tExpected arguments: float moveMagnitude\n\tYour arguments: 'speed', 'pace'",
            "InvalidArgument",
        ),
        (
            {"action": "MoveAhead", "moveMagnitude": "far"},
            "action: MoveAhead has an invalid argument: moveMagnitude (==far). "
            "Cannot convert to: float",
            "InvalidArgument",
        ),
    ],
)
def test_dispatcher_errors_raise_value_error(ctl, kwargs, message, code):
    with pytest.raises(ValueError) as info:
        ctl.step(**kwargs)
    assert isinstance(info.value, InvalidActionError)
    assert info.value.reason == message and str(info.value).endswith(message)
    meta = ctl.last_event.metadata
    assert (meta["errorMessage"], meta["errorCode"]) == (message, code)


def test_unknown_scene_message():
    with pytest.raises(UnknownSceneError) as info:
        OfflineController("FloorPlan999")
    head = (
        "\nScene 'FloorPlan999_physics' not contained in build (scene names are case"
        " sensitive).\nPlease choose one of the following scene names:\n\n"
    )
    assert info.value.reason.startswith(head)
    listed = info.value.reason[len(head) :].split(", ")
    assert len(listed) == 120 and listed == sorted(listed)
    assert listed[:3] == ["FloorPlan10_physics", "FloorPlan11_physics", "FloorPlan12_physics"]
    with pytest.raises(UnknownSceneError) as info:
        OfflineController("Kitchen")
    assert info.value.reason.startswith("\nScene 'Kitchen' not contained in build")


def test_initialize_messages(ctl):
    with pytest.raises(InvalidActionError) as info:
        ctl.reset(gridSize=7)
    assert info.value.reason == "grid size must be in the range (0,5]"
    with pytest.raises(InvalidActionError) as info:
        ctl.reset(fieldOfView=180)
    assert info.value.reason == "fov must be set to (0, 180) noninclusive."
    with pytest.raises(InvalidActionError) as info:
        ctl.reset(rotateStepDegrees=0)
    assert info.value.reason == "rotateStepDegrees must be a non-zero, non-negative float"
    assert ctl.settings.grid_size == 0.25 and ctl.settings.field_of_view == 90


def test_initial_random_spawn(ctl):
    assert (
        error(ctl, "InitialRandomSpawn", excludedReceptacles=["Spaceship"])
        == "invalid Object Type used in excludedReceptacles array: Spaceship"
    )
    assert (
        error(ctl, "InitialRandomSpawn", excludedObjectIds=["Apple|0|0|0"])
        == "Cannot find sim object with id 'Apple|0|0|0'"
    )
    assert (
        error(ctl, "InitialRandomSpawn", numPlacementAttempts=0)
        == "numPlacementAttempts must be a positive integer."
    )
    ok(ctl, "PickupObject", APPLE)
    meta = ok(ctl, "InitialRandomSpawn", randomSeed=3)  # THOR drops what the agent holds
    assert meta["inventoryObjects"] == []


@given(st.floats(min_value=-1e6, max_value=1e6, allow_nan=False))
def test_cs_float_keeps_seven_significant_digits(x):
    text = cs_float(x)
    assert "e" not in text
    assert float(text) == pytest.approx(x, rel=1e-6, abs=1e-30)


@given(
    st.lists(st.floats(min_value=-1e4, max_value=1e4, allow_nan=False), min_size=3, max_size=3),
    st.integers(min_value=1, max_value=6),
)
def test_cs_vector_format(values, digits):
    text = cs_vector(values, digits)
    parts = text[1:-1].split(", ")
    assert text[0] == "(" and text[-1] == ")" and len(parts) == 3
    for part, v in zip(parts, values, strict=True):
        assert len(part.split(".")[1]) == digits
        assert float(part) == pytest.approx(v, abs=10.0**-digits)
        assert part != "-" + "0." + "0" * digits  # Mono prints no negative zero
