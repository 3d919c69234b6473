"""Planner context: modes, token budget, expand, recent changes first; the offline tokenizer."""

from __future__ import annotations

import dataclasses
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from embodmem import EmbodiedMemory, MemoryConfig, ObjectObservation, Observation, Pose
from embodmem.context import MODES, clauses
from embodmem.errors import QueryError, UnknownNodeError, ValidationError
from embodmem.scene_graph import RELATION_KINDS
from embodmem.tokens import TokenCounter
from sim.offline import OfflineController
from sim.scenes import scene_objects
from sim.thor import observation_from_metadata, region_of_scene

APPLE = "Apple|-00.47|+01.15|+00.48"
FRIDGE = "Fridge|-02.10|+00.00|+01.07"
TASK = "Put a chilled apple in the fridge."


def scene_memory(scene: str = "FloorPlan1") -> EmbodiedMemory:
    mem = EmbodiedMemory(MemoryConfig(embedder="hashing"))
    obs = observation_from_metadata(scene_objects(scene), time_ns=1)
    mem.integrate(obs.__class__(obs.time_ns, obs.objects, region=region_of_scene(scene)))
    return mem


@pytest.fixture(scope="module")
def fp1() -> EmbodiedMemory:
    return scene_memory()


def test_tokenizer_is_real_and_offline() -> None:
    cl100k = TokenCounter("cl100k_base")
    assert cl100k.count("hello world") == 2  # tiktoken cl100k_base: [15339, 1917]
    assert cl100k.count("<|endoftext|>") > 1  # special markers count as text
    assert TokenCounter("o200k_base").count("hello world") == 2
    with pytest.raises(ValidationError, match="encoding"):
        TokenCounter("cl100k")
    with pytest.raises(ValidationError, match="text"):
        cl100k.count(None)  # type: ignore[arg-type]


def test_full_and_hierarchy_list_every_object(fp1: EmbodiedMemory) -> None:
    full = fp1.context(TASK, budget_tokens=None, mode="full")
    listing = fp1.context(TASK, budget_tokens=None, mode="hierarchy")
    objects = {n.node_id for n in fp1.scene_graph.objects()}
    assert objects <= set(full.node_ids) and objects <= set(listing.node_ids)
    assert full.token_count == TokenCounter().count(full.text)
    room = fp1.scene_graph.rooms()[0]
    assert full.text.splitlines()[0] == f"B1 building; contains {room.node_id}"
    assert listing.text.splitlines()[0].startswith(f"{room.node_id} kitchen (")
    assert " at (" not in listing.text and "; near " not in listing.text
    assert listing.token_count < full.token_count / 2  # positions and near edges cost


def whole_memory() -> EmbodiedMemory:
    """FloorPlan1 seen from two places in the kitchen, then a hallway: every relation kind."""
    mem = EmbodiedMemory(MemoryConfig(embedder="hashing"))
    obs = observation_from_metadata(scene_objects("FloorPlan1"), time_ns=1, region="kitchen")
    mem.integrate(dataclasses.replace(obs, agent_pose=Pose((0.0, 0.0, 0.9))))
    mem.integrate(Observation(2, agent_pose=Pose((0.0, 1.5, 0.9)), region="kitchen"))
    hall = ObjectObservation("Painting", position=(0.0, 4.0, 1.5), id_hint="painting")
    mem.integrate(Observation(3, (hall,), agent_pose=Pose((0.0, 3.5, 0.9)), region="hallway"))
    return mem


