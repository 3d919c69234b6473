"""Depth image -> world points: pinhole back-projection of planar depth (metres).

A pixel (row v, col u) with depth z is the optical-frame point ((u - cx) z / fx, (v - cy) z / fy, z)
(see `embodmem.perception.camera`), rotated into the world with the camera pose. Pixels with NaN,
inf, zero or negative depth, beyond `max_depth`, or outside `mask` are dropped.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from embodmem import validate as v
from embodmem.errors import ValidationError
from embodmem.perception.camera import CameraIntrinsics, optical_rotation
from embodmem.types import Pose


def depth_array(depth: Any, intrinsics: CameraIntrinsics) -> np.ndarray:
    """A depth image as a float array of the intrinsics' shape; raises naming `depth`."""
    if not isinstance(intrinsics, CameraIntrinsics):
        raise ValidationError("intrinsics", intrinsics, "expected a CameraIntrinsics")
    arr = np.asarray(depth)
    if not np.issubdtype(arr.dtype, np.floating):
        raise ValidationError("depth", f"dtype {arr.dtype}", "expected floating depth in metres")
    if arr.shape != intrinsics.shape:
        raise ValidationError(
            "depth", f"shape {arr.shape}", f"expected (height, width) = {intrinsics.shape}"
        )
    return arr


def pixel_mask(field: str, mask: Any, shape: tuple[int, int]) -> np.ndarray:
    """A boolean (H, W) mask of the depth image's shape; raises naming `field`."""
    arr = np.asarray(mask)
    if arr.dtype != np.bool_:
        raise ValidationError(field, f"dtype {arr.dtype}", "expected a boolean mask")
    if arr.shape != shape:
        raise ValidationError(field, f"shape {arr.shape}", f"expected the depth shape {shape}")
    return arr


def positive_int(field: str, value: Any) -> int:
    """An integer >= 1 (strides, point counts)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValidationError(field, value, "expected an integer >= 1")
    return int(value)


def depth_to_points(
    depth: Any,
    intrinsics: CameraIntrinsics,
    camera_pose: Pose,
    mask: Any = None,
    max_depth: float | None = None,
    stride: int = 1,
    return_pixels: bool = False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """(N, 3) world points of the valid pixels of a planar depth image.

    `stride` keeps every stride-th row and column. With `return_pixels` also returns the
    (N, 2) integer (row, col) of each point in the full image.
    """
    z_img = depth_array(depth, intrinsics)
    rot = optical_rotation(camera_pose)
    step = positive_int("stride", stride)
    valid = np.isfinite(z_img) & (z_img > 0)
    if max_depth is not None:
        far = v.finite_float("max_depth", max_depth)
        if far <= 0:
            raise ValidationError("max_depth", max_depth, "must be > 0")
        valid &= z_img <= far
    if mask is not None:
        valid &= pixel_mask("mask", mask, intrinsics.shape)
    rows, cols = np.nonzero(valid[::step, ::step])
    rows *= step
    cols *= step
    z = z_img[rows, cols].astype(np.float64)
    xs, ys = intrinsics.normalized_coords()
    optical = np.stack([xs[cols] * z, ys[rows] * z, z], axis=1)
    points = optical @ rot.T + np.asarray(camera_pose.position)
    if return_pixels:
        return points, np.stack([rows, cols], axis=1).astype(np.int64)
    return points
