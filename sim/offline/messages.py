"""AI2-THOR 5.0.0's error messages, in one table, each with the C# (or Python) code it comes from.

The strings were read from allenai/ai2thor's Unity sources of the ProcTHOR era that ships as
ai2thor 5.0.0 (the stored copies are not pinned to the 5.0.0 commit f0825767, so each entry names
the method rather than a line number, which differs between commits). Sources:

- B: unity/Assets/Scripts/BaseFPSAgentController.cs (allenai/ai2thor@000cdc4e)
- P: unity/Assets/Scripts/PhysicsRemoteFPSAgentController.cs (ProcTHOR-era copy, 381,927 chars;
  CLAW-Lab/ai2thor@ebe7982 holds a near-identical fork of it)
- C: unity/Assets/Scripts/CanOpen_Object.cs, CanToggleOnOff.cs, ReceptacleRestrictions.cs,
  SliceObject.cs, Break.cs, Fill.cs (conditions only; they hold no messages)
- py: ai2thor/controller.py of the installed ai2thor 5.0.0 package (reset, line 671; step's
  ValueError for the InvalidAction / MissingArguments / AmbiguousAction / InvalidArgument
  codes, lines 1003-1009)

A C# action either sets `errorMessage` (a `str` template here) or throws; B.ProcessControlCommand
reports a thrown exception as "{type}: {message}. trace: {stack}" (its TargetInvocationException
handler), which `Thrown` reproduces with a one-line stub in place of the Unity stack trace.
`new ArgumentOutOfRangeException(text)` passes `text` as the *parameter name*, so Mono's message is
"Specified argument was out of the range of valid values.\nParameter name: {text}" (`out_of_range`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

TRACE = "  at sim.offline (offline simulator: no Unity stack trace)"


@dataclass(frozen=True)
class Thrown:
    """A message THOR throws as a C# exception of type `exception`."""

    exception: str
    template: str

    def format(self, **values: object) -> str:
        """The errorMessage THOR reports for this exception."""
        return f"{self.exception}: {self.template.format(**values)}. trace: {TRACE}"


def out_of_range(template: str) -> Thrown:
    """`throw new ArgumentOutOfRangeException(template)`: the text lands in 'Parameter name'."""
    return Thrown(
        "ArgumentOutOfRangeException",
        "Specified argument was out of the range of valid values.\nParameter name: " + template,
    )


def cs_float(value: float) -> str:
    """A C# `float` in string concatenation / interpolation (Mono "G": 7 significant digits)."""
    return f"{float(value):.7g}".replace("e", "E")


def cs_vector(values: Sequence[float], digits: int) -> str:
    """Unity's `Vector3.ToString("F<digits>")`; values rounding to zero print unsigned, as Mono."""
    parts = (f"{0.0 if round(float(v), digits) == 0 else float(v):.{digits}f}" for v in values)
    return "(" + ", ".join(parts) + ")"


# --- py: Controller.reset / ai2thor action dispatch (B.ProcessControlCommand) ------------------
UNKNOWN_SCENE = (
    "\nScene '{scene}' not contained in build (scene names are case sensitive)."
    "\nPlease choose one of the following scene names:\n\n{scenes}"
)  # py reset
INVALID_ACTION = "Invalid action: {action}"  # B.ProcessControlCommand, InvalidActionException
MISSING_ARGUMENTS = "action: {action} is missing the following arguments: {names}"  # B, ","-joined
INVALID_ARGUMENT = (
    '\n\tAction: "{action}" called with invalid argument{plural}: {names}'
    "\n\tExpected arguments: {expected}\n\tYour arguments: {given}"
)  # B, abridged
CANNOT_CONVERT = (
    "action: {action} has an invalid argument: {name} (=={value})."
    " Cannot convert to: {type}"
)  # B, ToObjectArgumentActionException

# --- B.Initialize (reported by ai2thor's reset as a failure) ----------------------------------
GRID_SIZE = "grid size must be in the range (0,5]"
FIELD_OF_VIEW = "fov must be set to (0, 180) noninclusive."
ROTATE_STEP = "rotateStepDegrees must be a non-zero, non-negative float"

# --- B.getInteractableSimObjectFromId: every objectId action looks its target up first --------
NO_SUCH_OBJECT = Thrown(
    "ArgumentException", "objectId: {oid} is not the objectId on any object in the scene!"
)
NOT_VISIBLE = Thrown(
    "NullReferenceException", "Target object not found within the specified visibility."
)

# --- P.pickupObject / P.DropHeldObject (DropHandObject is its deprecated alias) ---------------
NOT_PICKUPABLE = Thrown(
    "InvalidOperationException", "{oid} must have the property CanPickup to be picked up."
)
HAND_FULL = Thrown(
    "InvalidOperationException",
    "Agent hand has something in it already! Can't pick up anything else",
)
NOTHING_TO_DROP = Thrown("InvalidOperationException", "Nothing is in the agent's hand to drop!")

