"""`OfflineController`: an AI2-THOR-compatible controller on the vendored iTHOR scene data.

It speaks ai2thor 5.0.0's API (`step(action=..., **kwargs) -> Event`, `reset`, `stop`,
`last_event`) and metadata schema. Bad action names and arguments raise `ValueError` (an
`InvalidActionError` whose `reason` and the event's errorMessage / errorCode are THOR's);
anything else that cannot be done is a failed step with `lastActionSuccess=False` and THOR's
error message (`sim.offline.messages`). Start from a recorded event with
`OfflineController.from_metadata(metadata)`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from sim.object_types import thor_labels
from sim.offline import actions_interact as act
from sim.offline import actions_nav as nav
from sim.offline import actions_query as query
from sim.offline import actions_scene as scene
from sim.offline import messages as msg
from sim.offline import restore
from sim.offline.errors import InvalidActionError, UnknownSceneError
from sim.offline.event import Event, build_metadata
from sim.offline.freespace import occluders_of
from sim.offline.geometry import xyz
from sim.offline.randomizer import random_spawn
from sim.offline.render import class_colors, frame_colors, render_frames, room_bounds
from sim.offline.rules import apply_effects, faucet_basins
from sim.offline.schema import Spec, parse
from sim.offline.state import Agent, Outcome, SceneState, Settings
from sim.offline.visibility import visible_mask
from sim.scenes import SCENE_RE, reachable_positions, recorded_start, scene_names, scene_objects

Handler = Callable[[SceneState, Settings, dict[str, Any]], Outcome]

INIT_PARAMS = {
    "gridSize": "number",
    "visibilityDistance": "number",
    "fieldOfView": "number",
    "width": "int",
    "height": "int",
    "rotateStepDegrees": "number",
    "snapToGrid": "bool",
    "agentMode": "str",
    "agentType": "str",
    "continuous": "bool",
    "makeAgentsVisible": "bool",
    "renderNormalsImage": "bool",
    "renderFlowImage": "bool",
    "quality": "str",
    "fastActionEmit": "bool",
    "autoSimulation": "bool",
    "server_class": "any",
    # ServerAction fields 5.0.0's Initialize does not read (ALFRED sends them): accepted, unused.
    "cameraY": "number",
    "visibility_distance": "number",
}
# ai2thor's Controller arguments that set up its Unity process rather than the scene (they are
# not sent to Initialize): accepted and kept in `process_parameters`; nothing depends on them.
PROCESS_PARAMS = frozenset(
    {
        "fullscreen",
        "headless",
        "port",
        "start_unity",
        "local_executable_path",
        "local_build",
        "commit_id",
        "branch",
        "x_display",
        "host",
        "image_dir",
        "save_image_per_frame",
        "download_only",
        "include_private_scenes",
        "gpu_device",
        "platform",
        "server_timeout",
        "server_start_timeout",
    }
)
# ai2thor's step copies these deprecated argument names to the new ones.
RENAMED_FLAGS = {
    "renderClassImage": "renderSemanticSegmentation",
    "renderObjectImage": "renderInstanceSegmentation",
}
# ai2thor's DepthFormat: the depth frame's unit, as a multiple of metres (camera planes 0.1-20 m).
DEPTH_SCALE = {"Meters": 1.0, "Millimeters": 1000.0, "Normalized": 1.0 / (20.0 - 0.1)}
# camelCase Initialize argument -> Settings field.
SETTING_OF = {
    "gridSize": "grid_size",
    "visibilityDistance": "visibility_distance",
    "fieldOfView": "field_of_view",
    "width": "width",
    "height": "height",
    "rotateStepDegrees": "rotate_step_degrees",
    "renderDepthImage": "render_depth_image",
    "renderInstanceSegmentation": "render_instance_segmentation",
    "renderSemanticSegmentation": "render_semantic_segmentation",
    "snapToGrid": "snap_to_grid",
}
SNAKE_ALIASES = {
    "grid_size": "gridSize",
    "visibility_distance": "visibilityDistance",
    "field_of_view": "fieldOfView",
    "render_depth_image": "renderDepthImage",
    "render_instance_segmentation": "renderInstanceSegmentation",
    "render_semantic_segmentation": "renderSemanticSegmentation",
    "rotate_step_degrees": "rotateStepDegrees",
}

_OBJ = Spec({"objectId": "str"}, frozenset({"objectId"}))
_MOVE = Spec({"moveMagnitude": "number"})
_TURN = Spec({"degrees": "number"})
# x, y, z: the older float overload, which GetInteractablePoses' poses and ALFRED's use.
_TELEPORT = {
    "position": "vec3",
    "rotation": "rotation",
    "horizon": "number",
    "standing": "bool",
    "x": "number",
    "y": "number",
    "z": "number",
}
_SPAWN = Spec(
    {
        "randomSeed": "int",
        "forceVisible": "bool",
        "numPlacementAttempts": "int",
        "placeStationary": "bool",
        "numDuplicatesOfType": "any",
        "excludedReceptacles": "strlist",
        "excludedObjectIds": "strlist",
    }
)

ACTIONS: dict[str, tuple[Handler | None, Spec]] = {
    "Initialize": (None, Spec(INIT_PARAMS)),
    "MoveAhead": (nav.move_ahead, _MOVE),
    "MoveBack": (nav.move_back, _MOVE),
    "MoveLeft": (nav.move_left, _MOVE),
    "MoveRight": (nav.move_right, _MOVE),
    "RotateLeft": (nav.rotate_left, _TURN),
    "RotateRight": (nav.rotate_right, _TURN),
    "LookUp": (nav.look_up, _TURN),
    "LookDown": (nav.look_down, _TURN),
    "Crouch": (nav.crouch, Spec()),
    "Stand": (nav.stand, Spec()),
    "Teleport": (nav.teleport, Spec(_TELEPORT)),
    "TeleportFull": (
        nav.teleport_full,
        Spec(_TELEPORT, frozenset({"rotation", "horizon", "standing"})),
    ),
    "GetReachablePositions": (nav.get_reachable_positions, Spec()),
    "GetScenesInBuild": (nav.get_scenes_in_build, Spec()),
    "Pass": (nav.no_op, Spec()),
    "Done": (nav.no_op, Spec()),
    "PickupObject": (
        act.pickup,
        Spec({"objectId": "str", "manualInteract": "bool"}, frozenset({"objectId"})),
    ),
    "DropHeldObject": (act.drop, Spec({"autoSimulation": "bool"})),
    "PutObject": (
        act.put,
        Spec(
            {"objectId": "str", "placeStationary": "bool", "putNearXY": "bool"},
            frozenset({"objectId"}),
        ),
    ),
    "DropHandObject": (act.drop, Spec({"autoSimulation": "bool"})),
    "OpenObject": (
        act.open_object,
        Spec({"objectId": "str", "openness": "number"}, frozenset({"objectId"})),
    ),
    "CloseObject": (act.close_object, _OBJ),
    "ToggleObjectOn": (act.toggle_on, _OBJ),
    "ToggleObjectOff": (act.toggle_off, _OBJ),
    "SliceObject": (act.slice_object, _OBJ),
    "CookObject": (act.cook, _OBJ),
    "CleanObject": (act.clean, _OBJ),
    "DirtyObject": (act.dirty, _OBJ),
    "FillObjectWithLiquid": (
        act.fill,
        Spec({"objectId": "str", "fillLiquid": "str"}, frozenset({"objectId"})),
    ),
    "EmptyLiquidFromObject": (act.empty, _OBJ),
    "BreakObject": (act.break_object, _OBJ),
    "InitialRandomSpawn": (None, _SPAWN),
    "SetObjectPoses": (
        restore.set_object_poses,
        Spec({"objectPoses": "any", "placeStationary": "bool"}),
    ),
    "SetObjectToggles": (restore.set_object_toggles, Spec({"objectToggles": "any"})),
    "SetStateOfAllObjects": (restore.set_state_of_all_objects, Spec({"StateChange": "str"})),
    "PlaceObjectAtPoint": (
        restore.place_object_at_point,
        Spec(
            {
                "objectId": "str",
                "position": "vec3",
                "rotation": "rotation",
                "forceKinematic": "bool",
            },
            frozenset({"objectId", "position"}),
        ),
    ),
    "GetInteractablePoses": (
        query.interactable_poses,
        Spec(
            {
                "objectId": "str",
                "positions": "vec3s",
                "rotations": "numbers",
                "horizons": "numbers",
                "standings": "bools",
                "maxDistance": "number",
                "maxPoses": "int",
            },
            frozenset({"objectId"}),
        ),
    ),
    "GetShortestPath": (
        query.shortest_path,
        Spec(
            {
                "objectId": "str",
                "objectType": "str",
                "position": "vec3",
                "rotation": "rotation",
                "allowedError": "number",
            }
        ),
    ),
    "GetShortestPathToPoint": (
        query.shortest_path_to_point,
        Spec(
            {
                "position": "vec3",
                "target": "vec3",
                "x": "number",
                "y": "number",
                "z": "number",
                "allowedError": "number",
            }
        ),
    ),
    "UseUpObject": (act.use_up, _OBJ),
    "SetObjectFilter": (
        scene.set_object_filter,
        Spec({"objectIds": "strlist"}, frozenset({"objectIds"})),
    ),
    "SetObjectFilterForType": (
        scene.set_object_filter_for_type,
        Spec({"objectTypes": "strlist"}, frozenset({"objectTypes"})),
    ),
    "ResetObjectFilter": (scene.reset_object_filter, Spec()),
    "SetObjectStates": (scene.set_object_states, Spec({"SetObjectStates": "any"})),
    "RemoveFromScene": (
        scene.remove_from_scene,
        _OBJ,
    ),
    # Visual-only and rigid-body-only actions: accepted, nothing the offline simulator models
    # changes.
    "RandomizeMaterials": (
        restore.unmodelled,
        Spec(
            {
                "useTrainMaterials": "bool",
                "useValMaterials": "bool",
                "useTestMaterials": "bool",
                "useExternalMaterials": "bool",
                "inRoomTypes": "strlist",
            }
        ),
    ),
    "RandomizeLighting": (
        restore.unmodelled,
        Spec(
            {
                "synchronized": "bool",
                "brightness": "any",
                "randomizeColor": "bool",
                "hue": "any",
                "saturation": "any",
            }
        ),
    ),
    "RandomizeColors": (restore.unmodelled, Spec()),
    "ResetMaterials": (restore.unmodelled, Spec()),
    "ResetColors": (restore.unmodelled, Spec()),
    "MakeAllObjectsMoveable": (restore.unmodelled, Spec()),
    "MakeObjectsStaticKinematicMassThreshold": (restore.unmodelled, Spec()),
}
# Actions that change no object state (the state rules do not run after them).
NO_EFFECTS = frozenset(
    {
        "GetInteractablePoses",
        "GetShortestPath",
        "GetShortestPathToPoint",
        "RandomizeMaterials",
        "RandomizeLighting",
        "RandomizeColors",
        "ResetMaterials",
        "ResetColors",
        "MakeAllObjectsMoveable",
        "MakeObjectsStaticKinematicMassThreshold",
        "SetObjectFilter",
        "SetObjectFilterForType",
        "ResetObjectFilter",
    }
)
NAVIGATION = frozenset(
    {
        "MoveAhead",
        "MoveBack",
        "MoveLeft",
        "MoveRight",
        "RotateLeft",
        "RotateRight",
        "LookUp",
        "LookDown",
        "Crouch",
        "Stand",
        "Teleport",
        "TeleportFull",
        "GetReachablePositions",
        "GetScenesInBuild",
        "Pass",
        "Done",
    }
)


def normalize_scene(scene: Any) -> str:
    """ "FloorPlan1" for "FloorPlan1" / "FloorPlan1_physics"; `UnknownSceneError` (with
    ai2thor's message, which names the scene as ai2thor normalises it) otherwise."""
    m = SCENE_RE.match(scene) if isinstance(scene, str) else None
    name = f"FloorPlan{m.group(1)}" if m else None
    if name not in scene_names():
        shown = f"{scene}_physics" if re.fullmatch(r"FloorPlan[0-9]+", str(scene)) else scene
        raise UnknownSceneError(
            "scene",
            scene,
            msg.UNKNOWN_SCENE.format(
                scene=shown, scenes=", ".join(sorted(f"{n}_physics" for n in scene_names()))
            ),
        )
    return name


MAX_PIXELS = 4096  # pixels per image side the offline renderer draws
MAX_VISIBILITY = 1000.0  # m


def _init_error(key: str, value: Any) -> str | None:
    """Why an Initialize argument is rejected (BaseFPSAgentController.Initialize's messages
    where THOR checks it; ai2thor's reset raises on that failure), else None."""
    if key == "gridSize" and not 0 < value <= 5:
        return msg.GRID_SIZE
    if key == "fieldOfView" and not 0 < value < 180:
        return msg.FIELD_OF_VIEW
    if key == "rotateStepDegrees" and not value > 0:
        return msg.ROTATE_STEP
    if key == "visibilityDistance" and not 0 < value <= MAX_VISIBILITY:
        return f"must be in (0, {MAX_VISIBILITY:g}] m"
    if key in ("width", "height") and not 0 < value <= MAX_PIXELS:
        return f"must be in [1, {MAX_PIXELS}] pixels (the offline renderer's limit)"
    return None


def check_initialize(params: Mapping[str, Any]) -> dict[str, Any]:
    """Parsed Initialize arguments; `InvalidActionError` for a wrong type or a value out of
    range, so a bad setting is refused before the controller changes."""
    parsed = parse("Initialize", ACTIONS["Initialize"][1], params)
    for key in SETTING_OF.keys() & parsed.keys():
        reason = _init_error(key, parsed[key])
        if reason:
            raise InvalidActionError(key, parsed[key], reason)
    return parsed


class OfflineController:
    """THOR-compatible controller over the vendored iTHOR scenes (no Unity, no network)."""

    def __init__(
        self,
        scene: str = "FloorPlan1",
        grid_size: float = 0.25,
        visibility_distance: float = 1.5,
        field_of_view: float = 90,
        width: int = 300,
        height: int = 300,
        render_depth_image: bool = False,
        render_instance_segmentation: bool = False,
        seed: int = 0,
        slice_requires_knife: bool = True,
        occlusion: bool = True,
        depth_format: Any = "Meters",
        add_depth_noise: bool = False,
        **kw: Any,
    ) -> None:
        """`kw`: Initialize arguments (camelCase or snake_case) and ai2thor's Unity process
        arguments (`PROCESS_PARAMS`, kept in `process_parameters`); `depth_format`: ai2thor's
        `DepthFormat` or its name."""
        init = {
            "gridSize": grid_size,
            "visibilityDistance": visibility_distance,
            "fieldOfView": field_of_view,
            "width": width,
            "height": height,
            "renderDepthImage": render_depth_image,
            "renderInstanceSegmentation": render_instance_segmentation,
        }
        self.process_parameters = {k: kw.pop(k) for k in PROCESS_PARAMS & kw.keys()}
        fmt = getattr(depth_format, "name", depth_format)
        if fmt not in DEPTH_SCALE:
            raise InvalidActionError(
                "depth_format", depth_format, f"expected one of {', '.join(DEPTH_SCALE)}"
            )
        if add_depth_noise:
            raise InvalidActionError(
                "add_depth_noise", add_depth_noise, "depth noise is not modelled offline"
            )
        self.depth_format = fmt
        init.update({SNAKE_ALIASES.get(k, k): v for k, v in kw.items()})
        self.settings = Settings(
            slice_requires_knife=bool(slice_requires_knife), occlusion=bool(occlusion)
        )
        self.seed = seed
        self.last_event: Event | None = None
        self.last_action: dict[str, Any] | None = None
        self.state: SceneState | None = None
        self.scene = scene
        self._init_params: dict[str, Any] = {}
        self.reset(scene, **init)

    @classmethod
    def from_metadata(cls, metadata: Mapping[str, Any], **kw: Any) -> OfflineController:
        """A controller whose scene, objects, agent pose and hand are those of a recorded event;
        `kw` are constructor arguments (the recorded fov and screen size are the defaults)."""
        init = {
            "field_of_view": metadata.get("fov", 90),
            "width": metadata.get("screenWidth", 300),
            "height": metadata.get("screenHeight", 300),
            **kw,
        }
        ctl = cls(metadata["sceneName"], **init)
        ctl.reset(metadata["sceneName"], objects=metadata["objects"], agent=metadata["agent"])
        return ctl

    @property
    def initialization_parameters(self) -> dict[str, Any]:
        """The Initialize arguments in force (ai2thor's `Controller.initialization_parameters`)."""
        return dict(self._init_params)

    @property
    def width(self) -> int:
        return self.settings.width

    @property
    def height(self) -> int:
        return self.settings.height

    @property
    def scenes_in_build(self) -> set[str]:
        """The scenes this simulator has, as ai2thor names them ("FloorPlan1_physics")."""
        return {f"{name}_physics" for name in scene_names()}

    def ithor_scenes(
        self,
        include_kitchens: bool = True,
        include_living_rooms: bool = True,
        include_bedrooms: bool = True,
        include_bathrooms: bool = True,
    ) -> list[str]:
        """ai2thor's list of iTHOR scenes: kitchens, living rooms, bedrooms, bathrooms, in
        that order, each as "FloorPlanN_physics"."""
        ranges = [
            span
            for span, keep in (
                ((1, 31), include_kitchens),
                ((201, 231), include_living_rooms),
                ((301, 331), include_bedrooms),
                ((401, 431), include_bathrooms),
            )
            if keep
        ]
        return [f"FloorPlan{i}_physics" for low, high in ranges for i in range(low, high)]

    def scene_names(self) -> list[str]:
        """ai2thor's `scene_names`: the iTHOR scenes (the offline simulator has no RoboTHOR
        scenes, which ai2thor lists after them)."""
        return self.ithor_scenes()

    def __enter__(self) -> OfflineController:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- lifecycle ------------------------------------------------------------------------
    def reset(
        self,
        scene: str | None = None,
        objects: Sequence[Mapping[str, Any]] | Mapping[str, Mapping[str, Any]] | None = None,
        agent: Mapping[str, Any] | None = None,
        **init_params: Any,
    ) -> Event:
        """Load a scene (default: the current one) and run Initialize with `init_params`.

        `objects` (a list of THOR object dicts or a dict keyed by objectId) and `agent` (a THOR
        agent dict) replace the scene's initial objects and the start pose. The start pose is
        the one real ai2thor 5.0.0 gives after reset where a recording shows it (FloorPlan1,
        201, 301, 401: `sim.scenes.recorded_start`); elsewhere a reachable grid point facing a
        right angle, drawn with the controller's seed (THOR's own lies in its Unity scene file).
        """
        name = normalize_scene(scene if scene is not None else self.scene)
        params = {**self._init_params, **init_params}
        check_initialize(params)  # refuse bad settings before anything changes
        objs = (
            scene_objects(name)
            if objects is None
            else (
                {o["objectId"]: dict(o) for o in objects}
                if not isinstance(objects, Mapping)
                else {k: dict(v) for k, v in objects.items()}
            )
        )
        held = next((k for k, o in objs.items() if o.get("isPickedUp")), None)
        start = None
        if agent is None and (recorded := recorded_start(name)) is not None:
            agent = {
                "position": recorded["position"],
                "rotation": {"x": 0.0, "y": recorded["rotation"], "z": 0.0},
                "cameraHorizon": recorded["horizon"],
                "isStanding": recorded["standing"],
            }
        if agent is not None:
            start = Agent(
                xyz(agent["position"]),
                yaw=float(agent["rotation"]["y"]),
                horizon=float(agent.get("cameraHorizon", 0.0)),
                standing=bool(agent.get("isStanding", True)),
            )
        self.state = SceneState(name, objs, reachable_positions(name), start, held, self.seed)
        self.scene = name
        self._basins = faucet_basins(self.state)
        self._time = 0.0
        self._room: tuple[np.ndarray, np.ndarray] | None = None
        return self.step(action="Initialize", raise_for_failure=True, **params)

    def stop(self) -> None:
        """Release the scene (ai2thor's `stop`); the controller can be `reset` again."""
        self.state = None

    # --- stepping -------------------------------------------------------------------------
    def step(self, action: str | Mapping[str, Any] | None = None, **kwargs: Any) -> Event:
        """Run one action (`step(action="MoveAhead")` or `step(dict(action="MoveAhead"))`)."""
        if self.state is None:
            raise RuntimeError("controller is stopped; call reset(scene) first")
        args = dict(action) if isinstance(action, Mapping) else {"action": action}
        args.update(kwargs)
        # ai2thor's step does these before sending: a bare rotation is a yaw, and the old names
        # of the segmentation flags are copied to the new ones
        if "rotation" in args and not isinstance(args["rotation"], Mapping):
            args["rotation"] = {"y": args["rotation"]}
        for old, new in RENAMED_FLAGS.items():
            if old in args:
                args[new] = args[old]
        self.last_action = dict(args)
        raise_for_failure = bool(args.pop("raise_for_failure", False))
        name = args.pop("action", None)
        entry = ACTIONS.get(name) if isinstance(name, str) else None
        try:
            if entry is None:
                raise InvalidActionError(
                    "action", name, msg.INVALID_ACTION.format(action=name), code="InvalidAction"
                )
            handler, spec = entry
            parsed = parse(name, spec, args)
            outcome = self._run(name, handler, parsed)
        except InvalidActionError as exc:
            self.last_event = self._emit(str(name), Outcome(False, exc.reason), exc.code)
            raise
        self.last_event = self._emit(name, outcome, outcome.code)
        if raise_for_failure and not outcome.success:
            raise RuntimeError(outcome.error)
        return self.last_event

    def _run(self, name: str, handler: Handler | None, args: dict[str, Any]) -> Outcome:
        state = self.state
        if name == "Initialize":
            return self._initialize(args)
        if name == "InitialRandomSpawn":
            return self._random_spawn(args)
        outcome = handler(state, self.settings, args)
        if outcome.success and name not in NAVIGATION and name not in NO_EFFECTS:
            apply_effects(state, self._basins)
        return outcome

    def _random_spawn(self, args: dict[str, Any]) -> Outcome:
        """InitialRandomSpawn (BaseFPSAgentController's checks; a held object is dropped)."""
        state = self.state
        if args.get("numPlacementAttempts", 5) <= 0:
            return Outcome(False, msg.PLACEMENT_ATTEMPTS)
        excluded = args.get("excludedReceptacles", ())
        bad = next((t for t in excluded if t not in thor_labels()), None)
        if bad is not None:
            return Outcome(False, msg.BAD_EXCLUDED_TYPE.format(type=bad))
        keep = args.get("excludedObjectIds", ())
        missing = next((k for k in keep if k not in state.objects), None)
        if missing is not None:
            return Outcome(False, msg.UNKNOWN_EXCLUDED_ID.format(oid=missing))
        if state.held is not None:
            act.drop(state, self.settings, {})
        random_spawn(state, args.get("randomSeed", 0) % 2**32, excluded, keep)  # C# int seed
        apply_effects(state, self._basins)
        return Outcome()

    def _initialize(self, args: dict[str, Any]) -> Outcome:
        check_initialize(args)
        for key in SETTING_OF.keys() & args.keys():
            setattr(self.settings, SETTING_OF[key], args[key])
        self._init_params.update(args)
        return Outcome(ret={"cameraNearPlane": 0.01, "cameraFarPlane": 20.0})

    def _emit(self, name: str, outcome: Outcome, code: str | None) -> Event:
        state, cfg = self.state, self.settings
        agent = state.agent
        self._time += 1.0
        camera = agent.camera()
        occluders, parents = (
            (occluders_of(state), state.parent_rows()) if cfg.occlusion else (None, None)
        )
        mask = visible_mask(
            camera,
            agent.yaw,
            agent.horizon,
            cfg.field_of_view,
            cfg.width / cfg.height,
            cfg.visibility_distance,
            state.lo,
            state.hi,
            state.samples(),
            agent.position,
            occluders,
            parents,
        )
        mask &= ~state.hidden()
        if state.held is not None:
            mask[state.row[state.held]] = True
        dist = np.linalg.norm(state.pos - agent.position, axis=1).tolist()
        flags = mask.tolist()
        state.visible = {k for k, v in zip(state.ids, flags, strict=True) if v}
        objects = [
            {**state.objects[k], "visible": v, "isInteractable": v, "distance": d}
            for k, v, d in zip(state.ids, flags, dist, strict=True)
        ]
        listed = (
            objects
            if state.object_filter is None
            else [o for o in objects if o["objectId"] in state.object_filter]
        )
        meta = build_metadata(state, cfg, name, outcome, code, listed, self._time)
        event = Event(meta)
        if (
            cfg.render_depth_image
            or cfg.render_instance_segmentation
            or cfg.render_semantic_segmentation
        ):
            self._render(event, objects, mask)
        return event

    def _render(self, event: Event, objects: list[dict[str, Any]], mask: np.ndarray) -> None:
        """Set the event up to draw its frames when first read, from this step's objects and
        camera (metadata["colors"] is known now: colours depend only on the ids drawn)."""
        state, cfg = self.state, self.settings
        if self._room is None:
            self._room = room_bounds(list(state.objects.values()))
        hidden = state.hidden()
        drawn = [o for i, o in enumerate(objects) if not hidden[i] and state.ids[i] != state.held]
        room_lo, room_hi = self._room
        camera = event.metadata["cameraPosition"]
        yaw, horizon = state.agent.yaw, state.agent.horizon
        fov, width, height = cfg.field_of_view, cfg.width, cfg.height
        depth, segmentation = cfg.render_depth_image, cfg.render_instance_segmentation
        semantic = cfg.render_semantic_segmentation
        colors = frame_colors(drawn) if segmentation or semantic else {}
        classes = class_colors(colors) if semantic else None

        def draw(ev: Event) -> None:
            res = render_frames(
                drawn,
                room_lo,
                room_hi,
                camera,
                yaw,
                horizon,
                fov,
                width,
                height,
                depth=depth,
                segmentation=True,
            )
            ev.frame = res.instance_segmentation_frame
            depth_frame, scale = res.depth_frame, DEPTH_SCALE[self.depth_format]
            if depth_frame is not None and scale != 1.0:
                depth_frame = depth_frame * np.float32(scale)
            ev.depth_frame = depth_frame
            if segmentation or semantic:
                ev.set_segmentation(
                    res.instance_segmentation_frame,
                    res.color_to_object_id,
                    res.object_id_to_color,
                    instances=segmentation,
                    classes=classes,
                )

        event.defer_frames(draw)
        if segmentation or semantic:
            named = {**colors, **(classes or {})}
            event.metadata["colors"] = [{"name": k, "color": list(c)} for k, c in named.items()]
