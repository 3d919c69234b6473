"""Perception front end: depth + intrinsics -> world points, instance masks -> objects, and
per-frame `Observation` builders (Mem4Nav / KARMA style)."""

from embodmem.perception.camera import CameraIntrinsics, optical_rotation
from embodmem.perception.depth import depth_to_points
from embodmem.perception.instances import (
    objects_from_instance_masks,
    observation_from_frame,
    segment_frame,
)

__all__ = [
    "CameraIntrinsics",
    "depth_to_points",
    "objects_from_instance_masks",
    "observation_from_frame",
    "optical_rotation",
    "segment_frame",
]