# --- P.placeHeldObject (PutObject); {name}s are GameObject names, i.e. metadata "name" --------
NOTHING_TO_PUT = "Can't place an object if Agent isn't holding anything"
NOT_A_RECEPTACLE = "This target object is NOT a receptacle!"
RECEPTACLE_CLOSED = "Target openable Receptacle is CLOSED, can't place if target is not open!"
RECEPTACLE_FULL = "{receptacle} is full right now"  # object-specific receptacle, occupied
WRONG_SPECIFIC_TYPE = "{held} is not a valid Object Type to be placed in {receptacle}"
NOT_ALLOWED_IN = "{held} cannot be placed in {receptacle}"  # PlacementRestrictions, !forceAction
NO_PLACE_FOUND = "No valid positions to place object found"

# --- B.openObject (OpenObject; CloseObject is OpenObject with openness 0) ---------------------
OPENNESS_RANGE = "openness must be in [0:1]"
NOT_OPENABLE = "{oid} is not an Openable object"
MUST_BE_OFF_TO_OPEN = "Target must be OFF to open!"  # C: MustBeOffToOpen = {Microwave}

# --- P.toggleObject (ToggleObjectOn / ToggleObjectOff) ----------------------------------------
NOT_TOGGLEABLE = "object is not toggleable."
CONTROLLED_ELSEWHERE = (
    "target object is controlled by another sim object."
    " target object cannot be turned on/off directly"
)
ALREADY_ON = "can't toggle object on if it's already on!"
ALREADY_OFF = "can't toggle object off if it's already off!"
MUST_BE_CLOSED_TO_TURN_ON = "Target must be closed to Toggle On!"  # C: {Microwave}
BROKEN_CANNOT_TURN_ON = "Target is broken and cannot be Toggled On!"

# --- P.SliceObject, P.CookObject, P.DirtyObject, P.CleanObject, P.BreakObject -----------------
SLICE_HELD = "target object cannot be sliced if it is in the agent's hand"
NOT_SLICEABLE = "{name} Does not have the CanBeSliced property!"
NOT_COOKABLE = "target object is not cookable"
ALREADY_COOKED = "{oid} is already Toasted!"
NOT_DIRTYABLE_DIRTY = "{name} does not have CanBeDirty property!"
ALREADY_DIRTY = "{name} is already dirty!"
NOT_DIRTYABLE_CLEAN = "{name} does not have dirtyable property!"
ALREADY_CLEAN = "{name} is already Clean!"
NOT_BREAKABLE = "{name} does not have the CanBreak property!!"

# --- P.FillObjectWithLiquid (throws) / P.EmptyLiquidFromObject --------------------------------
MISSING_LIQUID = Thrown("InvalidOperationException", "Missing Liquid string for FillObject action")
NOT_FILLABLE = Thrown("ArgumentException", "{name} does not have CanBeFilled property!")
INVALID_LIQUID = Thrown("ArgumentException", "{liquid} is not a valid Liquid Type")
ALREADY_FILLED = Thrown("InvalidOperationException", "{name} is already Filled!")
NOT_FILLABLE_EMPTY = "{name} does not have CanBeFilled property!"
ALREADY_EMPTY = "object already empty"

# --- P.MoveAhead/Back/Left/Right, B.CheckIfAgentCanMove, P.RotateLeft/Right, P.LookUp/Down ----
MOVE_MAGNITUDE = Thrown("InvalidOperationException", "moveMagnitude must be > 0")
BLOCKED = "{name} is blocking Agent {agent} from moving by {offset}."  # offset: Vector3 "F4"
ROTATE_ZERO = Thrown(
    "InvalidOperationException",
    "Cannot rotate by 0 degrees as this previously defaulted to rotating by a diferent amount.",
)
LOOK_NEGATIVE = "{action} action requires positive degree value. Invalid value used: {degrees}"
LOOK_NOT_TENTHS = "{action} action requires degree value to be a multiple of 0.1f"
LOOK_UP_LIMIT = "can't look up beyond {limit} degrees above the forward horizon"
LOOK_DOWN_LIMIT = "can't look down beyond {limit} degrees below the forward horizon"
LOOK_ERROR_CODE = "LookDownCantExceedMin"  # P sets this errorCode for both limits
ALREADY_CROUCHING = "Already crouching."  # P.Crouch
ALREADY_STANDING = "Already standing."  # P.Stand

# --- B.teleportFull, B.isAgentCapsuleColliding, B.assertTeleportedNearGround (P.TeleportFull) -
PITCH_OR_ROLL = out_of_range(
    "No agents currently can change in pitch or roll. So, you must set"
    " rotation(x=0, y=yaw, z=0). You gave {rotation}."
)
HORIZON_RANGE = out_of_range("Each horizon must be in [{low}:{high}]. You gave {horizon}.")
TELEPORT_OUT_OF_BOUNDS = out_of_range(
    "Teleport position {position} out of scene bounds! Ignore this by setting forceAction=true."
)
TELEPORT_OFF_GRID = out_of_range("Teleport position {position} is not on the grid of size {grid}.")
COLLIDED_WITH = Thrown("InvalidOperationException", "Collided with: {name}.")
NOT_NEAR_GROUND = Thrown(
    "InvalidOperationException",
    "After teleporting and adjusting agent position to floor, there was too large a change"
    "({change} > 0.05) in the y component. Consider using `forceAction=true` if you'd like to"
    " teleport anyway.",
)

