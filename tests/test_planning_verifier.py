"""The plan verifier: preconditions checked on memory nodes while a symbolic state follows."""

from __future__ import annotations

import pytest

from embodmem import EmbodiedMemory
from embodmem.embedders import HashingEmbedder
from embodmem.planning.skills import Skill
from embodmem.planning.verifier import verify
from sim.offline import OfflineController
from sim.thor import observation_from_metadata


@pytest.fixture(scope="module")
def kitchen():
    """A memory of FloorPlan1 from its initial objects, and node ids by type."""
    ctl = OfflineController("FloorPlan1")
    mem = EmbodiedMemory(embedder=HashingEmbedder())
    mem.integrate(observation_from_metadata(ctl.last_event.metadata, time_ns=1))
    nodes = {n.node_id: n for n in mem.scene_graph.objects()}
    by = {}
    for n in nodes.values():
        by.setdefault(n.label, n.node_id)
    return nodes, by


def test_a_sound_plan_passes(kitchen) -> None:
    nodes, by = kitchen
    plan = [
        Skill("navigate_to", target=by["Apple"]),
        Skill("pickup", target=by["Apple"]),
        Skill("navigate_to", target=by["Fridge"]),
        Skill("open", target=by["Fridge"]),
        Skill("put", receptacle=by["Fridge"]),
        Skill("close", target=by["Fridge"]),
        Skill("done"),
    ]
    assert verify(plan, nodes) is None


@pytest.mark.parametrize(
    ("steps", "at", "reason"),
    [
        ([("put", {"receptacle": "Fridge"})], 0, "nothing in the hand"),
        (
            [("pickup", {"target": "Apple"}), ("put", {"receptacle": "Fridge"})],
            1,
            "closed: open it",
        ),
        ([("pickup", {"target": "Apple"}), ("pickup", {"target": "Mug"})], 1, "already holds"),
        ([("pickup", {"target": "Fridge"})], 0, "cannot be picked up"),
        ([("open", {"target": "Apple"})], 0, "cannot be opened"),
        ([("open", {"target": "Fridge"}), ("open", {"target": "Fridge"})], 1, "already open"),
        ([("slice", {"target": "Apple"})], 0, "needs a knife"),
        ([("heat", {"target": "Apple", "appliance": "Microwave"})], 0, "in the hand"),
        (
            [("pickup", {"target": "Apple"}), ("heat", {"target": "Apple", "appliance": "Fridge"})],
            1,
            "use a Microwave",
        ),
        ([("pickup", {"target": "Apple"}), ("cool", {"target": "Apple"})], 1, "needs an appliance"),
        ([("drop", {})], 0, "nothing in the hand"),
        ([("pickup", {"target": "O999"})], 0, "not in memory"),
    ],
)
def test_infeasible_steps_are_found_with_a_reason(kitchen, steps, at, reason) -> None:
    nodes, by = kitchen
    plan = [Skill(name, **{k: by.get(v, v) for k, v in args.items()}) for name, args in steps]
    bad = verify(plan, nodes)
    assert bad is not None and bad.step == at and reason in bad.reason, bad


def test_knife_and_held_object_carry_over(kitchen) -> None:
    nodes, by = kitchen
    assert verify([Skill("slice", target=by["Apple"])], nodes, held=by["Knife"]) is None
    assert verify([Skill("put", receptacle=by["CounterTop"])], nodes, held=by["Apple"]) is None
