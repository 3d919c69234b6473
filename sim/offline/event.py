"""`Event`: what `OfflineController.step` returns, with ai2thor 5.0.0's attribute names, and the
builder of its metadata dict (the key set of real recorded 5.0.0 events)."""

from __future__ import annotations

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
)


class Event:
    """One step's result: metadata plus (when rendering) frames, as ai2thor's `Event`.

    Frames are drawn when first read (`defer_frames`): a client that steps without looking
    pays nothing for them, and what it reads is the scene as it was at this step.
    """

    def __init__(self, metadata: dict[str, Any]) -> None:
        self.metadata = metadata
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
        # ai2thor attributes this simulator does not produce, present for API compatibility.
        self.semantic_segmentation_frame: np.ndarray | None = None
        self.normals_frame: np.ndarray | None = None
        self.flow_frame: np.ndarray | None = None
        self.class_masks: dict[str, np.ndarray] = {}
        self.class_detections2D: dict[str, tuple] = {}
        self.third_party_camera_frames: list[np.ndarray] = []
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

    def __bool__(self) -> bool:
        return bool(self.metadata["lastActionSuccess"])

    def __repr__(self) -> str:
        m = self.metadata
        return (
            f"<sim.offline.Event lastAction={m['lastAction']!r} "
            f"lastActionSuccess={m['lastActionSuccess']} errorMessage={m['errorMessage']!r}>"
        )

    def set_segmentation(
        self,
        frame: np.ndarray,
        color_to_id: dict[tuple[int, int, int], str],
        id_to_color: dict[str, tuple[int, int, int]],
    ) -> None:
        """Attach an instance-segmentation frame with masks and 2D boxes per object id."""
        self.instance_segmentation_frame = frame
        self.color_to_object_id, self.object_id_to_color = color_to_id, id_to_color
        keys = (
            frame[..., 0].astype(np.int64) << 16
            | frame[..., 1].astype(np.int64) << 8
            | frame[..., 2].astype(np.int64)
        )
        present, inverse = np.unique(keys, return_inverse=True)
        inverse = inverse.reshape(keys.shape)
        masks, boxes = {}, {}
        for idx, key in enumerate(present):
            oid = color_to_id.get(((key >> 16) & 255, (key >> 8) & 255, key & 255))
            if oid is None:
                continue
            mask = inverse == idx
            rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
            masks[oid] = mask
            boxes[oid] = (int(cols[0]), int(rows[0]), int(cols[-1]), int(rows[-1]))
        self.instance_masks, self.instance_detections2D = masks, boxes


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
