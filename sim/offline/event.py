"""`Event`: what `OfflineController.step` returns, with ai2thor 5.0.0's attribute names, and the
builder of its metadata dict (the key set of real recorded 5.0.0 events)."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from sim.offline.geometry import HAND_OFFSET, as_dict, hand_position
from sim.offline.state import Outcome, SceneState, Settings

_FRAMES = (
    "frame",
    "depth_frame",
    "instance_segmentation_frame",
    "color_to_object_id",
    "object_id_to_color",
    "instance_masks",
    "instance_detections2D",
    "class_masks",
    "class_detections2D",
    "semantic_segmentation_frame",
)


class Metadata(dict):
    """An event's metadata dict with ai2thor's deprecated keys (its `MetadataWrapper`):
    "reachablePositions" is the actionReturn of GetReachablePositions, "hand" is
    "heldObjectPose"; both warn as ai2thor does."""

    def __getitem__(self, key: Any) -> Any:
        if key == "reachablePositions" and key not in self:
            if super().__getitem__("lastAction") != "GetReachablePositions":
                raise IndexError(
                    "You are trying to access event.metadata['reachablePositions'] without "
                    "first calling controller.step(action='GetReachablePositions'). Also, the "
                    "key 'reachablePositions' is deprecated in favor of "
                    "event.metadata['actionReturn']."
                )
            warnings.warn(
                'The key event.metadata["reachablePositions"] is deprecated and has been '
                'remapped to event.metadata["actionReturn"].',
                stacklevel=2,
            )
            key = "actionReturn"
        elif key == "hand" and key not in self:
            warnings.warn(
                'The key event.metadata["hand"] is deprecated and has been remapped to '
                'event.metadata["heldObjectPose"].',
                stacklevel=2,
            )
            key = "heldObjectPose"
        return super().__getitem__(key)


class Event:
    """One step's result: metadata plus (when rendering) frames, as ai2thor's `Event`.

    Frames are drawn when first read (`defer_frames`): a client that steps without looking
    pays nothing for them, and what it reads is the scene as it was at this step.
    """

    def __init__(self, metadata: dict[str, Any]) -> None:
        self.metadata = metadata if isinstance(metadata, Metadata) else Metadata(metadata)
        self.screen_width = metadata["screenWidth"]
        self.screen_height = metadata["screenHeight"]
        self._draw: Callable[[Event], None] | None = None
        self._frame: np.ndarray | None = None
        self._depth_frame: np.ndarray | None = None
        self._instance_segmentation_frame: np.ndarray | None = None
        self._color_to_object_id: dict[tuple[int, int, int], str] = {}
        self._object_id_to_color: dict[str, tuple[int, int, int]] = {}
        self._instance_masks: dict[str, np.ndarray] = {}
        self._instance_detections2D: dict[str, tuple[int, int, int, int]] | None = None
        self._class_masks: dict[str, np.ndarray] = {}
        self._class_detections2D: dict[str, tuple[tuple[int, int, int, int], ...]] = {}
        self._semantic_segmentation_frame: np.ndarray | None = None
        # ai2thor attributes this simulator does not produce, present for API compatibility.
        self.normals_frame: np.ndarray | None = None
        self.flow_frame: np.ndarray | None = None
        self.third_party_camera_frames: list[np.ndarray] = []
        self.third_party_depth_frames: list[np.ndarray] = []
        self.third_party_instance_segmentation_frames: list[np.ndarray] = []
        self.third_party_semantic_segmentation_frames: list[np.ndarray] = []
        self.third_party_normals_frames: list[np.ndarray] = []
        self.third_party_flows_frames: list[np.ndarray] = []
        self.third_party_instance_masks: list[dict[str, np.ndarray]] = []
        self.third_party_class_masks: list[dict[str, np.ndarray]] = []
        self.events = [self]

    def defer_frames(self, draw: Callable[[Event], None]) -> None:
        """Draw this event's frames with `draw(self)` when one is first read."""
        self._draw = draw

    def _realize(self) -> None:
        draw, self._draw = self._draw, None
        if draw is not None:
            draw(self)

    @property
    def cv2img(self) -> np.ndarray | None:
        """The RGB frame in OpenCV's BGR channel order (ai2thor's `Event.cv2img`)."""
        frame = self.frame
        return None if frame is None else frame[..., ::-1]

    def cv2image(self) -> np.ndarray | None:
        """ai2thor's deprecated spelling of `cv2img`."""
        warnings.warn("Deprecated - please use event.cv2img", stacklevel=2)
        return self.cv2img

    @property
    def class_segmentation_frame(self) -> np.ndarray | None:
        """ai2thor's old name of `semantic_segmentation_frame`."""
        warnings.warn(
            "event.class_segmentation_frame has been renamed to event.semantic_segmentation_frame.",
            DeprecationWarning,
            stacklevel=2,
        )
        return self.semantic_segmentation_frame

    @property
    def pose(self) -> tuple[int, int, int, int]:
        """(x mm, z mm, yaw in thousandths of a degree, horizon in thousandths), as ai2thor."""
        agent = self.metadata["agent"]
        loc = agent["position"]
        return (
            round(loc["x"] * 1000),
            round(loc["z"] * 1000),
            round(agent["rotation"]["y"] * 1000),
            round(agent["cameraHorizon"] * 1000),
        )

    @property
    def pose_discrete(self) -> tuple[int, int, int, int]:
        """(x, z in 0.25 m steps, yaw in right angles, horizon in degrees), as ai2thor."""
        agent = self.metadata["agent"]
        loc = agent["position"]
        return (
            int(loc["x"] / 0.25),
            int(loc["z"] / 0.25),
            int(agent["rotation"]["y"] / 90.0),
            round(agent["cameraHorizon"]),
        )

    def objects_by_type(self, object_type: str) -> list[dict[str, Any]]:
        """The metadata objects of `object_type`."""
        return [o for o in self.metadata["objects"] if o["objectType"] == object_type]

    def get_object(self, object_id: str) -> dict[str, Any] | None:
        """The metadata object with `object_id`, or None."""
        return next((o for o in self.metadata["objects"] if o["objectId"] == object_id), None)

    def __bool__(self) -> bool:
        return bool(self.metadata["lastActionSuccess"])

    def __repr__(self) -> str:
        m = self.metadata
        ret = str(m["actionReturn"])
        ret = ret[:100] + "..." if len(ret) > 100 else ret
        message = str(m["errorMessage"]).replace("\n", " ")
        return (
            f"<sim.offline.Event at {hex(id(self))}\n"
            f'    .metadata["lastAction"] = {m["lastAction"]}\n'
            f'    .metadata["lastActionSuccess"] = {m["lastActionSuccess"]}\n'
            f'    .metadata["errorMessage"] = "{message}\n'
            f'    .metadata["actionReturn"] = {ret}\n>'
        )

    def set_segmentation(
        self,
        frame: np.ndarray,
        color_to_id: dict[tuple[int, int, int], str],
        id_to_color: dict[str, tuple[int, int, int]],
        instances: bool = True,
        classes: dict[str, tuple[int, int, int]] | None = None,
    ) -> None:
        """Attach what instance-segmentation `frame` gives: with `instances`, the frame with
        masks and 2D boxes per object id and per class (ai2thor's `class_masks` and
        `class_detections2D`, made from the instances); with `classes` (class -> colour), the
        semantic-segmentation frame, each pixel in its object's class colour (black where no
        object is drawn). The frame's colours are read once for both."""
        ids, inverse = _pixel_ids(frame, color_to_id)
        if classes is not None:
            palette = np.array(
                [(0, 0, 0) if k is None else classes[k.split("|")[0]] for k in ids],
                dtype=np.uint8,
            ).reshape(-1, 3)
            self.semantic_segmentation_frame = palette[inverse]
            self.color_to_object_id = {c: k for k, c in classes.items()}
        if not instances:
            return
        self.instance_segmentation_frame = frame
        self.color_to_object_id = {**self.color_to_object_id, **color_to_id}
        self.object_id_to_color = id_to_color
        masks, boxes = {}, {}
        for idx, oid in enumerate(ids):
            if oid is None:
                continue
            mask = inverse == idx
            rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
            masks[oid] = mask
            boxes[oid] = (int(cols[0]), int(rows[0]), int(cols[-1]), int(rows[-1]))
        self.instance_masks, self.instance_detections2D = masks, boxes
        class_masks: dict[str, np.ndarray] = {}
        class_boxes: dict[str, list[tuple[int, int, int, int]]] = {}
        for oid, mask in masks.items():
            cls = oid.split("|")[0]
            class_masks[cls] = mask | class_masks[cls] if cls in class_masks else mask
            class_boxes.setdefault(cls, []).append(boxes[oid])
        self.class_masks = class_masks
        self.class_detections2D = {k: tuple(v) for k, v in class_boxes.items()}