def test_full_mode_writes_every_node_and_every_relation() -> None:
    mem = whole_memory()
    g = mem.scene_graph
    assert all(g.relations(kind) for kind in RELATION_KINDS)  # nothing vacuous below
    lines = mem.context(TASK, budget_tokens=None, mode="full").text.splitlines()
    at = {}
    for i, line in enumerate(lines):
        words = line.split()
        at[words[1] if words[0] in ("on", "in") else words[0]] = i
    assert {n.node_id for n in g.nodes()} <= set(at)

    def indent(i: int) -> int:
        return len(lines[i]) - len(lines[i].lstrip())

    def above(i: int) -> int:  # the nearest line above with less indentation
        return next(j for j in range(i - 1, -1, -1) if indent(j) < indent(i))

    def listed(node_id: str, kind: str) -> list[str]:
        found = re.search(f"; {kind} ([^;]*)", lines[at[node_id]])
        return found.group(1).split(", ") if found else []

    for a, kind, b in g.relations():
        if kind in ("on", "in"):
            assert lines[at[a]].lstrip().startswith(f"{kind} {a} ")
            assert above(at[a]) == at[b]
        elif kind == "near":
            assert b in listed(a, "near")
        elif kind == "connected_to":
            length = g.connections(a)[b]
            assert f"{b} ({length:.2f} m)" in listed(a, "connected to")
        elif g.node(a).layer.value == "room":  # contains: nodes listed under their room
            head = max(j for j in range(at[b]) if indent(j) == 0)
            assert head == at[a]
        else:
            assert b in listed(a, "contains")
    for node in [*g.objects(), *g.places()]:
        x, y, z = node.position
        assert f" at ({x:.2f}, {y:.2f}, {z:.2f})" in lines[at[node.node_id]]
    fridge = g.object_by_source(FRIDGE).node_id
    assert lines[at[fridge]].split(" at (")[0].endswith(f"{fridge} Fridge (closed)")


def test_collapsed_and_retrieved_are_much_smaller(fp1: EmbodiedMemory) -> None:
    full = fp1.context(TASK, budget_tokens=None, mode="hierarchy")
    for mode in ("collapsed", "retrieved"):
        ctx = fp1.context(TASK, mode=mode)
        assert ctx.token_count < full.token_count / 3
        labels = {fp1.scene_graph.node(n).label for n in ctx.node_ids}
        assert {"Apple", "Fridge"} <= labels
    collapsed = fp1.context(TASK, mode="collapsed")
    assert "collapsed: " in collapsed.text and "Cabinetx9" in collapsed.text


def test_nested_lines_follow_support_relations(fp1: EmbodiedMemory) -> None:
    ctx = fp1.context(TASK, mode="retrieved")
    apple = fp1.scene_graph.object_by_source(APPLE)
    kind, parent = fp1.scene_graph.parent(apple.node_id)
    lines = ctx.text.splitlines()
    at = next(i for i, line in enumerate(lines) if f"{apple.node_id} Apple" in line)
    assert lines[at].strip().startswith(f"{kind} {apple.node_id}")
    above = next(
        line
        for line in reversed(lines[:at])
        if len(line) - len(line.lstrip()) < len(lines[at]) - len(lines[at].lstrip())
    )
    assert above.strip().startswith(parent) or f" {parent} " in above


@settings(max_examples=15, deadline=None)
@given(st.integers(40, 700), st.sampled_from(MODES))
def test_budget_is_respected(fp1: EmbodiedMemory, budget: int, mode: str) -> None:
    unbounded = fp1.context(TASK, budget_tokens=None, mode=mode)
    room_line = next(line for line in unbounded.text.splitlines() if line.startswith("R1 "))
    needed = TokenCounter().count(room_line) + 1
    if budget < needed:
        with pytest.raises(QueryError, match="budget_tokens"):
            fp1.context(TASK, budget_tokens=budget, mode=mode)
        return
    ctx = fp1.context(TASK, budget_tokens=budget, mode=mode)
    assert ctx.token_count <= budget
    assert ctx.token_count == TokenCounter().count(ctx.text)
    bigger = fp1.context(TASK, budget_tokens=budget + 300, mode=mode)
    assert set(ctx.node_ids) <= set(bigger.node_ids)


def test_bad_context_input(fp1: EmbodiedMemory) -> None:
    with pytest.raises(QueryError, match="budget_tokens"):
        fp1.context(TASK, budget_tokens=3)
    for bad in (0, -5, True, 2.5):
        with pytest.raises(ValidationError, match="budget_tokens"):
            fp1.context(TASK, budget_tokens=bad)
    with pytest.raises(ValidationError, match="mode"):
        fp1.context(TASK, mode="everything")
    with pytest.raises(ValidationError, match="task"):
        fp1.context("  ")
    with pytest.raises(UnknownNodeError, match="O4242"):
        fp1.context(TASK).expand("O4242")


