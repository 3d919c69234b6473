"""Seeded scene randomizer (THOR's InitialRandomSpawn): every pickupable object moves to a random
free spot on / in a random compatible receptacle of the scene (its type's placement whitelist),
or stays where it is when none has room."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from sim.object_types import object_types
from sim.offline.placement import put_spot
from sim.offline.state import SceneState


def random_spawn(
    state: SceneState,
    seed: int,
    excluded_receptacles: Iterable[str] = (),
    excluded_object_ids: Iterable[str] = (),
) -> int:
    """Move the pickupable objects of `state` to random compatible receptacles; returns how many
    moved. `excluded_receptacles` are receptacle types, `excluded_object_ids` objects to keep."""
    rng = np.random.default_rng(seed)
    skip_types, skip_ids = set(excluded_receptacles), set(excluded_object_ids)
    receptacles = [
        k
        for k, o in state.objects.items()
        if o.get("receptacle") and o["objectType"] not in skip_types
    ]
    moved = 0
    for oid in sorted(state.objects):
        obj = state.objects[oid]
        if not obj.get("pickupable") or oid == state.held or oid in skip_ids or obj.get("isSliced"):
            continue
        facts = object_types().get(obj["objectType"])
        whitelist = facts.compatible_receptacles if facts is not None else frozenset()
        inside = set(state.descendants(oid))
        options = [
            r
            for r in receptacles
            if state.objects[r]["objectType"] in whitelist and r != oid and r not in inside
        ]
        for r in rng.permutation(len(options)):
            spot = put_spot(state, oid, options[r], rng)
            if spot is not None:
                state.move(oid, spot - state.pos[state.row[oid]])
                state.attach(oid, options[r])
                moved += 1
                break
    state.invalidate()
    return moved