# --- B.InitialRandomSpawn (a held object is dropped first, silently) --------------------------
PLACEMENT_ATTEMPTS = "numPlacementAttempts must be a positive integer."
BAD_EXCLUDED_TYPE = "invalid Object Type used in excludedReceptacles array: {type}"
UNKNOWN_EXCLUDED_ID = "Cannot find sim object with id '{oid}'"

# --- B/P.SetObjectPoses -> PhysicsSceneManager.SetObjectPoses --------------------------------
POSES_UNINITIALIZED = (
    "objectPoses was not initialized correctly. Please make sure each element in the objectPoses"
    " list is initialized."
)
POSE_NO_OBJECT = "No Pickupable or Moveable object of name {name} found in scene."
POSE_NOT_MOVABLE = (
    "{name} is not a Moveable or Pickupable object. SetObjectPoses only works with Moveable and"
    " Pickupable sim objects."
)

# --- P.PlaceObjectAtPoint --------------------------------------------------------------------
PLACE_NO_OBJECT = "Cannot find object with id {oid}."
PLACE_OUT_OF_BOUNDS = "Position coordinate ({position}) is not within scene bounds ({bounds})"
PLACE_NOT_CLEAR = (
    "Spawn area not clear ({blocker}) is in the way), can't place object at that point"
)

# --- P.GetInteractablePoses ---------------------------------------------------------------------
POSES_MAX = out_of_range("maxPoses must be > 0.")
POSES_DISTANCE = out_of_range("maxDistance must be >= 0 meters from the object.")
POSES_UNKNOWN_ID = Thrown(
    "ArgumentException", "objectId: {oid} is not the objectId on any object in the scene!"
)
POSES_HORIZON = Thrown("ArgumentException", "Each horizon must be in [{low}:{high}]. You gave {h}.")
POSES_EMPTY = Thrown(
    "ArgumentException", "Every degree of freedom must have at least 1 valid value."
)

# --- B.GetShortestPath / GetShortestPathToPoint (NavMesh; here the reachable grid) -------------
PATH_TYPE_MISSING = Thrown("ArgumentException", "Object type {type} was not found in the scene.")
PATH_TYPE_AMBIGUOUS = Thrown(
    "ArgumentException",
    "Multiple objects of type {type} were found in the scene, cannot disambiguate.",
)
PATH_NO_ID = Thrown("ArgumentException", "Cannot find sim object with id {oid}")
PATH_NO_START = Thrown("InvalidOperationException", "No point on NavMesh near startPosition {p}.")
PATH_NO_TARGET = Thrown("InvalidOperationException", "No point on NavMesh near targetPosition {p}.")
PATH_NONE = Thrown(
    "InvalidOperationException", "Could not find path between {a} and {b} using the NavMesh."
)
PATH_NOT_VISIBLE = Thrown(
    "InvalidOperationException",
    "Target object {oid} is not visible on navigation path given current agent parameters:"
    " maxVisibleDistance ({distance}), gridSize ({grid}), fieldOfView ({fov}), camera width"
    " ({width}), camera height ({height})",
)

# --- 2.1.0's P.SetStateOfAllObjects (ALFRED's restore_scene; 5.0.0 dropped it) ----------------
STATE_MISSING = "Missing State parameter. Please use valid State"
UNKNOWN_TYPE = Thrown("ArgumentException", "Requested value '{type}' was not found.")  # Enum.Parse
STATE_UNDEFINED = "State is not defined. Please check if state matches SimObjSecondaryProperty"

# --- Offline-only (no THOR counterpart) -------------------------------------------------------
POSE_OUT_OF_BOUNDS = "{name}: pose position {position} is outside the scene bounds {lo}-{hi}"
NEEDS_KNIFE = "Agent must be holding a knife to slice an object."  # slice_requires_knife=True

# --- P.UseUpObject ({name}: the GameObject's name, i.e. metadata "name") ---------------------
NOT_USABLE_UP = "{name} does not have CanBeUsedUp property!"
ALREADY_USED_UP = "object already used up!"

# --- P.SetObjectStates (5.0.0's per-type state setter) -----------------------------------------
OBJECT_STATES_NULL = "action.SetObjectStates is null or not initialized!"
OBJECT_STATES_NO_STRINGS = (
    "action.SetObjectStates has objectType and stateChange strings null."
    " Please pass in valid strings."
)
OBJECT_STATES_NO_CHANGE = (
    "action.SetObjectStates is missing stateChange string. If setting objects by objectType,"
    " Please specify both an objectType and a stateChange compatible with that objectType to set."
)