def test_expand_opens_rooms_and_receptacles(fp1: EmbodiedMemory) -> None:
    ctx = fp1.context("open a drawer", mode="collapsed")
    room = fp1.scene_graph.rooms()[0].node_id
    opened = ctx.expand(room)
    roots = {
        n.node_id for n in fp1.scene_graph.objects() if fp1.scene_graph.parent(n.node_id) is None
    }
    assert roots <= set(opened.node_ids) and not roots <= set(ctx.node_ids)
    fridge = fp1.scene_graph.object_by_source(FRIDGE).node_id
    inside = set(fp1.scene_graph.children(fridge))
    assert inside and not inside & set(ctx.node_ids)
    assert inside <= set(ctx.expand(fridge).node_ids)
    assert opened.expanded == {room}


def test_empty_memory_context() -> None:
    ctx = EmbodiedMemory(MemoryConfig(embedder="hashing")).context(TASK)
    assert ctx.node_ids == () and "empty" in ctx.text


def test_recent_changes_come_first() -> None:
    mem = EmbodiedMemory(MemoryConfig(embedder="hashing"))
    ctl = OfflineController("FloorPlan1")
    metas = [ctl.reset("FloorPlan1").metadata]
    for action, target in (
        ("OpenObject", FRIDGE),
        ("PickupObject", APPLE),
        ("PutObject", FRIDGE),
        ("CloseObject", FRIDGE),
    ):
        metas.append(ctl.step(action=action, objectId=target, forceAction=True).metadata)
    for t, meta in enumerate(metas):
        mem.integrate(observation_from_metadata(meta, time_ns=(t + 1) * 10**9))
    ctx = mem.context("where is the apple?", mode="collapsed")
    lines = ctx.text.splitlines()
    assert lines[0] == "Recent changes (newest first):"
    apple = mem.scene_graph.object_by_source(APPLE).node_id
    fridge = mem.scene_graph.object_by_source(FRIDGE).node_id
    change = next(line for line in lines if line.startswith(f"- Apple {apple}"))
    assert f"to Fridge {fridge}" in change and "PutObject" in change
    assert any(f"{fridge} Fridge (closed)" in line for line in lines)


def test_context_counts_lookups_and_sets_the_goal() -> None:
    mem = EmbodiedMemory(MemoryConfig(embedder="hashing", short_term_policy="relevance"))
    obs = observation_from_metadata(scene_objects("FloorPlan1"), time_ns=1)
    mem.integrate(obs)
    before = mem.short_term.hits + mem.short_term.misses
    mem.context(TASK)
    assert mem.short_term.hits + mem.short_term.misses > before
    assert mem.short_term.policy.goal == TASK


def test_clauses() -> None:
    assert clauses("Pick up the knife, then slice the apple. Put it in the fridge") == [
        "Pick up the knife",
        "slice the apple",
        "Put it in the fridge",
    ]
    assert clauses("...") == ["..."]


def test_named_receptacles_and_whole_support_chains_are_shown(fp1: EmbodiedMemory) -> None:
    g = fp1.scene_graph
    task = "Take the egg out of the refrigerator, then put it on the kitchen counter"
    ctx = fp1.context(task, budget_tokens=None, mode="retrieved")
    labels = {g.node(n).label for n in ctx.node_ids}
    assert {"Egg", "Fridge", "CounterTop"} <= labels  # "refrigerator", "counter": lexicon names
    fork = next(n.node_id for n in g.objects() if n.label == "Fork")
    chain = g.support_chain(fork)
    assert len(chain) >= 2  # in a drawer that stands on a drawer
    shown = set(fp1.context("Grab the forks", mode="retrieved").node_ids)
    assert {fork, *chain} <= shown