def _pixel_ids(
    frame: np.ndarray, color_to_id: dict[tuple[int, int, int], str]
) -> tuple[list[str | None], np.ndarray]:
    """The id of each distinct colour of `frame` (None for one no object has) and, per pixel,
    the index of its colour in that list."""
    keys = (
        frame[..., 0].astype(np.int64) << 16
        | frame[..., 1].astype(np.int64) << 8
        | frame[..., 2].astype(np.int64)
    )
    present, inverse = np.unique(keys, return_inverse=True)
    ids = [color_to_id.get((int(k >> 16) & 255, int(k >> 8) & 255, int(k) & 255)) for k in present]
    return ids, inverse.reshape(keys.shape)


def _frame_property(name: str) -> property:
    private = f"_{name}"

    def get(self: Event) -> Any:
        self._realize()
        return getattr(self, private)

    def set_(self: Event, value: Any) -> None:
        setattr(self, private, value)

    return property(get, set_, doc=f"ai2thor's `Event.{name}` (drawn on first read).")


for _name in _FRAMES:
    setattr(Event, _name, _frame_property(_name))


def _agent_dict(state: SceneState) -> dict[str, Any]:
    a = state.agent
    return {
        "name": "agent",
        "position": as_dict(a.position),
        "rotation": {"x": 0.0, "y": a.yaw, "z": 0.0},
        "cameraHorizon": a.horizon,
        "isStanding": a.standing,
        "inHighFrictionArea": False,
    }


