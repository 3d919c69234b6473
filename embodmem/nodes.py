"""Node records of the layered scene graph (Spark-DSG style: one attribute record per layer).

Node ids are typed symbols: a layer letter and a counter (`B1`, `R3`, `P40`, `O12`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from embodmem.types import BBox3D, Vec3


class Layer(StrEnum):
    """Scene-graph layers, top to bottom."""

    BUILDING = "building"
    ROOM = "room"
    PLACE = "place"
    OBJECT = "object"


SYMBOLS: dict[Layer, str] = {
    Layer.BUILDING: "B",
    Layer.ROOM: "R",
    Layer.PLACE: "P",
    Layer.OBJECT: "O",
}
LAYER_OF_SYMBOL = {s: layer for layer, s in SYMBOLS.items()}


@dataclass(slots=True)
class ObjectNode:
    """An object remembered in the long-term graph."""

    node_id: str
    label: str
    position: Vec3
    bbox: BBox3D | None
    states: dict[str, Any]
    attributes: dict[str, Any]
    first_seen_ns: int
    last_seen_ns: int
    observation_count: int = 1
    source_ids: list[str] = field(default_factory=list)
    confidence: float = 1.0
    embedding: tuple[float, ...] | None = None
    layer: Layer = Layer.OBJECT

    @property
    def source_id(self) -> str | None:
        """The source's id for this object (e.g. THOR objectId), if it has one."""
        return self.source_ids[0] if self.source_ids else None


@dataclass(slots=True)
class PlaceNode:
    """A place the agent visited (Mem4Nav / Hydra places layer)."""

    node_id: str
    position: Vec3
    first_seen_ns: int
    last_seen_ns: int
    visit_count: int = 1
    embedding: tuple[float, ...] | None = None
    label: str = "place"
    layer: Layer = Layer.PLACE


@dataclass(slots=True)
class RoomNode:
    """A room (region), named by the source's region label, e.g. "kitchen"."""

    node_id: str
    label: str
    first_seen_ns: int
    last_seen_ns: int
    layer: Layer = Layer.ROOM


@dataclass(slots=True)
class BuildingNode:
    """The building that holds the rooms."""

    node_id: str
    label: str = "building"
    layer: Layer = Layer.BUILDING


Node = ObjectNode | PlaceNode | RoomNode | BuildingNode
