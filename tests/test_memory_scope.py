"""Memory ablations (`embodmem.planning.scope`): what each mode lets the planner remember,
checked on real ALFRED episodes, and `EmbodiedMemory.forget`."""

from __future__ import annotations

import pytest

from embodmem import EmbodiedMemory
from embodmem.config import MemoryConfig
from embodmem.errors import UnknownNodeError, ValidationError
from embodmem.planning import Agent, make_planner
from sim.offline import OfflineController
from sim.tasks import Task, load_alfred_default

SCENE = "FloorPlan1"


@pytest.fixture(scope="module")
def kitchen_tasks() -> list[Task]:
    return [t for t in load_alfred_default() if t.scene == SCENE][:2]


@pytest.fixture(scope="module")
def env() -> OfflineController:
    return OfflineController(SCENE)


def memory(capacity: int = 64) -> EmbodiedMemory:
    return EmbodiedMemory(MemoryConfig(embedder="hashing", short_term_capacity=capacity))


def sources(mem: EmbodiedMemory) -> set[str]:
    return {n.source_id for n in mem.scene_graph.objects()}


def test_none_remembers_only_the_current_view(kitchen_tasks, env) -> None:
    mem = memory()
    agent = Agent(make_planner("symbolic"), mem, env, memory_scope="none")
    result = agent.run(kitchen_tasks[0], max_steps=150)
    last = result.log[-1]
    held = env.last_event.metadata["inventoryObjects"]
    assert sources(mem) <= set(last.visible) | {o["objectId"] for o in held}
    assert result.recalled == ()


def test_stm_starts_empty_and_stays_within_the_buffer(kitchen_tasks, env) -> None:
    mem = memory(capacity=16)
    Agent(make_planner("symbolic"), mem, env).run(kitchen_tasks[0], max_steps=1000)
    assert len(mem.scene_graph.objects()) > 16
    result = Agent(make_planner("symbolic"), mem, env, memory_scope="stm").run(
        kitchen_tasks[1], max_steps=200
    )
    assert result.recalled == ()  # nothing carried over from the first episode
    visible = set(result.log[-1].visible)
    kept = sources(mem) - visible
    assert len(kept) <= 16


def test_ltm_writes_what_it_saw_when_the_episode_ends(kitchen_tasks, env) -> None:
    mem = memory()
    result = Agent(make_planner("symbolic"), mem, env, memory_scope="ltm").run(
        kitchen_tasks[0], max_steps=200
    )
    seen = {oid for rec in result.log for oid in rec.visible}
    assert len(sources(mem)) > len(result.log[-1].visible)
    assert sources(mem) <= seen  # only what the agent saw, nothing invented
    assert len(sources(mem) & seen) >= 0.8 * len(seen)


def test_full_remembers_more_than_none(kitchen_tasks, env) -> None:
    full, none = memory(), memory()
    Agent(make_planner("symbolic"), full, env).run(kitchen_tasks[0], max_steps=200)
    Agent(make_planner("symbolic"), none, env, memory_scope="none").run(
        kitchen_tasks[0], max_steps=200
    )
    assert len(full.scene_graph.objects()) > 3 * len(none.scene_graph.objects())


def test_experience_is_kept_by_the_modes_that_keep_episodes(kitchen_tasks, env) -> None:
    """`none` keeps no experience, even within a resumed episode; `stm` keeps the episode's
    own; `full` carries it on, and the next episode starts from the floor blocks it learned."""
    kept = {}
    for mode in ("none", "stm", "full"):
        mem = memory()
        agent = Agent(make_planner("symbolic"), mem, env, memory_scope=mode)
        agent.run(kitchen_tasks[0], max_steps=300)
        agent.run(kitchen_tasks[1], max_steps=20, resume=True)
        within = len(mem.experience)
        agent.run(kitchen_tasks[1], max_steps=20)
        kept[mode] = (within, len(mem.experience))
    assert kept == {"none": (1, 1), "stm": (2, 1), "full": (2, 3)}


def test_a_later_episode_starts_from_the_floor_it_learned(kitchen_tasks, env, monkeypatch):
    from embodmem.planning import executor

    mem = memory()
    Agent(make_planner("symbolic"), mem, env).run(kitchen_tasks[0], max_steps=300)
    blocked = mem.experience.blocked_floor()
    assert blocked  # 300 steps in a kitchen bump into something
    starts = []
    start = executor.Executor.start

    def spy(self) -> None:
        start(self)
        starts.append((set(self.floor.remembered), list(self.unreached_before)))

    monkeypatch.setattr(executor.Executor, "start", spy)
    for learn in (True, False):
        Agent(make_planner("symbolic"), mem, env, learn=learn).run(kitchen_tasks[1], max_steps=5)
    (remembered, far), (nothing, none_far) = starts
    cells = {executor.FloorMap().cell(x, z) for x, z in blocked}
    assert remembered <= cells and len(remembered) >= len(cells) - 1  # less the cell stood on
    assert far == mem.experience.unreached_floor()
    assert nothing == set() and none_far == []


def test_an_unknown_scope_is_refused(env) -> None:
    with pytest.raises(ValidationError, match="none, stm, ltm, full"):
        Agent(make_planner("symbolic"), memory(), env, memory_scope="most")


def test_forget_checks_every_id_before_dropping_any(kitchen_tasks, env) -> None:
    mem = memory()
    Agent(make_planner("symbolic"), mem, env).run(kitchen_tasks[0], max_steps=40)
    ids = [n.node_id for n in mem.scene_graph.objects()]
    before = mem.to_dict()
    with pytest.raises(UnknownNodeError):
        mem.forget([ids[0], "O999999"])
    assert mem.to_dict() == before
    mem.forget(ids[:3])
    left = {n.node_id for n in mem.scene_graph.objects()}
    assert left == set(ids[3:])
