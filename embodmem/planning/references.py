"""Resolving a task's indirect references ("the fruit you cooled", "back where it was") from
what the memory holds.

- `changed`: the latest entry of the short-term change log that shows an object of one of the
  reference's types becoming `state` (hot: isCooked -> True or temperature -> Hot; cold:
  temperature -> Cold; clean: isDirty -> False; moved: put down or moved). Without such an
  entry, a remembered object of those types that shows the state now (a cold apple in view).
- `origin`: the receptacle an object stood in before the first logged change of where it is
  (its `parentReceptacles` before it was picked up), innermost first.

A resolved node counts as a short-term lookup (a hit when the buffer still holds it). None
means the memory does not know; the planner then falls back on what it can see and on priors.
"""

from __future__ import annotations

from embodmem.memory import EmbodiedMemory
from embodmem.planning.protocol import Reference
from embodmem.types import StateChange

PARENTS = "parentReceptacles"


def becomes(change: StateChange, state: str) -> bool:
    """Whether a logged change shows its object becoming `state`."""
    if state == "hot":
        return (change.field == "isCooked" and change.after is True) or (
            change.field == "temperature" and change.after == "Hot"
        )
    if state == "cold":
        return change.field == "temperature" and change.after == "Cold"
    if state == "clean":
        return change.field == "isDirty" and change.after is False
    return (change.field == "isPickedUp" and change.after is False) or change.field == "position"


def shows(states: dict, state: str) -> bool:
    """Whether remembered states show `state` now (a moved object shows nothing by itself)."""
    if state == "hot":
        return bool(states.get("isCooked")) or states.get("temperature") == "Hot"
    if state == "cold":
        return states.get("temperature") == "Cold"
    if state == "clean":
        return states.get("isDirty") is False
    return False


def changed_object(memory: EmbodiedMemory, ref: Reference) -> str | None:
    """The remembered object the reference names, or None (see the module docstring)."""
    graph = memory.scene_graph
    for change in reversed(memory.short_term.changes()):
        if (
            change.node_id in graph
            and graph.object(change.node_id).label in ref.types
            and becomes(change, ref.state or "")
        ):
            return _looked_up(memory, change.node_id)
    showing = sorted(
        n.node_id
        for n in graph.objects()
        if n.label in ref.types and shows(dict(n.states), ref.state or "")
    )
    return _looked_up(memory, showing[0]) if showing else None


def origin_of(memory: EmbodiedMemory, node_id: str) -> str | None:
    """The remembered receptacle `node_id` stood in before it was first moved, or None."""
    for change in memory.short_term.changes():
        if change.node_id != node_id or change.field != PARENTS or not change.before:
            continue
        for source in change.before:
            node = memory.scene_graph.object_by_source(str(source))
            if node is not None:
                return _looked_up(memory, node.node_id)
        return None
    return None


def _looked_up(memory: EmbodiedMemory, node_id: str) -> str:
    memory.short_term.access([node_id])
    return node_id
