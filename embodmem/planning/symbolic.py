"""The symbolic planner: the offline default. It plans from the typed goal (ALFRED's task type
and target types) and what the memory knows, and explores when the memory does not know where a
needed thing is.

Each call rebuilds the plan from the memory and the skills run so far (which object went into
which receptacle, what was heated, sliced...), so it replans after every failure or surprise
for free. Objects are chosen nearest first; a node whose skills failed twice is left out.
Exploration looks over the floor first (unvisited places), then opens receptacles ranked by
where the type is likely to be (`priors.where_likely`: household knowledge and experience),
nearest first among equals. Deterministic: ties break by node id.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from embodmem.errors import UnknownNodeError
from embodmem.memory import EmbodiedMemory
from embodmem.nodes import ObjectNode
from embodmem.planning.executor import NO_FRONTIER, STALE
from embodmem.planning.priors import where_likely
from embodmem.planning.protocol import Plan, PlanRequest, TaskSpec
from embodmem.planning.references import changed_object, origin_of
from embodmem.planning.skills import Skill

KNIVES = ("Knife", "ButterKnife")
BASINS = ("SinkBasin", "BathtubBasin")
APPLIANCE = {"heat": "Microwave", "cool": "Fridge"}
STATE_SKILL = {
    "pick_heat_then_place_in_recep": "heat",
    "pick_cool_then_place_in_recep": "cool",
    "pick_clean_then_place_in_recep": "clean",
}
MAX_FAILURES = 2  # failed skills naming a node before it is left out


class _Done(Exception):
    """The plan so far ends here (a replan follows what it changes)."""


class _Missing(Exception):
    """A type the plan needs that memory does not know (explore for it)."""

    def __init__(self, otype: str) -> None:
        self.otype = otype


@dataclass
class _Progress:
    """What the skills run so far achieved, read from the history."""

    placed: dict[str, list[str]] = field(default_factory=dict)  # receptacle -> objects put
    treated: set[str] = field(default_factory=set)  # nodes heated / cooled / cleaned
    sliced: bool = False
    searched: set[str] = field(default_factory=set)
    frontier_done: bool = False
    failures: Counter[str] = field(default_factory=Counter)
    stale: Counter[str] = field(default_factory=Counter)  # failures: not where remembered


def _progress(history: Iterable[tuple[Skill, str | None]], held: str | None) -> _Progress:
    out = _Progress()
    hand: str | None = None
    for skill, reason in history:
        if reason is not None:
            nodes = list(skill.args().values())
            named = [n for n in nodes if re.search(rf"\b{re.escape(n)}\b", reason)]
            for node in named or nodes:  # blame the node the reason names, if it names one
                # remembered from an earlier episode and not there now: not worth a second walk
                out.failures[node] += MAX_FAILURES if reason.endswith(STALE) else 1
                out.stale[node] += reason.endswith(STALE)
            if skill.name == "explore" and skill.target is None and reason == NO_FRONTIER:
                out.frontier_done = True
            if skill.name == "explore" and skill.target is not None:
                out.searched.add(skill.target)
            continue
        if skill.name == "pickup":
            hand = skill.target
        elif skill.name == "put" and hand is not None:
            out.placed.setdefault(skill.receptacle, []).append(hand)  # type: ignore[arg-type]
            hand = None
        elif skill.name == "drop":
            hand = None
        elif skill.name in ("heat", "cool", "clean"):
            out.treated.add(skill.target)  # type: ignore[arg-type]
        elif skill.name == "slice":
            out.sliced = True
        elif skill.name == "explore" and skill.target is not None:
            out.searched.add(skill.target)
    return out


class SymbolicPlanner:
    """Plans ALFRED's seven task types from memory; see the module docstring."""

    name = "symbolic"

    def __init__(self, use_experience: bool = True) -> None:
        self.use_experience = use_experience
        self.task = TaskSpec("")
        self.memory: EmbodiedMemory | None = None
        self.stale_seen: dict[str, int] = {}  # node -> when last seen, as its stale walk failed

    def reset(self, task: TaskSpec, memory: EmbodiedMemory) -> None:
        """Start a new task."""
        self.task, self.memory = task, memory
        self.stale_seen = {}

    def plan(self, request: PlanRequest) -> Plan:
        """The skills from here to the goal, or an exploration step when something needed is
        not in memory, or an empty plan with the reason when nothing is left to try."""
        self.task, self.memory = request.task, request.memory
        progress = _progress(request.history, request.held)
        self._forgive_refreshed(progress, request.memory)
        state = _Planning(request, progress)
        try:
            skills = state.solve()
        except _Missing as need:
            step = self._explore(state, need.otype)
            if step is None:
                return Plan((), reason=f"no {need.otype} found: nothing left to explore")
            return Plan((step,), shown=f"looking for a {need.otype}")
        except ValueError as exc:
            return Plan((), reason=str(exc))
        return Plan(tuple(skills), shown=str(self.task.task_type))

    def _forgive_refreshed(self, progress: _Progress, memory: EmbodiedMemory) -> None:
        """A node that was not where memory had it, and has been seen again since, is known
        afresh: its stale failures no longer count."""
        for node, count in progress.stale.items():
            try:
                seen = memory.short_term.evidence(node).last_seen_ns
            except UnknownNodeError:  # forgotten since
                continue
            if self.stale_seen.setdefault(node, seen) < seen:
                progress.failures[node] -= MAX_FAILURES * count

    def _explore(self, state: _Planning, otype: str) -> Skill | None:
        if not state.progress.frontier_done:
            return Skill("explore")
        memory = state.request.memory
        likely = where_likely(otype, memory.experience if self.use_experience else None)
        candidates = [
            n
            for n in memory.scene_graph.objects()
            if n.attributes.get("openable")
            and n.attributes.get("receptacle")
            and n.node_id not in state.progress.searched
            and state.usable(n)
        ]
        if not candidates:
            return None
        best = min(
            candidates,
            key=lambda n: (-likely.get(n.label, 0.0), state.distance(n), n.node_id),
        )
        return Skill("explore", target=best.node_id)


