"""embodmem: memory that embodied agents can plan with.

A long-term layered 3D scene graph, a sparse octree spatial index, a places graph and a
short-term object-state buffer, all behind `EmbodiedMemory`. The facade is imported on first use
and heavy dependencies (torch, open3d, rclpy) only by the rooms that need them, so
`import embodmem` stays light.
"""

from typing import Any

from embodmem.errors import EmbodmemError
from embodmem.types import (
    Action,
    BBox3D,
    ObjectObservation,
    ObjectState,
    Observation,
    Pose,
    StateChange,
)

__version__ = "0.1.0"
__all__ = [
    "Action",
    "BBox3D",
    "EmbodiedMemory",
    "EmbodmemError",
    "MemoryConfig",
    "ObjectObservation",
    "ObjectState",
    "Observation",
    "Pose",
    "StateChange",
]


def __getattr__(name: str) -> Any:
    if name == "EmbodiedMemory":
        from embodmem.memory import EmbodiedMemory

        return EmbodiedMemory
    if name == "MemoryConfig":
        from embodmem.config import MemoryConfig

        return MemoryConfig
    raise AttributeError(f"module 'embodmem' has no attribute {name!r}")
