"""Pinhole camera model shared by the back-projection code and the offline renderer.

Pixel convention (OpenCV / ROS CameraInfo): pixel (row v, col u) has its centre at image
coordinates (u, v), so the image spans [-0.5, W - 0.5] x [-0.5, H - 0.5] and its centre is
((W - 1) / 2, (H - 1) / 2). The optical frame is x right, y down, z forward; a camera `Pose`
has ROS body axes (x forward, y left, z up), see `embodmem.frames.thor_camera_pose`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from embodmem import validate as v
from embodmem.errors import ValidationError
from embodmem.types import Pose, quat_to_matrix

# Columns: the optical x (right), y (down) and z (forward) axes written in the ROS body frame.
OPTICAL_TO_BODY = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])
MAX_IMAGE_SIDE = 16384


def _image_side(field: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValidationError(field, value, "expected an integer number of pixels")
    if not 1 <= value <= MAX_IMAGE_SIDE:
        raise ValidationError(field, value, f"must be in [1, {MAX_IMAGE_SIDE}]")
    return int(value)


@dataclass(frozen=True, slots=True)
class CameraIntrinsics:
    """Pinhole intrinsics: image size in pixels, focal lengths and principal point in pixels."""

    width: int
    height: int
    fx: float
    fy: float
    cx: float
    cy: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "width", _image_side("intrinsics.width", self.width))
        object.__setattr__(self, "height", _image_side("intrinsics.height", self.height))
        for name in ("fx", "fy"):
            f = v.finite_float(f"intrinsics.{name}", getattr(self, name))
            if f <= 0:
                raise ValidationError(f"intrinsics.{name}", f, "focal length must be > 0")
            object.__setattr__(self, name, f)
        for name in ("cx", "cy"):
            object.__setattr__(
                self, name, v.finite_float(f"intrinsics.{name}", getattr(self, name))
            )

    @classmethod
    def from_fov(cls, width: int, height: int, fov_deg: float) -> CameraIntrinsics:
        """AI2-THOR's camera: `fov_deg` is the vertical field of view, fx = fy =
        (H/2)/tan(fov/2), principal point at the image centre."""
        fov = v.finite_float("fov", fov_deg)
        if not 0.0 < fov < 180.0:
            raise ValidationError("fov", fov_deg, "vertical field of view must be in (0, 180) deg")
        h = _image_side("height", height)
        w = _image_side("width", width)
        f = (h / 2.0) / math.tan(math.radians(fov) / 2.0)
        return cls(w, h, f, f, (w - 1) / 2.0, (h - 1) / 2.0)

    @property
    def shape(self) -> tuple[int, int]:
        """(height, width), the shape of a depth image."""
        return (self.height, self.width)

    def normalized_coords(self, dtype: type = np.float64) -> tuple[np.ndarray, np.ndarray]:
        """Per-column x/z and per-row y/z of the pixel centres' rays: ((W,), (H,))."""
        xs = (np.arange(self.width, dtype=dtype) - dtype(self.cx)) / dtype(self.fx)
        ys = (np.arange(self.height, dtype=dtype) - dtype(self.cy)) / dtype(self.fy)
        return xs, ys


def optical_rotation(pose: Pose) -> np.ndarray:
    """3x3 rotation world <- optical frame of a camera whose body pose is `pose`."""
    if not isinstance(pose, Pose):
        raise ValidationError("camera_pose", pose, "expected an embodmem.types.Pose")
    return quat_to_matrix(pose.orientation) @ OPTICAL_TO_BODY