class _Planning:
    """One planning call: the request, the progress, and node choices."""

    def __init__(self, request: PlanRequest, progress: _Progress) -> None:
        self.request = request
        self.progress = progress
        self.graph = request.memory.scene_graph
        self.held = request.held
        self.targets = dict(request.task.targets)
        self.skills: list[Skill] = []
        self.opened: dict[str, bool] = {}  # open/closed as the plan so far leaves it

    # ---------------------------------------------------------------- node choice
    def usable(self, node: ObjectNode) -> bool:
        """Not failed twice, and not shut inside a closed container that failed twice (a
        drawer no cell shows cannot be opened to take what is in it)."""
        failures = self.progress.failures
        return failures[node.node_id] < MAX_FAILURES and not any(
            failures[p] >= MAX_FAILURES and self.closed(p)
            for p in self.graph.support_chain(node.node_id)
        )

    def distance(self, node: ObjectNode) -> float:
        here = self.request.position
        return 0.0 if here is None else math.dist(here[:2], node.position[:2])

    def find(self, otypes: str | Iterable[str], role: str, exclude: Iterable[str] = ()) -> str:
        """The nearest usable node of a type with the role flag; `_Missing` when none."""
        types = (otypes,) if isinstance(otypes, str) else tuple(otypes)
        skip = set(exclude)
        nodes = [
            n
            for n in self.graph.objects()
            if n.label in types
            and n.attributes.get(role)
            and n.node_id not in skip
            and self.usable(n)
        ]
        if not nodes:
            raise _Missing(types[0])
        best = min(nodes, key=lambda n: (self.distance(n), n.node_id)).node_id
        self.request.memory.short_term.access([best])  # a memory read: a hit or a miss
        return best

    def label(self, node_id: str | None) -> str | None:
        """The node's label; None for no node or one the memory no longer holds."""
        return self.graph.object(node_id).label if node_id in self.graph else None

    # ---------------------------------------------------------------- plan pieces
    def add(self, name: str, **args: str) -> None:
        self.skills.append(Skill(name, **args))
        if name in ("open", "close"):
            self.opened[args["target"]] = name == "open"

    def closed(self, node_id: str) -> bool:
        """Whether `node_id` is an openable left closed by memory and the plan so far."""
        node = self.graph.object(node_id)
        is_open = self.opened.get(node_id, bool(node.states.get("isOpen")))
        return bool(node.attributes.get("openable")) and not is_open

    def free_hand(self, keep: str | None = None) -> None:
        """Drop what is in the hand unless it is `keep`."""
        if self.held is not None and self.held != keep:
            self.add("drop")
            self.held = None

    def get(self, node_id: str) -> None:
        """Hold `node_id`: free the hand, open its closed container, go and pick it up, and
        close the container again (an open drawer or door blocks the way)."""
        if self.held == node_id:
            return
        self.free_hand()
        opened = self.open_container(node_id)
        self.add("navigate_to", target=node_id)
        self.add("pickup", target=node_id)
        if opened is not None:
            self.add("close", target=opened)
        self.held = node_id

    def open_container(self, node_id: str) -> str | None:
        """Open the closed receptacle `node_id` is in, if any; the receptacle this plan
        opened (now or earlier), which the caller may close again."""
        for parent in self.graph.support_chain(node_id):
            if self.opened.get(parent):
                return parent
            if self.closed(parent):
                self.add("navigate_to", target=parent)
                self.add("open", target=parent)
                return parent
        return None

    def put_into(self, recep: str) -> None:
        """Put the held object into `recep`, opening it (and what it stands in) first."""
        self.open_container(recep)
        self.add("navigate_to", target=recep)
        if self.closed(recep):
            self.add("open", target=recep)
        self.add("put", receptacle=recep)
        self.held = None

    def obtain(self, otype: str, exclude: Iterable[str] = ()) -> str:
        """A node of `otype` held at the end of the plan so far; slices a whole one first
        when the type is a slice and none is known."""
        if self.held is not None and self.label(self.held) == otype and self.held not in exclude:
            return self.held
        whole = otype.removesuffix("Sliced")
        if whole != otype and not self.progress.sliced:
            try:
                return self._pick(otype, exclude)
            except _Missing:
                self.slice(whole)  # ends the plan: the slices show up after slicing
        return self._pick(otype, exclude)

    def _pick(self, otype: str, exclude: Iterable[str]) -> str:
        node = self.find(otype, "pickupable", exclude)
        self.get(node)
        return node

    def slice(self, whole: str) -> None:
        """Pick up a knife, slice the whole object, put the knife down; the plan ends there."""
        target = self.find(whole, "sliceable")
        knife = self.held if self.label(self.held) in KNIVES else self.find(KNIVES, "pickupable")
        self.get(knife)
        self.open_container(target)  # a potato in a closed microwave is sliced there, door open
        self.add("navigate_to", target=target)
        self.add("slice", target=target)
        self.add("drop")
        self.held = None
        raise _Done

    def receptacle(self, otype: str, contains: int = 0) -> str:
        """The receptacle to put into: one already holding `contains` of our objects, else the
        one the task singles out when memory knows it, else the nearest of the type."""
        for r, objs in self.progress.placed.items():
            if self.label(r) == otype and len(objs) >= contains > 0 and r in self.graph:
                return r
        source = self.request.task.instances.get("parent")
        named = self.graph.object_by_source(source) if source is not None else None
        if named is not None and named.label == otype and self.usable(named):
            self.request.memory.short_term.access([named.node_id])
            return named.node_id
        return self.find(otype, "receptacle")

    # ---------------------------------------------------------------- task types
    def solve(self) -> list[Skill]:
        """Skills to the goal from here (raises `_Missing` to explore)."""
        try:
            getattr(self, "_" + self.request.task.task_type)()
        except _Done:
            pass
        except AttributeError:
            raise ValueError(
                f"the symbolic planner cannot plan task type {self.request.task.task_type!r}"
            ) from None
        return self.skills

    def _placed_of(self, otype: str, recep_type: str) -> list[str]:
        return [
            o
            for r, objs in self.progress.placed.items()
            if self.label(r) == recep_type
            for o in objs
            if self.label(o) == otype
        ]

    def _pick_and_place_simple(self, count: int = 1) -> None:
        otype, rtype = self.targets["object"], self.targets["parent"]
        placed = self._placed_of(otype, rtype)
        if len(placed) >= count:
            self.add("done")
            return
        obj = self.obtain(otype, exclude=placed)
        self._state(obj)
        self.put_into(self.receptacle(rtype, contains=len(placed)))
        if len(placed) + 1 < count:
            raise _Done  # the next object is planned once this one is in
        self.add("done")

    def _pick_two_obj_and_place(self) -> None:
        self._pick_and_place_simple(count=2)

    def _state(self, obj: str) -> None:
        """Heat, cool or clean the held object when the task asks for it."""
        skill = STATE_SKILL.get(self.request.task.task_type)
        if skill is None or obj in self.progress.treated:
            return
        if skill == "clean":
            basin, faucet = self._wash_place()
            self.add("clean", target=obj, receptacle=basin, appliance=faucet)
        else:
            device = self.find(APPLIANCE[skill], "receptacle")
            self.add("navigate_to", target=device)
            self.add(skill, target=obj, appliance=device)

    def _wash_place(self) -> tuple[str, str]:
        """The nearest basin some known faucet pours into (a faucet pours into the basin
        nearest to it), and that faucet; `_Missing` while no such pair is known."""
        basins = [n for n in self.graph.objects() if n.label in BASINS and self.usable(n)]
        if not basins:
            raise _Missing(BASINS[0])
        poured: dict[str, str] = {}  # basin -> the faucet pouring into it
        faucets = [
            n
            for n in self.graph.objects()
            if n.label == "Faucet" and n.attributes.get("toggleable") and self.usable(n)
        ]
        for f in sorted(faucets, key=lambda n: n.node_id):
            into = min(basins, key=lambda b: (math.dist(f.position, b.position), b.node_id))
            poured.setdefault(into.node_id, f.node_id)
        if not poured:
            raise _Missing("Faucet")
        basin = min(
            (b for b in basins if b.node_id in poured),
            key=lambda b: (self.distance(b), b.node_id),
        )
        return basin.node_id, poured[basin.node_id]

    def _pick_heat_then_place_in_recep(self) -> None:
        self._pick_and_place_simple()

    def _pick_cool_then_place_in_recep(self) -> None:
        self._pick_and_place_simple()

    def _pick_clean_then_place_in_recep(self) -> None:
        self._pick_and_place_simple()

    def _look_at_obj_in_light(self) -> None:
        otype, lamp_type = self.targets["object"], self.targets["toggle"]
        self.obtain(otype)
        lamp = self.find(lamp_type, "toggleable")
        self.add("navigate_to", target=lamp)
        if not self.graph.object(lamp).states.get("isToggled"):
            self.add("toggle_on", target=lamp)
        elif self.request.history[-1:] != ((Skill("navigate_to", target=lamp), None),):
            raise _Done  # remembered on: look at it again before trusting that
        self.add("done")

    # ---------------------------------------------------------------- references
    def referenced(self) -> str:
        """The node the task's "object" reference names: from the change log, else a
        remembered object showing the state; once nothing is left to explore, the nearest
        object of the types (a guess); `_Missing` to explore first."""
        ref = self.request.task.references["object"]
        node = changed_object(self.request.memory, ref)
        if node is not None and self.usable(self.graph.object(node)):
            return node
        if not self.progress.frontier_done:
            raise _Missing(ref.types[0])
        return self.find(ref.types, "pickupable")

    def origin(self, obj: str) -> str:
        """Where `obj` stood when the episode began, from the change log; else (a guess) the
        nearest known receptacle of the type it most likely stands in, not the one it is in."""
        node = origin_of(self.request.memory, obj)
        if node is not None and self.usable(self.graph.object(node)):
            return node
        likely = where_likely(self.label(obj) or "")
        ranked = sorted(likely, key=lambda r: (-likely[r], r))
        here = set(self.graph.support_chain(obj))
        for rtype in ranked:
            try:
                return self.find(rtype, "receptacle", exclude=here)
            except _Missing:
                continue
        raise _Missing(ranked[0] if ranked else "CounterTop")

    def _put_referenced(self, obj: str, recep: str) -> None:
        if obj in self.progress.placed.get(recep, ()):
            self.add("done")
            return
        self.get(obj)
        self.put_into(recep)
        self.add("done")

    def _return_object(self) -> None:
        """Put the referenced object back where it stood when the episode began."""
        obj = self.referenced()
        self._put_referenced(obj, self.origin(obj))

    def _place_referenced(self) -> None:
        """Put the referenced object in/on a receptacle of the named type."""
        obj = self.referenced()
        rtype = self.targets["parent"]
        placed = [r for r, objs in self.progress.placed.items() if obj in objs and r in self.graph]
        recep = next((r for r in placed if self.label(r) == rtype), None)
        self._put_referenced(obj, recep or self.receptacle(rtype))

    def _pick_and_place_with_movable_recep(self) -> None:
        """ALFRED's expert order: the object into the movable receptacle where it stands, then
        the receptacle (object inside) onto the parent."""
        otype, mtype, rtype = self.targets["object"], self.targets["mrecep"], self.targets["parent"]
        filled = [
            h
            for h, objs in self.progress.placed.items()
            if self.label(h) == mtype
            and h in self.graph
            and any(self.label(o) == otype for o in objs)
        ]
        if any(h in self._placed_of(mtype, rtype) for h in filled):
            self.add("done")
            return
        if filled:
            holder = filled[-1]
        else:
            obj = self.obtain(otype)
            holder = self.find(mtype, "receptacle", exclude=[obj])
            self.put_into(holder)
        self.get(holder)
        self.put_into(self.receptacle(rtype))
        self.add("done")
