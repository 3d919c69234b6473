"""AI2-THOR object-type knowledge (vendored `data/thor_object_types.csv`, see data/PROVENANCE.md).

One row per THOR object type: observed properties over the 120 iTHOR scenes, placement mode
(in/on), must-be-open, placement whitelists. Loaded once, lazily.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from importlib import resources


@dataclass(frozen=True, slots=True)
class ObjectType:
    """Facts about one THOR object type."""

    name: str
    pickupable: bool
    moveable: bool
    receptacle: bool
    openable: bool
    placement_mode: str | None  # "in", "on" or None for non-receptacles
    must_be_open: bool
    object_specific: bool
    compatible_receptacles: frozenset[str]
    can_contain: frozenset[str]


def _flag(text: str) -> bool:
    return text.startswith("Y") or text.startswith("some")


def _split(text: str) -> frozenset[str]:
    return frozenset(t for t in text.split(";") if t)


@cache
def object_types() -> dict[str, ObjectType]:
    """All THOR object types by name."""
    path = resources.files("sim").joinpath("data/thor_object_types.csv")
    out: dict[str, ObjectType] = {}
    with path.open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            mode = row["receptacle_placement_mode"]
            out[row["object_type"]] = ObjectType(
                name=row["object_type"],
                pickupable=_flag(row["obs_pickupable"]),
                moveable=_flag(row["obs_moveable"]),
                receptacle=_flag(row["obs_receptacle"]),
                openable=_flag(row["obs_openable"]),
                placement_mode=("in" if mode.startswith("in") else "on") if mode else None,
                must_be_open=row["must_be_open_to_place"] == "Y",
                object_specific=row["object_specific_receptacle"] == "Y",
                compatible_receptacles=_split(row["unity_placement_restrictions"]),
                can_contain=_split(row["alfred_can_contain"]),
            )
    return out


def thor_labels() -> frozenset[str]:
    """The set of valid THOR object type names."""
    return frozenset(object_types())
