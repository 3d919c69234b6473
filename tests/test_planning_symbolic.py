"""The symbolic planner on a hand-built memory: what it plans around closed receptacles."""

from __future__ import annotations

import dataclasses

from embodmem import EmbodiedMemory, Observation
from embodmem.planning import Skill, SymbolicPlanner, TaskSpec
from embodmem.planning.protocol import PlanRequest
from tests.helpers import box_object

PUT_PENCIL = TaskSpec(
    "Put a pencil in the drawer.",
    "pick_and_place_simple",
    {"object": "Pencil", "parent": "Drawer"},
)


def desk_memory(pencil_in_drawer: bool) -> EmbodiedMemory:
    """A desk with a closed drawer, and a pencil in the drawer or on the desk."""
    drawer = box_object(
        "Drawer", (0.0, 0.1, 0.1), (0.5, 0.9, 0.3), "dr", receptacle=True, openable=True
    )
    drawer = dataclasses.replace(drawer, states={"isOpen": False})
    z = 0.12 if pencil_in_drawer else 0.8
    pencil = box_object("Pencil", (0.2, 0.4, z), (0.3, 0.45, z + 0.02), "pen", pickupable=True)
    desk = box_object("Desk", (0.0, 0.0, 0.0), (1.0, 1.0, 0.8), "desk", receptacle=True)
    mem = EmbodiedMemory()
    mem.integrate(Observation(0, (desk, drawer, pencil)))
    return mem


def node(mem: EmbodiedMemory, source: str) -> str:
    found = mem.scene_graph.object_by_source(source)
    assert found is not None
    return found.node_id


def test_what_is_shut_in_a_drawer_no_cell_shows_is_left_out() -> None:
    """Two walks to the closed drawer failed: the pencil in it cannot be had, so the planner
    looks for another instead of walking to the drawer again."""
    mem = desk_memory(pencil_in_drawer=True)
    pen, drawer = node(mem, "pen"), node(mem, "dr")
    assert mem.scene_graph.support_chain(pen)[0] == drawer
    task = dataclasses.replace(PUT_PENCIL, targets={"object": "Pencil", "parent": "Desk"})
    first = SymbolicPlanner().plan(PlanRequest(task, mem))
    assert first.skills[:2] == (Skill("navigate_to", target=drawer), Skill("open", target=drawer))
    failed = f"navigate_to: {drawer} (Drawer) is not in view from any cell tried"
    history = ((Skill("navigate_to", target=drawer), failed),) * 2
    again = SymbolicPlanner().plan(PlanRequest(task, mem, history=history))
    assert again.skills == (Skill("explore"),), again


def test_a_receptacle_the_task_names_is_used_when_memory_knows_it() -> None:
    """Two desks: the task singles one out by its THOR id (FloorPlan307's goal after
    `versions.pin_goal`), so the held pencil goes there, not to the nearer desk."""
    near = box_object("Desk", (0.0, 0.0, 0.0), (1.0, 0.8, 0.6), "Desk|near", receptacle=True)
    far = box_object("Desk", (4.0, 0.0, 0.0), (5.0, 0.8, 0.6), "Desk|far", receptacle=True)
    pencil = box_object("Pencil", (0.2, 0.8, 0.2), (0.3, 0.82, 0.22), "pen", pickupable=True)
    mem = EmbodiedMemory()
    mem.integrate(Observation(0, (near, far, pencil)))
    task = dataclasses.replace(PUT_PENCIL, targets={"object": "Pencil", "parent": "Desk"})
    held = node(mem, "pen")

    def target(spec: TaskSpec) -> str:
        plan = SymbolicPlanner().plan(PlanRequest(spec, mem, held=held, position=(0.5, 0.9, 1.0)))
        return next(s.receptacle for s in plan.skills if s.name == "put")

    assert target(task) == node(mem, "Desk|near")
    named = dataclasses.replace(task, instances={"parent": "Desk|far"})
    assert target(named) == node(mem, "Desk|far")
    unknown = dataclasses.replace(task, instances={"parent": "Desk|elsewhere"})
    assert target(unknown) == node(mem, "Desk|near")  # not in memory: the nearest one