def build_metadata(
    state: SceneState,
    cfg: Settings,
    action: str,
    outcome: Outcome,
    error_code: str | None,
    objects: list[dict[str, Any]],
    time: float,
) -> dict[str, Any]:
    """Full ai2thor 5.0.0 event metadata for the current state."""
    a = state.agent
    camera = a.camera()
    held = state.held
    return {
        "objects": objects,
        "isSceneAtRest": True,
        "agent": _agent_dict(state),
        "heldObjectPose": {
            "position": as_dict(hand_position(camera, a.yaw, a.horizon)),
            "rotation": {"x": a.horizon, "y": a.yaw, "z": 0.0},
            "localPosition": as_dict(HAND_OFFSET),
            "localRotation": {"x": 0.0, "y": 0.0, "z": 0.0},
        },
        "arm": None,
        "fov": float(cfg.field_of_view),
        "cameraPosition": as_dict(camera),
        "cameraOrthSize": 0.0,
        "thirdPartyCameras": [],
        "collided": False,
        "collidedObjects": [],
        "inventoryObjects": (
            []
            if held is None
            else [{"objectId": held, "objectType": state.objects[held]["objectType"]}]
        ),
        "sceneName": f"{state.scene}_physics",
        "lastAction": action,
        "errorMessage": outcome.error,
        "errorCode": error_code,
        "lastActionSuccess": outcome.success,
        "screenWidth": cfg.width,
        "screenHeight": cfg.height,
        "agentId": 0,
        "depthFormat": "Meters",
        "colors": None,
        "flatSurfacesOnGrid": [],
        "distances": [],
        "normals": [],
        "isOpenableGrid": [],
        "segmentedObjectIds": [],
        "objectIdsInBox": [],
        "actionIntReturn": 0,
        "actionFloatReturn": 0.0,
        "actionStringsReturn": None,
        "actionFloatsReturn": None,
        "actionVector3sReturn": None,
        "visibleRange": None,
        "currentTime": time,
        "sceneBounds": state.bounds,
        "actionReturn": outcome.ret,
    }
