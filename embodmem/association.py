"""Data association: which existing object node does a new detection belong to?

A detection with a source id (e.g. THOR's objectId) matches the node that carries that id. One
without is matched to the nearest node of the same label within `max_distance` of its position
(or overlapping its box), each node taken at most once per frame. Lookups go through `LabelGrid`,
a spatial hash keyed by (label, cell), so association stays O(detections) as the graph grows.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Protocol

from embodmem.types import ObjectObservation, Vec3


class Positioned(Protocol):
    """Anything with a world position (object nodes)."""

    position: Vec3


class LabelGrid:
    """Spatial hash of object positions per label: (label, ix, iy, iz) -> node ids."""

    def __init__(self, cell: float = 1.0) -> None:
        self.cell = cell
        self._cells: dict[tuple[str, int, int, int], set[str]] = {}
        self._where: dict[str, tuple[str, int, int, int]] = {}

    def _key(self, label: str, p: Vec3) -> tuple[str, int, int, int]:
        c = self.cell
        return (label, math.floor(p[0] / c), math.floor(p[1] / c), math.floor(p[2] / c))

    def put(self, node_id: str, label: str, position: Vec3) -> None:
        """Insert or move a node."""
        key = self._key(label, position)
        old = self._where.get(node_id)
        if old == key:
            return
        if old is not None:
            self._cells[old].discard(node_id)
        self._cells.setdefault(key, set()).add(node_id)
        self._where[node_id] = key

    def remove(self, node_id: str) -> None:
        """Forget a node (no-op when absent)."""
        old = self._where.pop(node_id, None)
        if old is not None:
            self._cells[old].discard(node_id)

    def near(self, label: str, p: Vec3, radius: float) -> Iterable[str]:
        """Node ids of `label` in the cells that a ball of `radius` around `p` touches."""
        c = self.cell
        r = max(1, math.ceil(radius / c))
        lx, ly, lz = math.floor(p[0] / c), math.floor(p[1] / c), math.floor(p[2] / c)
        cells = self._cells
        for ix in range(lx - r, lx + r + 1):
            for iy in range(ly - r, ly + r + 1):
                for iz in range(lz - r, lz + r + 1):
                    found = cells.get((label, ix, iy, iz))
                    if found:
                        yield from found


def associate(
    detections: Sequence[ObjectObservation],
    by_source: Mapping[str, str],
    grid: LabelGrid,
    nodes: Mapping[str, Positioned],
    max_distance: float = 0.5,
) -> list[str | None]:
    """Node id matched to each detection, or None for a new object.

    Source ids win; the rest take the nearest free node of the same label within `max_distance`.
    """
    out: list[str | None] = [None] * len(detections)
    taken: set[str] = set()
    pending: list[int] = []
    for i, det in enumerate(detections):
        node = by_source.get(det.id_hint) if det.id_hint is not None else None
        if node is not None:
            out[i] = node
            taken.add(node)
        elif det.id_hint is None:
            pending.append(i)
    for i in pending:
        det = detections[i]
        best, best_d = None, max_distance
        for node in grid.near(det.label, det.position, max_distance):  # type: ignore[arg-type]
            if node in taken:
                continue
            d = math.dist(nodes[node].position, det.position)  # type: ignore[arg-type]
            if d <= best_d:
                best, best_d = node, d
        if best is not None:
            out[i] = best
            taken.add(best)
    return out
