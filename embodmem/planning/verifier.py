"""Check a plan against memory before running it (SayPlan's iterative replanning): each skill's
preconditions are tested on what the memory knows of the nodes it names, while a symbolic
state (what is in the hand, what is open, what is on) follows the plan step by step.

`verify` returns the first step that cannot work and why, or None; the reason goes back to
the planner. It reads memory nodes only (`label`, `states`, `attributes`, as the scene graph
keeps them), never the simulator.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from embodmem.planning.skills import ARGUMENTS, Skill

KNIVES = frozenset({"Knife", "ButterKnife"})  # ALFRED slices with a held knife
APPLIANCE = {"heat": ("Microwave",), "cool": ("Fridge",), "clean": ("Faucet",)}
BASINS = ("SinkBasin", "BathtubBasin")


@dataclass(frozen=True, slots=True)
class Infeasible:
    """The first plan step whose preconditions fail, and why (for the planner's next try)."""

    step: int
    skill: Skill
    reason: str


def _attr(node: Any, key: str) -> Any:
    return (getattr(node, "attributes", None) or {}).get(key)


def verify(
    plan: Sequence[Skill], nodes: Mapping[str, Any], held: str | None = None
) -> Infeasible | None:
    """The first infeasible step of `plan` over memory `nodes` (node id -> node), starting
    with `held` in the hand; None when every step's preconditions hold."""
    opened: dict[str, bool] = {}
    toggled: dict[str, bool] = {}
    for i, skill in enumerate(plan):
        reason = _check(skill, nodes, held, opened, toggled)
        if reason is not None:
            return Infeasible(i, skill, reason)
        held = _after(skill, held)
        if skill.name in ("open", "close"):
            opened[skill.target] = skill.name == "open"
        elif skill.name in ("toggle_on", "toggle_off"):
            toggled[skill.target] = skill.name == "toggle_on"
    return None


def _is_open(oid: str, nodes: Mapping[str, Any], opened: dict[str, bool]) -> bool:
    return opened.get(oid, bool((nodes[oid].states or {}).get("isOpen")))


def _check(
    skill: Skill,
    nodes: Mapping[str, Any],
    held: str | None,
    opened: dict[str, bool],
    toggled: dict[str, bool],
) -> str | None:
    for arg in ARGUMENTS:
        oid = getattr(skill, arg)
        if oid is not None and oid not in nodes:
            return f"{arg} {oid} is not in memory"
    name, t = skill.name, skill.target
    label = nodes[t].label if t is not None else None
    if name == "pickup":
        if held is not None:
            return (
                f"the hand already holds {held} ({nodes[held].label})"
                if held in nodes
                else "the hand is full"
            )
        if not _attr(nodes[t], "pickupable"):
            return f"{t} ({label}) cannot be picked up"
    elif name == "put":
        r = skill.receptacle
        if held is None:
            return "nothing in the hand to put"
        if not _attr(nodes[r], "receptacle"):
            return f"{r} ({nodes[r].label}) is not a receptacle"
        if _attr(nodes[r], "openable") and not _is_open(r, nodes, opened):
            return f"{r} ({nodes[r].label}) is closed: open it first"
    elif name in ("open", "close"):
        if not _attr(nodes[t], "openable"):
            return f"{t} ({label}) cannot be opened or closed"
        if _is_open(t, nodes, opened) == (name == "open"):
            return f"{t} ({label}) is already {'open' if name == 'open' else 'closed'}"
    elif name in ("toggle_on", "toggle_off"):
        if not _attr(nodes[t], "toggleable"):
            return f"{t} ({label}) cannot be switched"
        on = toggled.get(t, bool((nodes[t].states or {}).get("isToggled")))
        if on == (name == "toggle_on"):
            return f"{t} ({label}) is already {'on' if on else 'off'}"
    elif name == "slice":
        if not _attr(nodes[t], "sliceable"):
            return f"{t} ({label}) cannot be sliced"
        if held is None or nodes[held].label not in KNIVES:
            return "slicing needs a knife in the hand"
    elif name in APPLIANCE:
        if held != t:
            return f"{name} needs {t} ({label}) in the hand"
        device = skill.appliance
        if device is None:
            return f"{name} needs an appliance ({' or '.join(APPLIANCE[name])})"
        if nodes[device].label not in APPLIANCE[name]:
            return f"{device} ({nodes[device].label}) cannot {name}: use a {APPLIANCE[name][0]}"
        if name == "clean" and (
            skill.receptacle is None or nodes[skill.receptacle].label not in BASINS
        ):
            return "clean needs a sink or bathtub basin to put it in"
    elif name == "drop" and held is None:
        return "nothing in the hand to drop"
    return None


def _after(skill: Skill, held: str | None) -> str | None:
    """What is in the hand after the skill."""
    if skill.name == "pickup":
        return skill.target
    if skill.name in ("put", "drop"):
        return None
    return held
